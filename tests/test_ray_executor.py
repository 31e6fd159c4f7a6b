"""The Ray executor on a real local Ray (two CPUs, started once for the module).

The reference is the in-process executor on the same plan in this process: the workers
run the same compiled programs on the same inputs, so every forecast, loss and metric must
be equal, not close. Series are tiny (52 points, LSTM(2), 5 epochs, 2 seeds).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from relulab.cli import main  # noqa: E402
from relulab.config import preset  # noqa: E402
from relulab.data import Series  # noqa: E402
from relulab.errors import RelulabError  # noqa: E402
from relulab.study import GroupKey, InProcessExecutor, make_plan  # noqa: E402
from relulab.study import events as ev  # noqa: E402
from relulab.study.plan import Plan  # noqa: E402
from relulab.study.ray_executor import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow  # starts Ray's processes

CONFIG = preset("seed", activations=("tanh", "relu"), seeds=2, epochs=5, test_size=8, units=2)
TINY = ("--activations", "tanh,relu", "--seeds", "2", "--epochs", "5", "--test-size", "8",
        "--units", "2")


def _values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * t / 13) + rng.normal(0, 3, n)


N = 52  # every series this long: one compiled program per activation, shared by all
SERIES = {sid: Series(_values(N, i), sid) for i, sid in enumerate("abc")}


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module, started as the executor starts one; every run below
    finds it up and must leave it up. RAY_ADDRESS names a cluster meanwhile, as `ray start
    --head` on the machine makes ray.init() find one: the executor starts its own all the
    same, so these tests do not depend on what else runs here."""
    with pytest.MonkeyPatch.context() as env, socket.socket() as cluster:
        cluster.bind(("127.0.0.1", 0))
        elsewhere = f"127.0.0.1:{cluster.getsockname()[1]}"
        env.setenv("RAY_ADDRESS", elsewhere)
        with RayExecutor(num_cpus=2) as executor:
            executor.start()
            assert ray.get_runtime_context().gcs_address != elsewhere
            assert ray.cluster_resources()["CPU"] == 2
            yield
    assert not ray.is_initialized()


def _collect(executor, plan):
    groups, baselines, events = {}, {}, []
    executor.run(plan, groups.__setitem__, baselines.__setitem__,
                 events.append)
    return groups, baselines, events


@pytest.fixture(scope="module")
def reference():
    return _collect(InProcessExecutor(), make_plan(CONFIG, SERIES))


def _assert_same_runs(ours, theirs) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert (a.activation, a.seed, a.diverged, a.best_epoch) == (b.activation, b.seed,
                                                                     b.diverged, b.best_epoch)
        for name in ("forecast", "val_forecast", "loss", "val_loss"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert a.metrics == b.metrics and a.val_metrics == b.val_metrics
        assert a.epoch_stats.keys() == b.epoch_stats.keys()
        for k in a.epoch_stats:
            assert np.array_equal(a.epoch_stats[k], b.epoch_stats[k], equal_nan=True), k


def test_shards_on_ray_give_exactly_the_in_process_numbers(local_ray, reference) -> None:
    ref_groups, ref_baselines, _ = reference
    plan = make_plan(CONFIG, SERIES)
    groups, baselines, events = _collect(RayExecutor(shard_size=2), plan)
    assert set(groups) == set(ref_groups) == set(plan.groups())
    for key in ref_groups:
        _assert_same_runs(groups[key], ref_groups[key])
    assert baselines.keys() == ref_baselines.keys()
    for sid in baselines:
        for name, b in ref_baselines[sid].items():
            assert np.array_equal(np.asarray(baselines[sid][name].get("forecast")),
                                  np.asarray(b.get("forecast")), equal_nan=True), (sid, name)
    done = [e for e in events if isinstance(e, ev.ShardDone)]
    assert sorted(sorted(d.series) for d in done) == [["a", "b"], ["c"]]
    assert sum(d.units for d in done) == len(plan.units)
    assert ray.is_initialized()  # it was running before, so it is left running


def test_a_shard_that_fails_for_good_is_named_and_the_others_are_handed_over(
        local_ray) -> None:
    plan = make_plan(CONFIG, SERIES)
    # Series b's windows are broken: its shard fails on the worker on every attempt.
    broken = dict(plan.series, b=dataclasses.replace(plan.series["b"], prepared=(None,)))
    poisoned = Plan(plan.config, broken, plan.units)
    handed, baselines = [], {}
    with pytest.raises(RelulabError) as caught:
        RayExecutor(shard_size=1, max_retries=1).run(
            poisoned, lambda key, runs: handed.append(key), baselines.__setitem__)
    message = str(caught.value)
    assert "1 of 3 shards failed" in message
    assert "shard 2 (series b, after 2 attempts): AttributeError" in message
    assert "\n" not in message
    assert sorted(handed) == sorted(k for k in plan.groups() if k.series_id != "b")
    assert sorted(baselines) == ["a", "c"]


def test_a_worker_with_another_relulab_refuses_at_once_without_retries(
        local_ray, monkeypatch) -> None:
    """A relulab error is the input's own problem: Ray does not retry it."""
    import relulab

    monkeypatch.setattr(relulab, "__version__", "0.0.0+elsewhere")  # what the driver sends
    handed: list = []
    with pytest.raises(RelulabError) as caught:
        RayExecutor(shard_size=2, max_retries=3).run(
            make_plan(CONFIG, SERIES), lambda key, runs: handed.append(key),
            lambda sid, b: None)
    message = str(caught.value)
    assert "2 of 2 shards failed" in message and "not retried" in message
    assert "the driver 0.0.0+elsewhere; install the same version" in message
    assert handed == []


def test_a_resumed_plan_asks_ray_only_for_the_missing_groups(local_ray, reference) -> None:
    ref_groups = reference[0]
    stored = [GroupKey("a", "tanh"), GroupKey("c", "tanh"), GroupKey("c", "relu")]
    plan = make_plan(CONFIG, SERIES).without(stored)
    groups, baselines, _ = _collect(RayExecutor(shard_size=1), plan)
    assert sorted(groups) == [GroupKey("a", "relu"), GroupKey("b", "relu"),
                              GroupKey("b", "tanh")]
    for key, runs in groups.items():
        _assert_same_runs(runs, ref_groups[key])
    assert sorted(baselines) == ["a", "b", "c"]  # a stored series still gets its baselines


def _panel_csv(path) -> str:
    weeks = np.datetime64("2020-01-05") + 7 * np.arange(N)
    cols = [_values(N, i) for i in range(len(SERIES))]
    lines = ["week," + ",".join(SERIES)]
    lines += [f"{weeks[t]}," + ",".join(f"{c[t]:.3f}" for c in cols) for t in range(N)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_the_cli_gives_the_same_json_on_ray_as_in_process(local_ray, tmp_path, capsys) -> None:
    csv = _panel_csv(tmp_path / "panel.csv")
    out = {}
    for executor in ("inprocess", "ray"):
        path = tmp_path / f"{executor}.json"
        assert main(["study", "--panel", csv, *TINY, "--executor", executor, "--json",
                     str(path), "--db", str(tmp_path / f"{executor}.db"), "--quiet"]) == 0
        out[executor] = json.loads(path.read_text())
        del out[executor]["timing"]
    assert out["ray"] == out["inprocess"]
    capsys.readouterr()


def test_address_without_ray_and_ray_missing_are_one_line_each(tmp_path, capsys,
                                                                monkeypatch) -> None:
    argv = ["study", "--bundled", "sunspots", *TINY, "--no-db"]
    assert main([*argv, "--address", "head:6379"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--address names a Ray cluster" in err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert main([*argv, "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err == "relulab: error: ray is not installed; pip install 'relulab[ray]'\n"


def test_a_panel_that_cannot_be_studied_fails_before_ray_starts(tmp_path, capsys,
                                                               monkeypatch) -> None:
    """The data are checked first: a bad panel is one line at once, not after Ray's
    start-up."""
    def started(*args, **kwargs):
        raise AssertionError("Ray was started before the panel was checked")

    monkeypatch.setattr(RayExecutor, "_connect", started)
    csv = _panel_csv(tmp_path / "panel.csv")
    code = main(["study", "--panel", csv, *TINY, "--lookback", "60", "--executor", "ray",
                 "--no-db", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "lookback" in err, err
