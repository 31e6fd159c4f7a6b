"""The results store, against hand-built runs and results (no study engine involved).

The reference for every round trip is the object written, built here by hand; the raw
checks open the file with sqlite3 directly rather than through the store.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relulab.store as store_mod
from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.result import (
    METRIC_COLUMNS,
    Comparison,
    DeadUnits,
    Diagnostics,
    FlatRun,
    RunRecord,
    StudyResult,
)
from relulab.store import SCHEMA_VERSION, Store, study_key

ACTS = ("tanh", "relu", "elu")
EPOCHS = 7
TEST = 4
N_VAL = 3


def make_config(**changes) -> StudyConfig:
    base = dict(activations=ACTS, seeds=3, seed_offset=10, epochs=EPOCHS, test_size=TEST,
                name="unit")
    return StudyConfig(**{**base, **changes})


def make_run(activation: str, seed: int, *, diverged: bool = False) -> RunRecord:
    rng = np.random.default_rng([zlib.crc32(activation.encode()), seed])
    metrics = {m: float(rng.random()) for m in METRIC_COLUMNS}
    val_metrics = {m: float(rng.random()) for m in METRIC_COLUMNS}
    metrics["mase"] = float("inf")  # a zero in-sample MAE makes MASE infinite
    val_metrics["mda"] = float("nan")
    forecast = rng.normal(size=TEST)
    loss = rng.random(EPOCHS)
    val_loss = rng.random(EPOCHS)
    val_loss[0] = np.nan
    if diverged:
        metrics = dict.fromkeys(METRIC_COLUMNS, float("nan"))
        forecast = np.full(TEST, np.nan)
        loss[3:] = np.inf
    return RunRecord(
        activation=activation, seed=seed, diverged=diverged, metrics=metrics,
        val_metrics=val_metrics, forecast=forecast, val_forecast=rng.normal(size=N_VAL),
        loss=loss, val_loss=val_loss, best_epoch=int(rng.integers(EPOCHS)),
        epoch_stats={"dead_units": rng.integers(0, 4, size=(EPOCHS, 2)),
                     "grad_norm": np.r_[rng.random(EPOCHS - 1), np.nan]},
    )


def make_group(config: StudyConfig, activation: str) -> list[RunRecord]:
    return [make_run(activation, s, diverged=(activation == "relu" and s == config.seed_offset))
            for s in config.seed_list]


SERIES = np.r_[np.linspace(10.0, 30.0, 19), np.nan, 0.1 + 0.2]
DATES = [f"2020-01-{d:02d}" for d in range(1, 22)]


def open_study(store: Store, config: StudyConfig, data_hash: str = "abc123") -> str:
    return store.open_study(config, series_name="hotel <H1>", values=SERIES, dates=DATES,
                            data_hash=data_hash, train_end=13, test_start=17)


def make_result(config: StudyConfig, runs: list[RunRecord]) -> StudyResult:
    summary = pd.DataFrame({
        "activation": ["tanh", "tanh", "relu"], "metric": ["rmse", "mase", "rmse"],
        "median": [1.5, np.inf, np.nan], "lo": [1.0, 2.0, np.nan], "hi": [2.0, np.inf, 3.0],
        "n": [3, 3, 2],
    })
    comparisons = [
        Comparison("relu", "tanh", "rmse", 0.12, -0.05, 0.3, 1.7, 0.09, 1.1, 0.9,
                   "no clear difference", n_pairs=3, vol_rel_lo=-0.1, vol_rel_hi=0.4,
                   accuracy="no_difference", volatility="similar",
                   seed_interval="includes_zero", p_adjusted=0.18, correction="holm",
                   n_comparisons=2, equivalence_margin=0.02, equivalence_p=0.41,
                   equivalence_p_adjusted=0.82, prob_improvement=0.5,
                   prob_improvement_low=0.0, prob_improvement_high=1.0,
                   seeds_needed={"0.01": 900, "0.02": 226, "0.05": None},
                   decision="undecided"),
        Comparison("elu", "tanh", "rmse", np.nan, np.nan, np.nan, np.nan, np.nan, 1.0, 0.9,
                   "too few runs to tell", n_pairs=1, accuracy="too_few",
                   volatility="not_comparable", seed_interval="unknown"),
    ]
    diagnostics = Diagnostics(
        dead_share={"tanh": {10: 0.0, 11: 0.5}, "relu": {11: 1.0, 12: np.nan}},
        flat_runs=[FlatRun("relu", 11, "all_units_dead", 0.01, 1.0),
                   FlatRun("elu", 12, "nearly_constant", 0.02, np.nan)],
        dead_units={"relu": DeadUnits("relu", 2, 1, 0.5, 1.0, True)},
        any_dead=True,
    )
    baselines = {
        "naive": {"metrics": {"rmse": 2.5, "mase": 1.0}, "forecast": np.arange(TEST, dtype=float)},
        "arima": {"metrics": {"rmse": np.nan, "mase": np.nan},
                  "forecast": np.full(TEST, np.nan), "order": [1, 0, 0]},
    }
    return StudyResult(
        config=config, series_name="hotel <H1>", values=SERIES, dates=DATES,
        data_hash="abc123", train_end=13, test_start=17, runs=runs, summary=summary,
        comparisons=comparisons, baselines=baselines,
        timing={"wall_s": 1.25, "compile_s": np.float64(0.5), "model_steps_per_s": np.inf},
        warnings=["relu: 1 of 3 runs diverged"], diagnostics=diagnostics,
    )


def assert_same_value(a, b) -> None:
    """Equal, with NaN equal to NaN, arrays compared elementwise, and matching types."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            assert_same_value(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_value(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b)
    else:
        assert a == b, (a, b)
        if not isinstance(a, float):  # a float may come back as another float type
            assert type(a) is type(b), (a, b)


def assert_runs_equal(got: list[RunRecord], want: list[RunRecord]) -> None:
    assert [(r.activation, r.seed) for r in got] == [(r.activation, r.seed) for r in want]
    for g, w in zip(got, want, strict=True):
        assert g.diverged is w.diverged and g.best_epoch == w.best_epoch
        assert_same_value(g.metrics, w.metrics)
        assert_same_value(g.val_metrics, w.val_metrics)
        for name in ("forecast", "val_forecast", "loss", "val_loss"):
            assert_same_value(getattr(g, name), getattr(w, name))
        assert_same_value(g.epoch_stats, w.epoch_stats)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


# -- round trips ------------------------------------------------------------------------


def test_study_result_round_trips_exactly(db: Path) -> None:
    config = make_config()
    runs = [r for a in ACTS for r in make_group(config, a)]
    want = make_result(config, runs)
    with Store(db) as store:
        sid = open_study(store, config)
        for a in ACTS:
            assert store.save_group(sid, a, [r for r in runs if r.activation == a])
        store.save_analysis(sid, want)
    with Store(db) as store:
        got = store.load(sid)
    assert got.study_id == sid == study_key(config, "abc123", "hotel <H1>")
    assert got.config == config and got.config.name == "unit"
    assert (got.series_name, got.data_hash, got.train_end, got.test_start) == (
        "hotel <H1>", "abc123", 13, 17)
    assert_same_value(got.values, SERIES)
    assert got.dates == DATES
    assert_runs_equal(got.runs, runs)
    pd.testing.assert_frame_equal(got.summary, want.summary)
    assert len(got.comparisons) == 2
    for g, w in zip(got.comparisons, want.comparisons, strict=True):
        assert_same_value(vars(g), vars(w))
    assert_same_value(got.baselines, want.baselines)
    assert_same_value(got.timing, {k: float(v) for k, v in want.timing.items()})
    assert got.warnings == want.warnings
    assert_same_value(got.diagnostics.to_json(), want.diagnostics.to_json())
    assert got.diagnostics.flat_runs[0] == want.diagnostics.flat_runs[0]
    assert np.isnan(got.diagnostics.dead_share["relu"][12])
    # The JSON export of the rebuilt result is the export of the original.
    assert got.relulab_version == store_mod.__version__  # the version that stored it
    want.study_id, want.relulab_version = sid, store_mod.__version__
    assert json.dumps(got.to_json()) == json.dumps(want.to_json())


def test_floats_keep_every_bit(db: Path) -> None:
    tricky = np.array([0.1 + 0.2, -0.0, 5e-324, 1.7976931348623157e308, np.inf, -np.inf, np.nan])
    config = make_config(activations=("tanh",), seeds=1, seed_offset=0)
    run = make_run("tanh", 0)
    single = np.array([0.1, np.nan, -np.inf, 3.0], dtype=np.float32)  # an engine in float32
    run.forecast, run.loss = tricky.copy(), single
    run.metrics = dict(zip(METRIC_COLUMNS, tricky.tolist(), strict=True))
    with Store(db) as store:
        sid = open_study(store, config)
        store.save_group(sid, "tanh", [run])
        (got,) = store.load_runs(sid)
    assert got.forecast.tobytes() == tricky.tobytes()  # -0.0 and the NaN payload included
    assert got.loss.dtype == np.float64
    np.testing.assert_array_equal(got.loss, single.astype(np.float64))
    assert got.metrics["rmse"] == 0.1 + 0.2 and np.signbit(got.metrics["mae"])
    assert got.metrics["mfe"] == 5e-324 and got.metrics["mda"] == 1.7976931348623157e308
    assert got.metrics["mda_naive"] == np.inf and got.metrics["mase"] == -np.inf
    assert np.isnan(got.metrics["vol_ratio"])


def test_file_layout_is_plain_sqlite(db: Path) -> None:
    """Other tools can read the file: float64 blobs and strict JSON, checked with sqlite3."""
    config = make_config()
    with Store(db) as store:
        sid = open_study(store, config)
        store.save_group(sid, "relu", make_group(config, "relu"))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    key, cfg, version = conn.execute(
        "SELECT key, config, relulab_version FROM studies").fetchone()
    assert key == sid and json.loads(cfg)["activations"] == list(ACTS)
    assert version == store_mod.__version__
    seed, forecast, metrics = conn.execute(
        "SELECT seed, forecast, metrics FROM runs ORDER BY seed LIMIT 1").fetchone()
    assert seed == 10 and len(forecast) == 8 * TEST

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    # The diverged run: NaN metrics are stored as tagged strings, not bare NaN tokens.
    assert json.loads(metrics, parse_constant=no_constants)["rmse"] == {"$f": "nan"}
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO runs SELECT * FROM runs LIMIT 1")
    conn.close()


# -- groups: idempotence, atomicity, resume ----------------------------------------------


def count_runs(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    finally:
        conn.close()


def test_save_group_again_writes_nothing(db: Path) -> None:
    config = make_config()
    first = make_group(config, "tanh")
    with Store(db) as store:
        sid = open_study(store, config)
        assert store.save_group(sid, "tanh", first) is True
        changed = make_group(config, "tanh")
        changed[0].best_epoch = 99
        assert store.save_group(sid, "tanh", changed) is False
        assert count_runs(db) == 3
        assert_runs_equal(store.load_runs(sid), first)  # the first write wins


def test_save_group_insists_on_whole_groups(db: Path) -> None:
    config = make_config()
    group = make_group(config, "tanh")
    with Store(db) as store:
        sid = open_study(store, config)
        with pytest.raises(ValueError, match="seeds"):
            store.save_group(sid, "tanh", group[:2])
        with pytest.raises(ValueError, match="seeds"):
            store.save_group(sid, "tanh", [*group[:2], group[1]])
        with pytest.raises(ValueError, match="not in"):
            store.save_group(sid, "gelu", [make_run("gelu", s) for s in config.seed_list])
        with pytest.raises(ValueError, match="another activation"):
            store.save_group(sid, "relu", group)
    assert count_runs(db) == 0


def test_failure_inside_save_group_leaves_nothing(db: Path) -> None:
    config = make_config()
    group = make_group(config, "elu")
    group[2].metrics = {"rmse": object()}  # the third insert fails, after two succeeded
    with Store(db) as store:
        sid = open_study(store, config)
        with pytest.raises(TypeError):
            store.save_group(sid, "elu", group)
        assert store.completed_activations(sid) == set()
        assert store.load_runs(sid) == []
        assert count_runs(db) == 0
        # The connection is usable again, and the group can be written whole.
        assert store.save_group(sid, "elu", make_group(config, "elu"))
        assert store.completed_activations(sid) == {"elu"}


def test_rerun_finds_the_study_and_what_is_left(db: Path) -> None:
    config = make_config()
    with Store(db) as store:
        sid = open_study(store, config)
        store.save_group(sid, "relu", make_group(config, "relu"))
        store.save_group(sid, "tanh", make_group(config, "tanh"))
    # A new process: same config (the label is not part of the key) and same data.
    with Store(db) as store:
        assert open_study(store, config.replace(name="renamed")) == sid
        assert store.completed_activations(sid) == {"relu", "tanh"}
        assert store.status(sid) == "running"
        with pytest.raises(RelulabError, match=r"not complete \(2 of 3.*rerun"):
            store.load(sid)
        store.save_group(sid, "elu", make_group(config, "elu"))
        store.save_analysis(sid, make_result(config, store.load_runs(sid)))
        assert store.status(sid) == "complete"
        assert store.load(sid).study_id == sid
        # Other data or another config is another study.
        assert open_study(store, config, data_hash="other") != sid
        assert open_study(store, config.replace(epochs=8)) != sid
        assert len(store.list_studies()) == 3


def test_list_studies_and_resolve(db: Path) -> None:
    config = make_config()
    with Store(db) as store:
        a = open_study(store, config)
        store.save_group(a, "tanh", make_group(config, "tanh"))
        b = open_study(store, config, data_hash="other")
        frame = store.list_studies()
        assert list(frame["id"]) == [a, b] and list(frame["n"]) == [1, 2]
        assert frame.iloc[0][["name", "series", "seeds", "status", "runs", "runs_total"]] \
            .tolist() == ["unit", "hotel <H1>", 3, "running", 3, 9]
        assert frame.iloc[0]["activations"] == list(ACTS)
        assert store.resolve(a) == a and store.resolve(a[:6].upper()) == a
        assert store.resolve(2) == store.resolve("2") == store.resolve("#2") == b
        for ref in ("zz", "", "12345678901234567"):
            with pytest.raises(RelulabError, match=f"no study '{ref}'"):
                store.resolve(ref)
        for ref in (3, "3", "#3", "#x"):
            with pytest.raises(RelulabError, match="no study #"):
                store.resolve(ref)
        with pytest.raises(RelulabError, match="no study"):
            store.load("999")


def test_resolve_reports_ambiguity(db: Path) -> None:
    with Store(db) as store:
        keys = [open_study(store, make_config(), data_hash=str(i)) for i in range(40)]
    # Among 40 keys, some letter a-f starts two of them (the keys are deterministic).
    letter = max("abcdef", key=lambda c: sum(k.startswith(c) for k in keys))
    assert sum(k.startswith(letter) for k in keys) > 1
    with Store(db) as store, pytest.raises(RelulabError, match=f"'{letter}' is ambiguous"):
        store.resolve(letter)


# -- refusing what it cannot read ------------------------------------------------------


def test_refuses_a_newer_schema(db: Path) -> None:
    Store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RelulabError, match=rf"{db.name} was written by a newer relulab.*upgrade"):
        Store(db)


def test_refuses_an_sqlite_file_that_is_not_relulab(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE runs (x)")
    conn.commit()
    conn.close()
    with pytest.raises(RelulabError, match=rf"{db.name} is an SQLite database but not a relulab"):
        Store(db)
    conn = sqlite3.connect(db)  # untouched
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("runs",)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def test_refuses_a_file_that_is_not_sqlite(db: Path) -> None:
    db.write_text("activation,seed,rmse\ntanh,0,1.5\n")
    with pytest.raises(RelulabError, match=rf"{db.name} is not a relulab .*not an SQLite file"):
        Store(db)
    assert db.read_text() == "activation,seed,rmse\ntanh,0,1.5\n"


def test_missing_file_is_refused_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(RelulabError, match=r"no results database at .*missing\.db"):
        Store(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(RelulabError, match=r"dir\.db: the folder .*no does not exist; create"):
        Store(tmp_path / "no" / "such" / "dir.db")
    assert not (tmp_path / "no").exists()


# -- migration ------------------------------------------------------------------------


def _add_notes(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE studies ADD COLUMN notes TEXT NOT NULL DEFAULT ''")


def test_an_older_schema_is_migrated(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config()
    with Store(db) as store:  # a file at today's version ...
        sid = open_study(store, config)
        store.save_group(sid, "tanh", make_group(config, "tanh"))
    # ... opened by a relulab whose schema has a version more, reached by one migration.
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(store_mod.MIGRATIONS, SCHEMA_VERSION, _add_notes)
    monkeypatch.setattr(store_mod, "__version__", "9.9.9")
    with Store(db) as store:
        assert_runs_equal(store.load_runs(sid), make_group(config, "tanh"))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT notes FROM studies").fetchall() == [("",)]
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    assert meta["migrated_by"] == "9.9.9" and meta["created_by"] != "9.9.9"
    conn.close()
    with Store(db):  # opening again migrates nothing
        pass


def _as_schema_v1(db: Path) -> None:
    """Turn a file into what relulab wrote at schema version 1: no diagnostics column, no
    per-unit statistics, and comparisons without the verdict's parts."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("ALTER TABLE analysis DROP COLUMN diagnostics")
    conn.execute("ALTER TABLE runs DROP COLUMN unit_stats")
    for study_id, text in conn.execute("SELECT study_id, comparisons FROM analysis").fetchall():
        parts = ("n_pairs", "vol_rel_lo", "vol_rel_hi", "accuracy", "volatility",
                 "seed_interval")
        old = [{k: v for k, v in c.items() if k not in parts} for c in json.loads(text)]
        conn.execute("UPDATE analysis SET comparisons = ? WHERE study_id = ?",
                     (json.dumps(old), study_id))
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_a_study_analysed_under_schema_v1_loads_with_its_diagnostics(db: Path) -> None:
    config = make_config()
    runs = [r for a in ACTS for r in make_group(config, a)]
    dead = np.r_[np.zeros(2), np.ones(EPOCHS - 2)]  # every unit dead from the third epoch
    for r in runs:
        r.epoch_stats = {"dead_fraction": dead if (r.activation, r.seed) == ("elu", 11)
                         else np.zeros(EPOCHS)}
    runs[-2].best_epoch = EPOCHS - 1  # elu, seed 11: kept at the last epoch, all dead
    want = make_result(config, runs)
    with Store(db) as store:
        # A finite test region: the comparisons are recomputed from it on load.
        sid = store.open_study(config, series_name="clean", values=np.linspace(1, 3, 21),
                               dates=None, data_hash="v1", train_end=13, test_start=17)
        for a in ACTS:
            store.save_group(sid, a, [r for r in runs if r.activation == a])
        store.save_analysis(sid, want)
    _as_schema_v1(db)
    with Store(db) as store:
        got = store.load(sid)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert conn.execute("SELECT diagnostics FROM analysis").fetchone() == (None,)
    conn.close()
    d = got.diagnostics
    assert [(f.activation, f.seed, f.reason) for f in d.flat_runs] == [
        ("elu", 11, "all_units_dead")]
    assert d.any_dead is True and set(d.dead_units) == set(ACTS)
    assert (d.dead_units["elu"].seeds, d.dead_units["elu"].seeds_with_dead) == (3, 1)
    assert d.dead_units["elu"].max_share == 1.0 and not d.dead_units["tanh"].ever_dead
    assert d.dead_units["relu"].seeds == 2  # its diverged seed is left out
    relu, elu = got.comparisons
    # The stored numbers and sentences stay; the parts come from the runs: relu has two
    # converged seeds (one diverged), too few to judge; elu has three.
    assert (relu.rel_diff, relu.verdict) == (0.12, "no clear difference")
    assert (relu.n_pairs, relu.accuracy, relu.volatility) == (2, "too_few", "not_comparable")
    assert elu.n_pairs == 3 and elu.accuracy != "" and elu.seed_interval != ""
    assert elu.verdict == "too few runs to tell"


def test_a_failed_migration_leaves_the_old_file(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(db).close()

    def broken(conn: sqlite3.Connection) -> None:
        _add_notes(conn)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(store_mod.MIGRATIONS, SCHEMA_VERSION, broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        Store(db)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = [r[1] for r in conn.execute("PRAGMA table_info(studies)")]
    assert "notes" not in columns
    conn.close()


# -- concurrency --------------------------------------------------------------------------


def test_readers_see_whole_groups_while_a_writer_is_mid_group(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config()
    with Store(db) as store:
        sid = open_study(store, config)
        store.save_group(sid, "tanh", make_group(config, "tanh"))

    inside, release = threading.Event(), threading.Event()
    real_run_row = store_mod._run_row

    def slow_run_row(run):
        if run.activation == "relu" and run.seed == config.seed_list[1]:
            inside.set()  # one relu row is inserted, uncommitted
            release.wait(10)
        return real_run_row(run)

    monkeypatch.setattr(store_mod, "_run_row", slow_run_row)
    errors: list[BaseException] = []

    def save(activation: str) -> None:
        try:
            with Store(db) as writer:
                writer.save_group(sid, activation, make_group(config, activation))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    first = threading.Thread(target=save, args=("relu",))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=save, args=("elu",))  # queues for the write lock
    second.start()
    with Store(db) as reader:
        assert reader.completed_activations(sid) == {"tanh"}
        assert {r.activation for r in reader.load_runs(sid)} == {"tanh"}
        assert reader.list_studies()["runs"].tolist() == [3]
        time.sleep(0.2)
        assert second.is_alive()
        release.set()
        first.join(10)
        second.join(10)
        assert not errors
        assert reader.completed_activations(sid) == set(ACTS)
    assert count_runs(db) == 9


# -- a real SIGKILL ---------------------------------------------------------------------

WRITER = textwrap.dedent('''
    """Writes activation groups in a loop into a store; prints each committed group."""
    import os, signal, sys, time, zlib
    import numpy as np
    import relulab.store as store_mod
    from relulab.config import StudyConfig
    from relulab.result import RunRecord
    from relulab.store import Store

    ACTS = tuple(f"act{i:02d}" for i in range(30))
    config = StudyConfig(activations=ACTS, seeds=8, epochs=3000, test_size=15)
    kill_at = int(os.environ.get("KILL_AT_ROW", "0"))
    pause = float(os.environ.get("GROUP_PAUSE", "0"))  # stands for a group's training time
    real_run_row, rows = store_mod._run_row, [0]

    def counting_run_row(run):
        rows[0] += 1
        if rows[0] == kill_at:  # die inside the transaction, rows already inserted
            os.kill(os.getpid(), signal.SIGKILL)
        return real_run_row(run)

    store_mod._run_row = counting_run_row

    def make_run(act, seed):
        rng = np.random.default_rng([zlib.crc32(act.encode()), seed])
        loss = rng.random(3000)
        val_loss = np.where(rng.random(3000) < 0.1, np.nan, rng.random(3000))
        diverged = bool(rng.random() < 0.2)
        metrics = {"rmse": float("nan") if diverged else float(rng.random()),
                   "mase": float(rng.random())}
        return RunRecord(act, seed, diverged, metrics, {"rmse": float(rng.random())},
                         rng.normal(size=15), rng.normal(size=10), loss, val_loss,
                         int(rng.integers(3000)),
                         {"dead": rng.integers(0, 4, (3000, 2), dtype=np.int8)})

    with Store(sys.argv[1]) as store:
        sid = store.open_study(config, series_name="synthetic", values=np.arange(120.0),
                               dates=None, data_hash="0" * 16, train_end=80, test_start=105)
        done = store.completed_activations(sid)
        for act in ACTS:
            if act not in done:
                store.save_group(sid, act, [make_run(act, s) for s in config.seed_list])
                print(act, flush=True)
                time.sleep(pause)
''')


def start_writer(script: Path, db: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, **env})


def check_whole_groups(db: Path, committed: list[str]) -> set[str]:
    """Only whole groups, no duplicates, and every group reported committed is there."""
    conn = sqlite3.connect(db)
    try:
        counts = dict(conn.execute(
            "SELECT activation, count(*) FROM runs GROUP BY activation").fetchall())
        dupes = conn.execute("SELECT count(*) FROM (SELECT 1 FROM runs"
                             " GROUP BY study_id, activation, seed HAVING count(*) > 1)")
        assert dupes.fetchone()[0] == 0
    finally:
        conn.close()
    assert set(counts.values()) <= {8}, counts
    assert set(committed) <= set(counts)
    with Store(db) as store:
        (sid,) = store.list_studies()["id"]
        assert store.completed_activations(sid) == set(counts)
    return set(counts)


def load_all(db: Path) -> list[RunRecord]:
    with Store(db) as store:
        (sid,) = store.list_studies()["id"]
        return store.load_runs(sid)


@pytest.fixture(scope="module")
def writer_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RunRecord]]:
    tmp = tmp_path_factory.mktemp("sigkill")
    script = tmp / "writer.py"
    script.write_text(WRITER)
    ref = tmp / "reference.db"
    assert start_writer(script, ref).wait(120) == 0
    return script, load_all(ref)


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(writer_reference, tmp_path: Path) -> None:
    script, reference = writer_reference
    db = tmp_path / "killed.db"
    rng = random.Random()
    delays = []
    for _ in range(3):
        # Each group takes >= 10 ms (the pause, standing in for training) plus its write, so
        # a round killed within 0.1 s leaves most of the 30 groups for the next one whatever
        # the machine's load.
        proc = start_writer(script, db, GROUP_PAUSE="0.01")
        first = proc.stdout.readline()  # writing has begun (a first group is committed)
        delays.append(rng.uniform(0.0, 0.1))
        time.sleep(delays[-1])
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, f"writer finished first; delays {delays}"
        committed = [line for line in (first + rest).split() if line]
        check_whole_groups(db, committed)
    assert start_writer(script, db).wait(120) == 0, f"delays {delays}"
    assert check_whole_groups(db, []) == {f"act{i:02d}" for i in range(30)}
    assert_runs_equal(load_all(db), reference)


@pytest.mark.slow
def test_sigkill_inside_a_group_transaction(writer_reference, tmp_path: Path) -> None:
    script, reference = writer_reference
    db = tmp_path / "killed.db"
    proc = start_writer(script, db, KILL_AT_ROW="13")  # 5 rows into the second group
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert out.split() == ["act00"]
    assert check_whole_groups(db, ["act00"]) == {"act00"}
    assert start_writer(script, db).wait(120) == 0
    assert_runs_equal(load_all(db), reference)


NEW_COMPARISON_FIELDS = ("p_adjusted", "correction", "n_comparisons", "equivalence_margin",
                         "equivalence_p", "equivalence_p_adjusted", "prob_improvement",
                         "prob_improvement_low", "prob_improvement_high", "seeds_needed",
                         "decision")


def test_comparisons_stored_before_equivalence_was_tested_load_as_stored(db: Path) -> None:
    """A comparison stored without the multiplicity, equivalence, probability-of-improvement
    and seeds-needed fields loads with their 'not recorded' defaults and its own sentence."""
    config = make_config()
    runs = [r for a in ACTS for r in make_group(config, a)]
    with Store(db) as store:
        sid = open_study(store, config)
        for a in ACTS:
            store.save_group(sid, a, [r for r in runs if r.activation == a])
        store.save_analysis(sid, make_result(config, runs))
    conn = sqlite3.connect(db, isolation_level=None)
    (text,) = conn.execute("SELECT comparisons FROM analysis").fetchone()
    old = [{k: v for k, v in c.items() if k not in NEW_COMPARISON_FIELDS}
           for c in json.loads(text)]
    conn.execute("UPDATE analysis SET comparisons = ?", (json.dumps(old),))
    conn.close()
    with Store(db) as store:
        relu, _ = store.load(sid).comparisons
    assert (relu.verdict, relu.accuracy, relu.dm_p) == ("no clear difference", "no_difference",
                                                       0.09)
    assert np.isnan(relu.p_adjusted) and np.isnan(relu.equivalence_p)
    assert (relu.correction, relu.n_comparisons, relu.seeds_needed, relu.decision) == (
        "", 0, {}, "")
