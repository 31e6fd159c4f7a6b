"""A study that cannot fit in memory is refused before anything compiles, with one line
naming the seeds and epochs that would fit; the estimate behind it is held to XLA's own
accounting of the compiled programs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relulab import training
from relulab.config import preset
from relulab.data import Series
from relulab.errors import RelulabError
from relulab.models import ModelSpec
from relulab.study.executor import InProcessExecutor, available_memory
from relulab.study.jax_trainer import calls, fit_memory, memory_needed
from relulab.study.plan import make_plan
from relulab.training import TrainData, TrainSpec, call_memory, make_batch

RELULAB = Path(sys.executable).with_name("relulab")


def _values(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 + 20 * np.sin(2 * np.pi * np.arange(n) / 13) + rng.normal(0, 3, n)


def _data(n: int, n_val: int, seed: int) -> TrainData:
    rng = np.random.default_rng(seed)
    return TrainData.from_arrays(rng.normal(size=(n, 5)), rng.normal(size=n),
                                 rng.normal(size=(n_val, 5)), rng.normal(size=n_val))


@pytest.mark.parametrize(("family", "counts", "seeds", "epochs", "rows"), [
    ("lstm", [(60, 15)], 8, 200, None),                      # one series, unpadded
    ("lstm", [(50, 12), (60, 15), (40, 10)], 8, 200, 64),    # a padded panel call
    ("mlp", [(60, 15), (45, 11)], 6, 150, 64),
    ("lstm", [(16, 4)], 4, 50, None),                        # tiny: the fixed parts show
])
def test_the_estimate_of_a_call_covers_what_xla_allocates(family, counts, seeds, epochs,
                                                         rows) -> None:
    """XLA's memory analysis of the compiled start and fit (arguments, temporaries and
    outputs) is the reference: the estimate is never below its peak, nor far above."""
    spec = TrainSpec(model=ModelSpec(family=family), epochs=epochs)
    batch = make_batch([_data(n, v, k) for k, (n, v) in enumerate(counts)], rows,
                       16 if rows else None)
    prog = training.program(spec, ("tanh", "relu"), batch, seeds)
    start = training._start_program(spec, prog.shapes[0][1], prog.shapes[0][0],
                                    prog.n_series, seeds, prog.padded).memory_analysis()
    fit = training._fit_program(spec, prog.group, prog.shapes, prog.n_series, seeds,
                                prog.padded).memory_analysis()
    xla = max(start.output_size_in_bytes + start.temp_size_in_bytes,
              fit.argument_size_in_bytes + fit.temp_size_in_bytes + fit.output_size_in_bytes)
    est = call_memory(spec, prog.shapes[0][0], prog.shapes[0][1], prog.n_series, seeds)
    assert xla <= est.peak <= 1.25 * xla, (est, xla)
    assert est.orders == 4 * epochs * prog.shapes[0][0] * seeds * len(counts)
    assert fit.output_size_in_bytes <= est.output


@pytest.mark.parametrize(("family", "rows", "seeds", "epochs"), [
    ("lstm", 6000, 8, 200), ("lstm", 60, 8, 200), ("mlp", 20000, 10, 100), ("lstm", 16, 4, 50)])
def test_a_streamed_shuffle_holds_no_order_as_xla_accounts_it(family, rows, seeds,
                                                              epochs) -> None:
    """A global model's program (each step's samples computed in the loop): XLA's peak is
    within the estimate, the estimate does not grow with the epochs beyond the per-epoch
    records, and the drawn program's orders are the bulk of what it saves."""
    import dataclasses

    spec = TrainSpec(model=ModelSpec(family=family), epochs=epochs, shuffle="streamed")
    batch = make_batch([_data(rows, rows // 4, 0)])
    prog = training.program(spec, ("tanh", "relu"), batch, seeds)
    start = training._start_program(spec, 5, rows, 1, seeds, False).memory_analysis()
    fit = training._fit_program(spec, prog.group, prog.shapes, 1, seeds,
                                False).memory_analysis()
    xla = max(start.output_size_in_bytes + start.temp_size_in_bytes,
              fit.argument_size_in_bytes + fit.temp_size_in_bytes + fit.output_size_in_bytes)
    est = call_memory(spec, rows, 5, 1, seeds)
    assert xla <= est.peak <= 1.5 * xla, (est, xla)
    assert est.orders == 8 * seeds  # a key a model
    longer = call_memory(dataclasses.replace(spec, epochs=10 * epochs), rows, 5, 1, seeds)
    assert longer.peak - est.peak == longer.output - est.output
    drawn = call_memory(dataclasses.replace(spec, shuffle="drawn"), rows, 5, 1, seeds)
    assert drawn.peak - est.peak >= drawn.orders - 2 * est.peak


def _plan(seeds: int = 10, epochs: int = 500, n_series: int = 1, **kw):
    config = preset("seed", activations=("tanh", "relu"), seeds=seeds, epochs=epochs,
                    test_size=10, **kw)
    series = {f"s{k}": Series(_values(120 + 7 * k, k), f"s{k}") for k in range(n_series)}
    return make_plan(config, series)


def test_the_need_grows_with_seeds_epochs_and_rows() -> None:
    base = memory_needed(_plan())
    assert memory_needed(_plan(seeds=20)).total > base.total
    assert memory_needed(_plan(epochs=1000)).total > base.total
    longer = make_plan(_plan().config, Series(_values(240), "s"))
    assert memory_needed(longer).training > base.training
    # A call's orders are 4 bytes a seed, epoch and row; twice the seeds, twice the orders.
    assert memory_needed(_plan(seeds=20)).training == pytest.approx(2 * base.training,
                                                                     rel=0.01)


def test_what_the_readme_and_the_tests_run_needs_little() -> None:
    """The seed preset (500 epochs, 10 seeds, 6 activations) on a weekly series and a
    1000-series panel of 60-month windows need well under a gigabyte: never refused."""
    hotel = make_plan(preset("seed", seeds=10, activations=(
        "tanh", "relu", "leaky_relu", "elu", "gelu", "prelu")), Series(_values(115), "h"))
    assert memory_needed(hotel, 16).total < 100e6
    panel = make_plan(preset("seed", seeds=10, epochs=50, test_size=12),
                      {f"s{k}": Series(_values(60, k), f"s{k}") for k in range(1000)})
    assert memory_needed(panel, 16, held_series=64 + 16).total < 1e9


def test_a_plan_that_does_not_fit_is_refused_with_seeds_and_epochs_that_fit() -> None:
    plan = _plan(seeds=400)
    available = memory_needed(plan, 1).total // 3
    with pytest.raises(RelulabError) as err:
        fit_memory(plan, 16, 1, available)
    line = str(err.value)
    assert "\n" not in line and "more than the" in line
    seeds = int(line.split("--seeds ")[1].split()[0])  # as a flag takes it: no commas
    epochs = int(line.split("--epochs ")[1].split()[0])
    # The advice is right: that many fit, one more does not.
    assert memory_needed(plan, 1, seeds=seeds).total <= available
    assert memory_needed(plan, 1, seeds=seeds + 1).total > available
    assert memory_needed(plan, 1, epochs=epochs).total <= available
    assert memory_needed(plan, 1, epochs=epochs + 1).total > available


def test_a_panel_too_large_for_its_calls_trains_fewer_series_a_call() -> None:
    plan = _plan(n_series=8, seeds=50)
    assert len(calls(plan, 8)) < len(calls(plan, 2))
    available = memory_needed(plan, 2, 8).total
    assert memory_needed(plan, 8, 8).total > available
    assert fit_memory(plan, 8, 8, available) == 2


def test_the_executor_refuses_before_compiling() -> None:
    events: list[str] = []
    with pytest.raises(RelulabError, match="--seeds"):
        InProcessExecutor(memory=10**6).run(_plan(seeds=64), lambda *a: None,
                                            lambda *a: None,
                                            lambda e: events.append(type(e).__name__))
    assert "Compiling" not in events


def test_available_memory_is_a_positive_number_where_the_system_says() -> None:
    have = available_memory()
    if sys.platform.startswith("linux"):
        assert have is not None and have > 0


def test_a_billion_epochs_is_one_line_from_a_real_process(tmp_path) -> None:
    """Once a JAX out-of-memory traceback (or minutes of nothing)."""
    if not RELULAB.exists():
        pytest.skip(f"no relulab script beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    proc = subprocess.run([str(RELULAB), "study", "--bundled", "nile", "--epochs",
                           "1000000000", "--seeds", "2", "--no-db"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("relulab: error: this study needs about ")
    assert "TB of memory" in line and "--epochs" in line


def test_a_study_refused_for_memory_leaves_nothing_in_the_database(tmp_path) -> None:
    """The check comes before the store opens: no empty study row, no file at all."""
    from relulab.study import Outputs, run_study

    db = tmp_path / "r.db"
    plan = _plan(seeds=64)
    (sp,) = plan.series.values()
    with pytest.raises(RelulabError, match="--seeds"):
        run_study(plan.config, sp.series, outputs=Outputs(db=db),
                  executor=InProcessExecutor(memory=10**6))
    assert not db.exists()
