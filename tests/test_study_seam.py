"""The study's seams: a pure plan, a pluggable executor, a pure analysis, one route out.

The numbers themselves are pinned by test_pinned.py; these tests check the structure a
distributed executor and a panel of series will build on.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random

import numpy as np
import pytest

from relulab.config import preset
from relulab.data import Series
from relulab.errors import RelulabError
from relulab.store import Store
from relulab.study import (
    GroupKey,
    InProcessExecutor,
    Outputs,
    Study,
    WorkUnit,
    make_plan,
    run_study,
    write_outputs,
)
from relulab.study import events as ev
from relulab.study.pipeline import series_result


def _values(n: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 20 * np.sin(2 * np.pi * t / 13) + rng.normal(0, 3, n)


def _config(**kw):
    base = dict(activations=("tanh", "relu"), seeds=2, epochs=4, test_size=10)
    return preset("seed", **{**base, **kw})


def test_plan_lists_every_unit_in_training_order() -> None:
    series = Series(_values(100), "s")
    plan = make_plan(_config(folds=2, activations=("tanh", "relu", "elu")), series)
    assert plan.units == tuple(WorkUnit("s", a, k) for a in ("tanh", "relu", "elu")
                               for k in (0, 1))
    assert plan.groups() == [GroupKey("s", a) for a in ("tanh", "relu", "elu")]
    assert plan.units_of(GroupKey("s", "relu")) == [WorkUnit("s", "relu", 0),
                                                   WorkUnit("s", "relu", 1)]
    sp = plan.series["s"]
    assert len(sp.prepared) == 2 and sp.test_start == 100 - 2 * 10
    rest = plan.without([GroupKey("s", "tanh")])
    assert [u.activation for u in rest.units] == ["relu", "relu", "elu", "elu"]
    assert rest.done == {GroupKey("s", "tanh")}
    assert plan.units[0].activation == "tanh"  # `without` made a new plan


def test_plan_fails_before_any_training() -> None:
    with pytest.raises(RelulabError, match="relux"):
        make_plan(_config(activations=("tanh", "relux")), Series(_values(), "s"))
    with pytest.raises(RelulabError, match=r"lookback|test"):
        make_plan(_config(), Series(_values(14), "s"))


def test_plan_names_the_series_it_refuses_and_keeps_each_folds_windows() -> None:
    with pytest.raises(RelulabError, match=r"^series 'tiny' has 23 points.*at least 24"):
        make_plan(_config(test_size=15), Series(np.arange(23.0), "tiny"))
    with pytest.raises(RelulabError, match=r"^series 'wide' has 40 points, too few for 3"):
        make_plan(_config(folds=3, test_size=15), Series(_values(40), "wide"))
    with pytest.raises(RelulabError, match=r"^series 'huge' holds values as large as 2.3e\+301"):
        make_plan(_config(test_size=15), Series(np.arange(24.0) * 1e300, "huge"))
    sp = make_plan(_config(folds=2), Series(_values(100), "s")).series["s"]
    assert [(s.n, s.train_end, s.test_start) for s in sp.splits] == [(90, 64, 80),
                                                                     (100, 72, 90)]
    assert [p.split for p in sp.prepared] == list(sp.splits)


def test_study_is_immutable_and_keeps_the_users_input() -> None:
    values = _values()
    study = Study(_config(), values)
    assert study.series is values  # the input is not replaced by what it loaded to
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.series = None  # type: ignore[misc]
    assert study.plan.series["series"].series.values.tolist() == values.tolist()


class RecordingExecutor:
    """Runs in process, and records what it was asked to do and what it handed back."""

    def __init__(self) -> None:
        self.units: list[WorkUnit] = []
        self.handed: list[GroupKey] = []

    def run(self, plan, on_group, on_baselines, progress):
        self.units = list(plan.units)

        def record(key, runs):
            self.handed.append(key)
            on_group(key, runs)

        return InProcessExecutor().run(plan, record, on_baselines, progress)


def test_an_executor_plugs_in_and_a_resumed_study_asks_only_for_the_missing_work(
        tmp_path) -> None:
    config = _config(activations=("tanh", "relu", "elu"))
    values = _values()
    reference = Study(config, values).run()

    db = tmp_path / "r.db"
    with Store(db) as store:
        first = RecordingExecutor()
        Study(config, values, executor=first).run(store=store)
        assert first.handed == [GroupKey("series", a) for a in ("tanh", "relu", "elu")]
        # Forget one group, as if the study had been killed before storing it.
        store._conn.execute("DELETE FROM runs WHERE activation = 'elu'")
        store._conn.execute("DELETE FROM analysis")
        store._conn.commit()
        again = RecordingExecutor()
        resumed = Study(config, values, executor=again).run(store=store)
    assert again.units == [WorkUnit("series", "elu", 0)]
    for a, b in zip(reference.runs, resumed.runs, strict=True):
        assert (a.activation, a.seed) == (b.activation, b.seed)
        np.testing.assert_array_equal(a.forecast, b.forecast)  # stored as float64
    assert [c.verdict for c in resumed.comparisons] == [c.verdict for c in
                                                         reference.comparisons]


def test_analysis_is_pure_and_ignores_the_order_runs_arrive_in() -> None:
    study = Study(_config(seeds=3), _values())
    result = study.run()
    sp = study.plan.series["series"]
    shuffled = list(result.runs)
    random.Random(0).shuffle(shuffled)
    again = series_result(study.config, sp, shuffled, result.baselines)
    assert [(r.activation, r.seed) for r in again.runs] == [(r.activation, r.seed)
                                                            for r in result.runs]
    assert again.summary.equals(result.summary)
    assert [dataclasses.asdict(c) for c in again.comparisons] == [
        dataclasses.asdict(c) for c in result.comparisons]
    assert again.warnings == result.warnings


def test_run_study_writes_what_the_user_asked_for(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RELULAB_JAX_CACHE", "0")
    path = tmp_path / "s.csv"
    path.write_text("y\n" + "\n".join(f"{v:.6f}" for v in _values()) + "\n")
    config = _config(activations=("tanh",), data=str(path))
    outputs = Outputs(db=tmp_path / "r.db", json=tmp_path / "out" / "r.json",
                      report=tmp_path / "r.html")
    result, written = run_study(config, outputs=outputs)
    assert written.study_id == result.study_id != ""
    assert json.loads(written.json.read_text()) == json.loads(
        json.dumps(result.to_json(), allow_nan=False))
    assert written.report.read_text().startswith("<!DOCTYPE html>")
    with Store(tmp_path / "r.db", create=False) as store:
        stored = store.load(result.study_id)
    assert [r.forecast.tolist() for r in stored.runs] == [r.forecast.tolist()
                                                          for r in result.runs]
    # Per-unit diagnostics go to the database and the JSON as they are.
    for fresh, kept in zip(result.runs, stored.runs, strict=True):
        assert sorted(kept.unit_stats) == sorted(fresh.unit_stats) != []
        for k, v in fresh.unit_stats.items():
            np.testing.assert_array_equal(kept.unit_stats[k], v)
            assert kept.unit_stats[k].dtype == v.dtype
    units = json.loads(written.json.read_text())["runs"][0]["units"]
    assert sorted(units["sites"]) == ["lstm1.candidate", "lstm1.cell"]
    assert len(units["sites"]["lstm1.cell"]["death_epoch"]) == config.units
    # The same writer serves a stored study (`relulab report`).
    again = write_outputs(stored, Outputs(db=tmp_path / "r.db", report=tmp_path / "again.html"))
    assert again.report.read_text().startswith("<!DOCTYPE html>")
    # A file that cannot be written says so in one line, and where the results are kept.
    (tmp_path / "taken").mkdir()
    with pytest.raises(RelulabError, match=r"cannot write the JSON .* stored in .*r\.db"):
        write_outputs(stored, Outputs(db=tmp_path / "r.db", json=tmp_path / "taken"))


def test_a_baseline_that_cannot_be_fitted_is_a_warning_and_the_study_goes_on(monkeypatch):
    import relulab.baselines as baselines

    def broken(*args, **kwargs):
        raise ValueError("cannot convert float NaN to integer")

    monkeypatch.setattr(baselines, "_kpss_d", broken)
    with pytest.warns(UserWarning, match="arima baseline unavailable"):
        result = Study(_config(activations=("tanh",)), _values()).run()
    assert any(w.startswith("arima baseline unavailable") and "NaN" in w
               for w in result.warnings)
    doc = result.to_json()
    assert "NaN" in doc["baselines"]["arima"]["unavailable"]
    assert "unavailable" not in doc["baselines"]["naive"]
    assert all(np.isfinite(r.metrics["rmse"]) for r in result.runs)


def test_training_runs_at_most_lead_series_ahead_of_their_baselines() -> None:
    """The runs of a trained series wait in memory for its baselines; ``lead`` bounds how
    many series wait, so a panel's memory does not grow with its number of series."""
    series = {f"s{k}": Series(_values(60, seed=k), f"s{k}") for k in range(5)}
    plan = make_plan(_config(seeds=1, epochs=2), series)
    events: list[tuple[str, str]] = []

    def progress(event):
        if isinstance(event, ev.GroupStarted):
            events.extend(("train", s) for s in event.series)

    InProcessExecutor(per_call=1, baseline_processes=0, lead=1).run(
        plan, lambda key, runs: events.append(("group", key.series_id)),
        lambda sid, b: events.append(("baselines", sid)), progress)
    waiting: list[str] = []  # series trained whose baselines have not arrived
    for kind, sid in events:
        if kind == "train" and sid not in waiting:
            assert len(waiting) <= 1, events  # at most `lead` of them when another starts
            waiting.append(sid)
        if kind == "baselines" and sid in waiting:
            waiting.remove(sid)
    assert sorted(s for kind, s in events if kind == "baselines") == sorted(series)


def test_baselines_of_a_broken_worker_pool_are_fitted_on_the_thread() -> None:
    from concurrent.futures import Future, ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from relulab.study import jax_trainer
    from relulab.study.executor import _Baselines

    class BrokenPool:  # a pool whose worker died: every future fails
        def submit(self, *args):
            fut: Future = Future()
            fut.set_exception(BrokenProcessPool("a worker was killed"))
            return fut

    plan = make_plan(_config(), {"a": Series(_values(seed=1), "a"),
                                 "b": Series(_values(seed=2), "b")})
    with ThreadPoolExecutor(1) as side:
        baselines = _Baselines(plan, BrokenPool(), side)
        baselines.submit(["a", "b"])
        got = {sid: baselines.take(sid) for sid in ("b", "a")}
    for sid, sp in plan.series.items():
        want = jax_trainer.fit_baselines(sp.values, sp.train_end, sp.test_start, None)
        np.testing.assert_array_equal(got[sid]["arima"]["forecast"], want["arima"]["forecast"])


@pytest.mark.parametrize(("source", "safe"), [
    ("import relulab\nrelulab.run()\n", False),
    ("def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n", True),
    ('if "__main__" == __name__:\n    pass\n', True),
    ("this is not python(\n", False),
])
def test_worker_processes_only_where_the_main_module_is_guarded(tmp_path, monkeypatch,
                                                                source, safe) -> None:
    """A spawned worker imports the main module: a script that studies at its top level
    would study again in every worker, so it keeps its baselines on the thread."""
    import sys
    import types

    from relulab.study.executor import _spawn_is_safe

    script = tmp_path / "script.py"
    script.write_text(source)
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert _spawn_is_safe() is safe
    assert InProcessExecutor().processes(40) == (min(10, __import__("os").cpu_count())
                                                 if safe else 0)  # four series a worker
    assert InProcessExecutor().processes(3) == 0  # too few series to pay for the start
    assert InProcessExecutor(baseline_processes=2).processes(40) == 2
    del main.__file__  # an interactive session, a notebook
    assert _spawn_is_safe()


def _collect(executor, plan):
    """Every group's runs an executor hands over, in order, and its progress events."""
    groups: list[tuple[GroupKey, list]] = []
    said: list = []
    executor.run(plan, lambda key, runs: groups.append((key, runs)), lambda sid, b: None,
                 said.append)
    return groups, said


def test_steps_on_several_threads_train_the_same_numbers_and_say_each_step_once() -> None:
    """Training steps side by side (threads of their own) changes when they are done,
    never what they compute: every run equal bit for bit to those of one step at a time,
    each group's folds in order, every started step done once, the counts of units done
    adding up."""
    series = {f"s{k}": Series(_values(90, seed=k), f"s{k}") for k in range(3)}
    plan = make_plan(_config(activations=("tanh", "relu", "elu"), folds=2), series)
    one, _ = _collect(InProcessExecutor(baseline_processes=0, threads=1), plan)
    three, said = _collect(InProcessExecutor(baseline_processes=0, threads=3), plan)
    assert sorted(k for k, _ in three) == sorted(k for k, _ in one) == sorted(plan.groups())
    first = dict(one)
    for key, runs in three:
        assert len(runs) == len(first[key]) == 2  # seeds
        for a, b in zip(first[key], runs, strict=True):
            assert a.seed == b.seed and a.forecast.size == 2 * 10  # both folds' tests
            # The folds' forecasts end to end, in fold order.
            np.testing.assert_array_equal(a.forecast, b.forecast)
            np.testing.assert_array_equal(a.val_forecast, b.val_forecast)
            np.testing.assert_array_equal(a.loss, b.loss)
            assert a.epoch_stats.keys() == b.epoch_stats.keys()
            for k in a.epoch_stats:
                np.testing.assert_array_equal(a.epoch_stats[k], b.epoch_stats[k])
    started = [e for e in said if isinstance(e, ev.GroupStarted)]
    done = [e for e in said if isinstance(e, ev.GroupDone)]
    assert len(done) == len(started) == 3 * 2  # activations x folds, the series in one call
    assert sorted((e.activation, e.fold, e.series) for e in started) == sorted(
        (e.activation, e.fold, e.series) for e in done)
    assert done[0].index == 0 and done[-1].index + done[-1].units == len(plan.units)
    assert all(b.index == a.index + a.units for a, b in itertools.pairwise(done))


def test_training_time_is_the_time_steps_run_not_the_waits_between_them(monkeypatch):
    """With steps side by side, the study's training time is the time covered by its
    steps, not what the calling thread waits for between starting them (the baselines,
    when training runs ahead of them): a pause before each step but the first is left
    out."""
    import time

    from relulab.study.executor import covered

    assert covered([]) == 0.0
    assert covered([(0.0, 10.0), (2.0, 5.0)]) == 10.0  # one inside the other
    assert covered([(1.0, 3.0), (0.0, 2.0)]) == 3.0  # overlapping, in any order
    assert covered([(0.0, 1.0), (2.0, 3.0)]) == 2.0  # a gap between them
    series = {f"s{k}": Series(_values(90, seed=k), f"s{k}") for k in range(2)}
    plan = make_plan(_config(activations=("tanh", "relu", "elu")), series)
    steps = plan.trainer.steps

    def paused(plan, piece):
        for k, step in enumerate(steps(plan, piece)):
            if k:
                time.sleep(0.5)
            yield step

    monkeypatch.setattr(plan.trainer, "steps", paused)
    said: list = []
    stats = InProcessExecutor(baseline_processes=0, threads=2).run(
        plan, lambda key, runs: None, lambda sid, b: None, said.append)
    ran = sum(e.seconds for e in said if isinstance(e, ev.GroupDone))
    assert max(e.seconds for e in said if isinstance(e, ev.GroupDone)) <= stats.train_s
    assert stats.train_s <= ran + 1e-9
    assert stats.train_s < ran + 0.5  # the pauses (1 s in all) are not training


def test_a_plan_with_fewer_steps_than_threads_is_cut_finer() -> None:
    """Four series of one activation on two threads: two calls of two series, so both
    threads train; with three activations each series already has steps enough."""
    from relulab.study.jax_trainer import JaxTrainer, spread

    series = {f"s{k}": Series(_values(80, seed=k), f"s{k}") for k in range(4)}
    one = make_plan(_config(activations=("tanh",)), series)
    assert spread(one, 16, 2) == 2 and spread(one, 16, 1) == 16 and spread(one, 16, 8) == 1
    assert [p.series for p in JaxTrainer().pieces(one, 16, workers=2)] == [
        ("s0", "s1"), ("s2", "s3")]
    three = make_plan(_config(activations=("tanh", "relu", "elu")), series)
    assert spread(three, 16, 2) == 16
    assert len(JaxTrainer().pieces(three, 16, workers=2)) == 1


def test_threads_where_memory_allows_and_only_for_a_trainer_whose_steps_gain() -> None:
    """Each piece training at once needs its memory: a plan that fits one at a time
    trains on one thread; a trainer whose steps use every core (PyTorch, Keras) never
    gets more than one."""
    from relulab.study.jax_trainer import memory_needed
    from relulab.study.task_study import TaskTrainer

    series = {f"s{k}": Series(_values(80, seed=k), f"s{k}") for k in range(4)}
    plan = make_plan(_config(activations=("tanh",)), series)
    ex = InProcessExecutor(threads=2, lead=0, per_call=2)
    one, two = (memory_needed(plan, 2, 2, workers=w) for w in (1, 2))
    assert two.training == 2 * one.training
    assert InProcessExecutor(threads=2, lead=0, per_call=2, memory=two.total)._pieces(
        plan)[1] == 2
    assert InProcessExecutor(threads=2, lead=0, per_call=2, memory=one.total)._pieces(
        plan)[1] == 1
    assert ex.workers(plan) == 2
    assert ex.workers(dataclasses.replace(plan, trainer=TaskTrainer(None))) == 1
