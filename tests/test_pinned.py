"""The engine's numbers are pinned: three small studies reproduce tests/pinned/studies.npz.

That file was written by the code before the engine was split into plan, executor and
analysis (tests/pinned/make_pins.py says how). On a CPU with the same vector extensions and
the same jax, every number must be bit-identical; on another CPU, XLA may round float32
differently in the last bits, so there the numbers are held to a float32 training error
(relative 1e-4 after a dozen epochs) instead of to one machine's bits.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent / "pinned"
sys.path.insert(0, str(HERE))

from pinned_cases import CASES, cpu_fingerprint, snapshot  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:reference activation")


@pytest.fixture(scope="module")
def pins() -> dict[str, np.ndarray]:
    with np.load(HERE / "studies.npz") as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("case", sorted(CASES))
def test_study_reproduces_the_pinned_numbers(case: str, pins: dict[str, np.ndarray]) -> None:
    from relulab.study import Study

    config, series = CASES[case]
    got = snapshot(Study(config, series).run())
    expected = {k.split("/", 1)[1]: v for k, v in pins.items() if k.startswith(f"{case}/")}
    assert sorted(got) == sorted(expected)
    same_cpu = json.loads(str(pins["__meta__"]))["cpu"] == cpu_fingerprint()
    for key, want in expected.items():
        _check(key, got[key], want, same_cpu)


def test_the_panel_and_adaptive_pipelines_reproduce_their_pinned_numbers() -> None:
    """A panel study and a ``--seeds auto`` study, pinned by the code before the study's
    three pipelines became one (tests/pinned/make_pipeline_pins.py)."""
    import warnings

    from pinned_cases import pipeline_snapshots

    from relulab.study import run_panel
    from relulab.study.adaptive import run_adaptive

    with np.load(HERE / "pipelines.npz") as npz:
        pins = {k: npz[k] for k in npz.files}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = pipeline_snapshots(run_panel, run_adaptive)
    assert sorted(got) == sorted(k for k in pins if k != "__meta__")
    same_cpu = json.loads(str(pins["__meta__"]))["cpu"] == cpu_fingerprint()
    for key, want in got.items():
        _check(key, want, pins[key], same_cpu)


def _check(key: str, got: np.ndarray, want: np.ndarray, same_cpu: bool) -> None:
    """Training's numbers (XLA float32: runs, forecasts, losses) bit for bit on the CPU and
    JAX that pinned them; the statistics over them (float64 in NumPy, SciPy and
    statsmodels, whose summation orders change between their releases by an ulp) to
    1e-12; ARIMA's forecasts, the end of statsmodels' iterative fit, to its optimiser's
    tolerance; elsewhere to float32 training's reach."""
    if not same_cpu or "arima" in key:
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=key)
    elif "run/" in key or key.startswith("run"):
        np.testing.assert_array_equal(got, want, err_msg=key)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=key)
