"""What identifies a stored study. A database written by relulab 0.1.0
(tests/legacy/relulab-0.1.0.db, written by tests/legacy/make_legacy_db.py with that code)
resolves, loads and resumes under its ids.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from relulab.data import bundled
from relulab.store import Store
from relulab.study import Study

LEGACY_DIR = Path(__file__).resolve().parent / "legacy"
sys.path.insert(0, str(LEGACY_DIR))

from make_legacy_db import CONFIG, PARTIAL_CONFIG  # noqa: E402

LEGACY_DB = LEGACY_DIR / "relulab-0.1.0.db"


def id_0_1_0(config, data_hash: str) -> str:
    """A study id as relulab 0.1.0 made it (store.study_key at commit 306688a)."""
    return hashlib.sha256(f"{config.key()}:{data_hash}".encode()).hexdigest()[:16]


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    db = tmp_path / "old.db"
    shutil.copyfile(LEGACY_DB, db)
    return db


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
