"""A study over a panel: every series is its own stored study, and the answer is pooled."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from relulab.config import preset
from relulab.data import load_panel
from relulab.pooled import pool
from relulab.store import Store
from relulab.study import Study, run_panel

CONFIG = preset("seed", activations=("tanh", "relu"), seeds=3, epochs=5, test_size=8)


def _panel_frame() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for k, n in (("a", 60), ("b", 70), ("c", 60), ("tiny", 9)):
        t = np.arange(n)
        y = 50 + 10 * np.sin(t / (3 + len(k))) + rng.normal(0, 2, n)
        rows += [(k, str(d.date()), v) for d, v in
                 zip(pd.date_range("2001-01-01", periods=n, freq="MS"), y, strict=True)]
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y"])


def _untimed(result) -> dict:
    """Every series' summary less its timing (how many groups were trained or loaded)."""
    return {sid: dataclasses.replace(s, timing={}) for sid, s in result.series.items()}


def test_each_series_is_its_own_study_and_the_pooled_answer_is_over_them(tmp_path) -> None:
    panel = load_panel(_panel_frame())
    with Store(tmp_path / "r.db") as store:
        result = run_panel(CONFIG, panel, store=store)
    assert list(result.series) == list(result.detail) == ["a", "b", "c"]
    assert any("'tiny' left out" in w for w in result.warnings)
    # A series' study is the one-series study of it, number for number.
    alone = Study(CONFIG, panel["b"]).run()
    for x, y in zip(result.detail["b"].runs, alone.runs, strict=True):
        np.testing.assert_array_equal(x.forecast, y.forecast)
    table = result.scores()
    assert table.loc["b", "relu"] == pytest.approx(
        alone.runs_frame.query("activation == 'relu' and not diverged").rmse.median())
    expected = pool(table, "tanh", n_boot=CONFIG.bootstrap)
    assert result.pooled.of("relu").wins == expected.of("relu").wins
    assert result.pooled.friedman_p == pytest.approx(expected.friedman_p, nan_ok=True)
    doc = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert set(doc["series"]) == {"a", "b", "c"} and doc["pooled"]["series"] == 3
    # Resume: every series is stored, so a rerun trains nothing.
    with Store(tmp_path / "r.db") as store:
        again = run_panel(CONFIG, panel, store=store)
        assert all(r.timing["groups_trained"] == 0.0 for r in again.series.values())
        assert len(store.list_studies()) == 3
    assert _untimed(again) == _untimed(result)  # the resumed analysis, number for number


def test_a_panel_keeps_the_whole_results_of_the_largest_spreads_only(tmp_path) -> None:
    """Every series is analysed and stored as it finishes; in memory stay its summary and,
    for the ``keep`` series whose activations differ most, its whole result."""
    panel = load_panel(_panel_frame())
    with Store(tmp_path / "r.db") as store:
        everything = run_panel(CONFIG, panel, store=store, keep=None)
    with Store(tmp_path / "r.db") as store:
        one = run_panel(CONFIG, panel, store=store, keep=1)
        top = one.spread().index[0]
        assert list(one.detail) == [top]
        assert _untimed(one) == _untimed(everything)
        for sid, summary in one.series.items():
            assert store.status(summary.study_id) == "complete"
            whole = store.load(summary.study_id)
            np.testing.assert_array_equal(whole.runs_frame.rmse,
                                          everything.detail[sid].runs_frame.rmse)
    assert one.spread().equals(everything.spread())
    assert one.series[top].spread == pytest.approx(one.spread()[top])


def test_baselines_in_worker_processes_equal_those_on_the_thread() -> None:
    from relulab.study.executor import InProcessExecutor

    panel = load_panel(_panel_frame())
    threads = run_panel(CONFIG, panel, executor=InProcessExecutor(baseline_processes=0))
    procs = run_panel(CONFIG, panel, executor=InProcessExecutor(baseline_processes=2))
    for sid, result in threads.detail.items():
        other = procs.detail[sid].baselines
        for name, b in result.baselines.items():
            np.testing.assert_array_equal(b["forecast"], other[name]["forecast"])
            assert b["description"] == other[name]["description"]
    assert _untimed(procs) == _untimed(threads)


def test_cli_panel_study(tmp_path, capsys) -> None:
    from relulab.cli import main

    path = tmp_path / "p.csv"
    _panel_frame().to_csv(path, index=False)
    code = main(["study", "--panel", str(path), "--series-ids", "a,c", "--activations",
                 "tanh,relu", "--seeds", "3", "--epochs", "4", "--test-size", "8", "--quiet",
                 "--no-db", "--json", str(tmp_path / "p.json")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "across 2 series" in out and "relu beats tanh on" in out
    assert set(json.loads((tmp_path / "p.json").read_text())["series"]) == {"a", "c"}
