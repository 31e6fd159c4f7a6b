"""Where results go: every destination is checked before training, and nothing computed is
lost to one that cannot be written.

A results database that is read-only, or lies in a folder that is not writable, is one
line when the store is opened for writing (before any training), and is still read by the
read-only commands; so are a report, JSON or figures destination. Tests run as root here
and may in CI, where permission bits stop nothing, so each case is reached in a way root
cannot bypass: SQLite's own read-only mode (``?mode=ro``, what SQLite falls back to for a
file it may not write), a file where a folder should be and the reverse, and ``os.access``
answering as it does for an ordinary user. One test runs the real thing in a process
without the powers that let root ignore permissions (as itself when not root; else under
``setpriv`` without CAP_DAC_OVERRIDE), so real permission bits are tested wherever it runs.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from test_store import make_config, make_group, make_result, open_study

from relulab.config import preset
from relulab.data import bundled
from relulab.errors import RelulabError
from relulab.store import Store
from relulab.study import InProcessExecutor, Outputs, events, run_study
from relulab.study.outputs import check_outputs, prepare_outputs

CONFIG = preset("seed", activations=("tanh",), seeds=2, epochs=3, test_size=8)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A results database holding one complete study."""
    path = tmp_path / "r.db"
    config = make_config()
    runs = [r for a in config.activations for r in make_group(config, a)]
    with Store(path) as store:
        sid = open_study(store, config)
        for a in config.activations:
            store.save_group(sid, a, [r for r in runs if r.activation == a])
        store.save_analysis(sid, make_result(config, runs))
    return path


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training that fails the test if it starts: the refusals come before it."""
    def run(*args, **kwargs):
        raise AssertionError("training started before the destination was checked")

    monkeypatch.setattr(InProcessExecutor, "run", run)


def sqlite_opens_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite opens every file read-only, as it does by itself (without a word) for a
    file the process may not write."""
    real = sqlite3.connect

    def connect(database, *args, uri: bool = False, **kwargs):
        if not uri:
            database, uri = Path(database).resolve().as_uri() + "?mode=ro", True
        return real(database, *args, uri=uri, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)


def deny_writes(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """``os.access`` answers for ``paths`` as for a user who may not write them."""
    real = os.access
    denied = {Path(p).resolve() for p in paths}

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve() in denied:
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


# -- the results database --------------------------------------------------------------


def test_a_database_sqlite_opens_read_only_is_refused_at_once(db, monkeypatch,
                                                              no_training) -> None:
    sqlite_opens_read_only(monkeypatch)
    with pytest.raises(RelulabError, match=r"cannot write to results database .*r\.db "
                       r"\(attempt to write a readonly database\): SQLite opened it "
                       r"read-only; make the file and its folder writable"):
        Store(db)
    with Store(db, create=False) as store:  # reading needs no writing
        assert store.list_studies().status.tolist() == ["complete"]
        assert len(store.load(1).runs) == 9
    events = []
    with pytest.raises(RelulabError, match="SQLite opened it read-only"):
        run_study(CONFIG, bundled("nile"), outputs=Outputs(db=db),
                  progress=lambda event, info: events.append(event))
    assert events == []


def test_a_read_only_database_file_is_refused_before_training(db, monkeypatch,
                                                               no_training) -> None:
    deny_writes(monkeypatch, db)
    with pytest.raises(RelulabError, match=rf"cannot store results in {db}: {db} is read-only; "
                       r"make it writable, pass another --db PATH, or --no-db"):
        run_study(CONFIG, bundled("nile"), outputs=Outputs(db=db))
    with Store(db, create=False) as store:
        assert len(store.list_studies()) == 1


def test_a_database_in_a_read_only_folder_is_refused_for_writing_and_read(
        db, monkeypatch, no_training) -> None:
    deny_writes(monkeypatch, db.parent)
    with pytest.raises(RelulabError, match=rf"cannot store results in {db}: its folder "
                       rf"{db.parent} is not writable \(SQLite writes r\.db-wal and "
                       r"r\.db-shm beside the database\); make the folder writable"):
        run_study(CONFIG, bundled("nile"), outputs=Outputs(db=db))
    with Store(db, create=False) as store:  # read as the immutable file it is here
        assert store.read_only
        assert store.list_studies().status.tolist() == ["complete"]
        with pytest.raises(RelulabError, match="SQLite opened it read-only"):
            store.save_analysis(1, store.load(1))
    assert not list(db.parent.glob("r.db-*"))  # nothing written beside it either


def test_an_old_database_in_a_read_only_folder_says_it_must_be_upgraded(
        db, monkeypatch) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    deny_writes(monkeypatch, db.parent)
    with pytest.raises(RelulabError, match=r"written by an older relulab \(schema version 2\)"
                       r" and is upgraded to version 3 when opened.* not writable"):
        Store(db, create=False)


@pytest.mark.parametrize("where, problem", [
    ("blocker/r.db", "blocker is a file, not a folder"),
    ("folder.db", "folder.db is a folder, not a file"),
])
def test_a_database_path_that_cannot_hold_one_is_refused(tmp_path, monkeypatch, no_training,
                                                        where, problem) -> None:
    monkeypatch.chdir(tmp_path)
    Path("blocker").write_text("a file where a folder should be")
    Path("folder.db").mkdir()
    with pytest.raises(RelulabError, match=rf"cannot store results in {where}: {problem}; "
                       r"pass another --db PATH, or --no-db"):
        run_study(CONFIG, bundled("nile"), outputs=Outputs(db=where))


# -- the JSON, the report, the figures -----------------------------------------------------


@pytest.mark.parametrize("flag, where, problem", [
    ("json", "blocker/r.json", "blocker is a file, not a folder"),
    ("report", "a-folder", "a-folder is a folder, not a file"),
    ("report", "read-only/r.html", "the folder read-only is not writable"),
    ("figures", "blocker", "blocker is a file, not a folder"),
    ("figures", "read-only/figs", "the folder read-only is not writable"),
])
def test_an_output_that_cannot_be_written_is_refused_before_training(
        tmp_path, monkeypatch, no_training, flag, where, problem) -> None:
    monkeypatch.chdir(tmp_path)
    Path("blocker").write_text("a file where a folder should be")
    Path("a-folder").mkdir()
    Path("read-only").mkdir()
    deny_writes(monkeypatch, Path("read-only"))
    what = {"json": "the JSON", "report": "the report", "figures": "the figures"}[flag]
    with pytest.raises(RelulabError, match=rf"^cannot write {what} to {where}: {problem}; "
                       r"choose another"):
        run_study(CONFIG, bundled("nile"), outputs=Outputs(db="r.db", **{flag: where}))
    assert not Path("r.db").exists()  # refused before anything was stored


def test_missing_folders_are_created_and_listed(tmp_path) -> None:
    outputs = Outputs(db=tmp_path / "db" / "r.db", json=tmp_path / "a" / "b" / "r.json",
                      report=tmp_path / "a" / "r.html", figures=tmp_path / "figs")
    check_outputs(outputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # checking creates nothing
    created = prepare_outputs(outputs)
    assert created == [tmp_path / "db", tmp_path / "a", tmp_path / "a" / "b",
                       tmp_path / "figs"]
    assert all(p.is_dir() for p in created)
    assert prepare_outputs(outputs) == []


# -- after training: what was computed is kept ---------------------------------------------


def _break_folder(folder: Path):
    """A progress callback that, once training is done, puts a file where ``folder`` was:
    the destination checked before training can no longer be written."""
    def progress(event) -> None:
        if isinstance(event, events.Analysing):
            shutil.rmtree(folder)
            folder.write_text("no longer a folder")
    return progress


def test_a_report_that_fails_after_training_keeps_the_study_stored(tmp_path) -> None:
    reports = tmp_path / "reports"
    outputs = Outputs(db=tmp_path / "r.db", report=reports / "r.html",
                      json=tmp_path / "r.json")
    with pytest.raises(RelulabError) as caught:
        run_study(CONFIG, bundled("nile"), outputs=outputs, progress=_break_folder(reports))
    message = str(caught.value)
    assert message.startswith(f"cannot write the report to {reports / 'r.html'} (")
    with Store(tmp_path / "r.db", create=False) as store:
        (study_id,) = store.list_studies().id
        assert store.status(study_id) == "complete"
    assert (f"the results are stored in {tmp_path / 'r.db'} as study {study_id} "
            f"(relulab report {study_id} --db {tmp_path / 'r.db'} writes") in message
    assert f"the JSON was written to {tmp_path / 'r.json'}" in message
    assert json.loads((tmp_path / "r.json").read_text())["study_id"] == study_id


def test_without_a_database_a_failed_report_leaves_the_result_in_a_json(
        tmp_path, monkeypatch) -> None:
    spare = tmp_path / "tmp"
    spare.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    reports = tmp_path / "reports"
    with pytest.raises(RelulabError, match=r"cannot write the report .*; choose another "
                       r"path; the result is saved as JSON in (\S+)$") as caught:
        run_study(CONFIG, bundled("nile"), outputs=Outputs(db=None, report=reports / "r.html"),
                  progress=_break_folder(reports))
    (saved,) = spare.glob("relulab-result-*.json")
    assert str(caught.value).endswith(f"in {saved}")
    doc = json.loads(saved.read_text())
    assert [r["activation"] for r in doc["runs"]] == ["tanh", "tanh"]


# -- real permissions, where root's powers do not apply --------------------------------------

PROBE = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from relulab.errors import RelulabError
    from relulab.store import Store
    from relulab.study.outputs import Outputs, check_outputs

    d = Path(sys.argv[1])
    out = {}
    try:
        open(d / "ro.db", "a").close()
        out["enforced"] = False
    except PermissionError:
        out["enforced"] = True

    def attempt(name, do):
        try:
            out[name] = do()
        except RelulabError as exc:
            out[name] = f"error: {exc}"

    def read(path):
        with Store(path, create=False) as store:
            return store.list_studies().status.tolist()

    attempt("write_ro_file", lambda: Store(d / "ro.db").close())
    attempt("write_ro_folder", lambda: Store(d / "ro" / "r.db").close())
    attempt("read_ro_file", lambda: read(d / "ro.db"))
    attempt("read_ro_folder", lambda: read(d / "ro" / "r.db"))
    attempt("report_ro_folder", lambda: check_outputs(Outputs(db=None, report=d / "ro" / "x.html")))
    print(json.dumps(out))
''')


def _without_root_powers() -> list[str]:
    """A command prefix under which permission bits hold: none for an ordinary user; for
    root, ``setpriv`` without the capabilities that override them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: permission bits cannot be enforced here")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_real_permissions(db: Path, tmp_path: Path) -> None:
    prefix = _without_root_powers()
    shutil.copyfile(db, tmp_path / "ro.db")
    (tmp_path / "ro").mkdir()
    shutil.copyfile(db, tmp_path / "ro" / "r.db")
    (tmp_path / "ro.db").chmod(0o444)
    (tmp_path / "ro").chmod(0o555)
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    try:
        proc = subprocess.run([*prefix, sys.executable, str(script), str(tmp_path)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    finally:
        (tmp_path / "ro").chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out.pop("enforced") is True
    d = tmp_path
    assert out == {
        "write_ro_file": f"error: cannot store results in {d}/ro.db: {d}/ro.db is read-only; "
                         "make it writable, pass another --db PATH, or --no-db to keep "
                         "nothing on disk",
        "write_ro_folder": f"error: cannot store results in {d}/ro/r.db: its folder {d}/ro "
                           "is not writable (SQLite writes r.db-wal and r.db-shm beside the "
                           "database); make the folder writable, pass another --db PATH, or "
                           "--no-db to keep nothing on disk",
        "read_ro_file": ["complete"],
        "read_ro_folder": ["complete"],
        "report_ro_folder": f"error: cannot write the report to {d}/ro/x.html: the folder "
                            f"{d}/ro is not writable; choose another path",
    }
