"""What identifies a stored study: its config, its data and its series' name.

Two series with the same values under different names (two identical columns of a panel,
copies of one file) are two studies, and names that look like paths ("a/b",
"../evil/name") or are not ASCII ("Zürich 🏨") name nothing on disk. A database written by
relulab 0.1.0, whose study ids named only the config and the data
(tests/legacy/relulab-0.1.0.db, written by tests/legacy/make_legacy_db.py with that code),
still resolves, loads and resumes under its old ids.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from relulab.data import Series, bundled, load_panel
from relulab.store import Store, study_key
from relulab.study import Outputs, Study, run_panel, run_panel_study, write_outputs

LEGACY_DIR = Path(__file__).resolve().parent / "legacy"
sys.path.insert(0, str(LEGACY_DIR))

from make_legacy_db import CONFIG, PANEL_NAMES, PARTIAL_CONFIG, panel_frame  # noqa: E402

LEGACY_DB = LEGACY_DIR / "relulab-0.1.0.db"
AB, ZURICH, EVIL = PANEL_NAMES

# Glyphs missing from matplotlib's font ("🏨") are a matter of the figures, not of identity.
pytestmark = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


def id_0_1_0(config, data_hash: str) -> str:
    """A study id as relulab 0.1.0 made it (store.study_key at commit 306688a)."""
    return hashlib.sha256(f"{config.key()}:{data_hash}".encode()).hexdigest()[:16]


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copyfile(LEGACY_DB, db)
    return db


def _panel():
    return load_panel(panel_frame())


# -- a series' name is part of its study's identity --------------------------------------


def test_identical_columns_of_a_panel_are_studies_of_their_own(tmp_path: Path) -> None:
    """Three series, two with the same values: three studies. Their odd names become no
    file or folder name (figures and reports have fixed names, inside the folders asked
    for), and the pages show them as written, escaped."""
    panel = _panel()
    assert np.array_equal(panel[AB].values, panel[ZURICH].values)
    work = tmp_path / "work"
    work.mkdir()
    outputs = Outputs(db=work / "r.db", report=work / "panel.html", figures=work / "figs",
                      json=work / "panel.json")
    result, written = run_panel_study(CONFIG, panel, outputs=outputs)
    with Store(work / "r.db", create=False) as store:
        listed = store.list_studies()
        loaded = {sid: store.load(s.study_id) for sid, s in result.series.items()}
    ids = {sid: s.study_id for sid, s in result.series.items()}
    assert len(set(ids.values())) == 3 and len(listed) == 3  # 0.1.0 stored 2
    assert sorted(listed.series) == sorted(PANEL_NAMES)
    for name in PANEL_NAMES:
        assert ids[name] == study_key(CONFIG, panel[name].content_hash(), name)
        assert loaded[name].series_name == name
    # The same values and the same training: only the name tells the two apart.
    for a, b in zip(loaded[AB].runs, loaded[ZURICH].runs, strict=True):
        np.testing.assert_array_equal(a.forecast, b.forecast)

    again = write_outputs(loaded[EVIL], Outputs(db=work / "r.db",
                                                report=work / "one" / "r.html",
                                                figures=work / "one" / "figs"))
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert not [p for p in made if "evil" in p or "Zürich" in p or p.endswith("/b")], made
    assert {p.name for p in written.figures} == {"critical_difference.png",
                                                 "spread_forecasts.png"}
    assert all(p.parent == work / "figs" for p in written.figures)
    assert all(p.parent == work / "one" / "figs" for p in again.figures)
    assert again.folders == [work / "one", work / "one" / "figs"]
    page = written.report.read_text(encoding="utf-8")
    for name in PANEL_NAMES:
        assert f'data-v="{name}">{name}</td>' in page
    assert "“../evil/name”" in again.report.read_text(encoding="utf-8")


def test_the_same_series_elsewhere_is_the_same_study_and_another_name_is_not() -> None:
    nile = bundled("nile")
    h = nile.content_hash()
    copy = Series(nile.values, nile.name, nile.dates, source="/elsewhere/nile.csv")
    assert copy.content_hash() == h  # where it lies is not what it is
    keys = {name: study_key(CONFIG, h, name) for name in ("nile", *PANEL_NAMES)}
    assert len(set(keys.values())) == len(keys)
    assert study_key(CONFIG.replace(name="a label", data="x.csv"), h, "nile") == keys["nile"]


# -- a database written by relulab 0.1.0 -------------------------------------------------


def test_old_ids_still_resolve_and_load(legacy: Path) -> None:
    nile = bundled("nile")
    old = id_0_1_0(CONFIG, nile.content_hash())
    with Store(legacy, create=False) as store:
        listed = store.list_studies()
        assert listed.id.tolist()[0] == old
        result = store.load(old[:6])
    assert result.study_id == old and result.series_name == "nile"
    assert result.config == CONFIG and len(result.runs) == 4
    np.testing.assert_array_equal(result.values, nile.values)


def test_an_old_complete_study_is_found_again_and_an_old_partial_one_resumes(
        legacy: Path) -> None:
    nile = bundled("nile")
    complete = id_0_1_0(CONFIG, nile.content_hash())
    partial = id_0_1_0(PARTIAL_CONFIG, nile.content_hash())
    with Store(legacy) as store:
        assert store.completed_activations(partial) == {"tanh"}
        kept = store.load_runs(partial)
        again = Study(CONFIG).run(store=store)
        resumed = Study(PARTIAL_CONFIG).run(store=store)
        assert store.status(partial) == "complete"
        assert len(store.list_studies()) == 4  # nothing new
        after = store.load_runs(partial)
    assert again.study_id == complete and again.timing["groups_trained"] == 0
    assert resumed.study_id == partial and resumed.timing["groups_trained"] == 2
    assert resumed.timing["groups_cached"] == 1
    before = [r for r in after if r.activation == "tanh"]
    for a, b in zip(kept, before, strict=True):  # the stored group, as it was stored
        np.testing.assert_array_equal(a.forecast, b.forecast)
        np.testing.assert_array_equal(a.loss, b.loss)


def test_an_old_study_shared_by_two_series_now_serves_one(legacy: Path) -> None:
    """0.1.0 stored "a/b" and "Zürich 🏨" (same values) as one study, named "a/b": a rerun
    keeps it for "a/b" and gives "Zürich 🏨" a study of its own."""
    panel = _panel()
    old = {name: id_0_1_0(CONFIG, panel[name].content_hash()) for name in PANEL_NAMES}
    assert old[AB] == old[ZURICH]
    with Store(legacy) as store:
        before = set(store.list_studies().id)
        assert {old[AB], old[EVIL]} <= before
        result = run_panel(CONFIG, panel, store=store)
        listed = store.list_studies().set_index("id")
    got = {sid: s.study_id for sid, s in result.series.items()}
    assert got[AB] == old[AB] and got[EVIL] == old[EVIL]
    assert got[ZURICH] not in before
    assert got[ZURICH] == study_key(CONFIG, panel[ZURICH].content_hash(), ZURICH)
    assert listed.loc[got[ZURICH], "series"] == ZURICH
    assert listed.loc[got[AB], "series"] == AB
    trained = {sid: s.timing["groups_trained"] for sid, s in result.series.items()}
    assert trained == {AB: 0.0, ZURICH: 2.0, EVIL: 0.0}
