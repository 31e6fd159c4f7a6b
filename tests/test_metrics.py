"""Metrics against hand-computed cases and textbook identities; the metric registry."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from relulab import metrics
from relulab.errors import RelulabError
from relulab.metrics import METRIC_COLUMNS

# The hand case used throughout:
#   y_prev = 9,  y = [10, 12, 11, 11, 15],  ŷ = [11, 11, 12, 12, 12],  y_train = [8, 10, 9, 13]
Y_PREV = 9.0
Y = np.array([10.0, 12, 11, 11, 15])
YHAT = np.array([11.0, 11, 12, 12, 12])
Y_TRAIN = np.array([8.0, 10, 9, 13])


def test_rmse_mae_mfe_by_hand():
    # e = y - ŷ = [-1, 1, -1, -1, 3];  e² = [1, 1, 1, 1, 9], sum 13
    assert metrics.rmse(Y, YHAT) == pytest.approx(math.sqrt(13 / 5))
    # |e| = [1, 1, 1, 1, 3], sum 7
    assert metrics.mae(Y, YHAT) == pytest.approx(7 / 5)
    # sum e = 1: forecasts slightly too low on average -> positive
    assert metrics.mfe(Y, YHAT) == pytest.approx(1 / 5)


def test_mda_reference_definition_by_hand():
    # Δy = [2, -1, 0, 4] -> signs [+, -, 0, +]
    # Δŷ = [0, 1, 0, 0]  -> signs [0, +, 0, 0]
    # equal:                       F  F  T  F  -> 1/4  (a flat step matches a flat step)
    assert metrics.mda(Y, YHAT) == pytest.approx(0.25)


def test_mda_naive_textbook_definition_by_hand():
    # anchors (actual previous values) = [9, 10, 12, 11, 11]
    # y - anchor = [1, 2, -1, 0, 4] -> [+, +, -, 0, +]
    # ŷ - anchor = [2, 1,  0, 1, 1] -> [+, +, 0, +, +]
    # equal:                            T  T  F  F  T  -> 3/5
    assert metrics.mda_naive(Y, YHAT, Y_PREV) == pytest.approx(0.6)


def test_mase_by_hand():
    # m = 1: |10-8|, |9-10|, |13-9| = 2, 1, 4 -> scale 7/3;  MAE 7/5 -> 0.6
    assert metrics.mase(Y, YHAT, Y_TRAIN) == pytest.approx((7 / 5) / (7 / 3))
    # m = 2: |9-8|, |13-10| = 1, 3 -> scale 2 -> 0.7
    assert metrics.mase(Y, YHAT, Y_TRAIN, season=2) == pytest.approx(0.7)


def test_vol_ratio_by_hand():
    # ŷ: mean 11.6, squared deviations .36 .36 .16 .16 .16 -> sum 1.2
    # y: mean 11.8, squared deviations 3.24 .04 .64 .64 10.24 -> sum 14.8
    assert metrics.vol_ratio(Y, YHAT) == pytest.approx(math.sqrt(1.2 / 14.8))
    # the ddof cancels: the same with sample standard deviations
    assert metrics.vol_ratio(Y, YHAT) == pytest.approx(
        np.std(YHAT, ddof=1) / np.std(Y, ddof=1)
    )


def test_score_keys_and_values():
    s = metrics.score(Y, YHAT, y_prev=Y_PREV, y_train=Y_TRAIN)
    assert tuple(s) == METRIC_COLUMNS
    assert s["rmse"] == pytest.approx(math.sqrt(13 / 5))
    assert s["mda"] == pytest.approx(0.25)
    assert s["mda_naive"] == pytest.approx(0.6)
    assert s["mase"] == pytest.approx(0.6)
    assert metrics.score(Y, YHAT, y_prev=Y_PREV, y_train=Y_TRAIN, season=2)["mase"] == (
        pytest.approx(0.7)
    )


def test_score_of_diverged_forecast_is_all_nan():
    bad = YHAT.copy()
    bad[2] = np.nan
    s = metrics.score(Y, bad, y_prev=Y_PREV, y_train=Y_TRAIN)
    assert all(math.isnan(v) for v in s.values())
    assert math.isnan(metrics.mda(Y, bad))  # not 0 from NaN comparisons
    assert math.isnan(metrics.mda_naive(Y, bad, Y_PREV))


def test_undefined_cases():
    assert math.isnan(metrics.vol_ratio(np.ones(4), np.arange(4.0)))  # constant actuals
    assert math.isnan(metrics.mase(Y, YHAT, np.ones(5)))  # constant training part
    assert math.isnan(metrics.mda(Y[:1], YHAT[:1]))  # no step inside the window
    with pytest.raises(RelulabError, match="same length"):
        metrics.rmse(Y, YHAT[:3])
    with pytest.raises(RelulabError, match="season"):
        metrics.mase(Y, YHAT, Y_TRAIN, season=4)
    with pytest.raises(RelulabError, match="NaN"):
        metrics.score(np.array([1.0, np.nan]), np.ones(2), y_prev=0.0, y_train=Y_TRAIN)


def test_mase_of_naive_forecast_in_sample_is_one():
    # Hyndman & Koehler's scale is the in-sample naive MAE, so the naive forecast scored on
    # the training part itself has MASE exactly 1.
    rng = np.random.default_rng(3)
    train = rng.normal(size=40).cumsum()
    assert metrics.mase(train[1:], train[:-1], train) == pytest.approx(1.0)
    assert metrics.mase(train[4:], train[:-4], train, season=4) == pytest.approx(1.0)


def test_metadata():
    assert metrics.columns("forecast") == METRIC_COLUMNS
    assert tuple(m for m in metrics.METRICS if "forecast" in metrics.METRICS[m].tasks) \
        == METRIC_COLUMNS
    assert metrics.METRICS["mfe"].direction == "closer to 0"
    assert metrics.METRICS["vol_ratio"].direction == "closer to 1"
    assert metrics.METRICS["mda"].direction == "higher"
    # rank_value: smaller is better
    assert metrics.rank_value("rmse", 1.0) < metrics.rank_value("rmse", 2.0)
    assert metrics.rank_value("mda", 0.8) < metrics.rank_value("mda", 0.6)
    assert metrics.rank_value("mfe", -1.0) < metrics.rank_value("mfe", 2.0)
    assert metrics.rank_value("vol_ratio", 1.1) < metrics.rank_value("vol_ratio", 0.6)


def test_registry_says_how_each_metric_is_shown():
    info = metrics.METRICS
    assert {m for m, i in info.items() if i.kind == "percent"} == {"mda", "mda_naive",
                                                                   "accuracy"}
    # The figure draws six panels; the naive-anchored MDA only in tables.
    assert [m for m, i in info.items() if i.panel and "forecast" in i.tasks] == [
        "rmse", "mae", "mfe", "mda", "mase", "vol_ratio"]
    assert [info[m].panel.reference for m in ("rmse", "mfe", "mda", "mase", "vol_ratio")] == [
        None, 0.0, 0.5, 1.0, 1.0]
    assert format(0.25, info["mda"].terminal_format) == "25%"


def test_the_registry_derives_columns_and_score_and_result_reads_its_columns():
    from relulab import result

    assert metrics.columns("forecast") == METRIC_COLUMNS == (
        "rmse", "mae", "mfe", "mda", "mda_naive", "mase", "vol_ratio")
    assert result.METRIC_COLUMNS is METRIC_COLUMNS  # one list, not a copy kept equal
    # Each metric's function is the module's own function, and takes what its signature names.
    assert all(m.fn is getattr(metrics, name) for name, m in metrics.METRICS.items())
    assert metrics.METRICS["mda_naive"].takes == ("y_prev", "steps")
    assert metrics.METRICS["mase"].takes == ("y_train", "season")
    assert metrics.METRICS["rmse"].takes == ()
    assert {m.task for m in metrics.METRICS.values()} == {"forecast", "classification"}
    assert metrics.columns("regression") == ("rmse", "mae")
    assert metrics.columns("classification") == ("accuracy", "log_loss", "macro_f1")


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test stay in it."""
    monkeypatch.setattr(metrics, "METRICS", dict(metrics.METRICS))
    monkeypatch.setattr(metrics, "TASKS", dict(metrics.TASKS))
    return metrics


def test_a_metric_is_one_registration(scratch_registry):
    @metrics.metric(label="Max error", direction="lower", description="largest |e_t|",
                    unit="series units", terminal_format=".3g")
    def max_error(y, yhat):
        return float(np.max(np.abs(np.asarray(y) - np.asarray(yhat))))

    assert max_error(Y, YHAT) == 3.0  # still a plain function
    info = metrics.METRICS["max_error"]
    assert (info.short, info.terminal, info.kind, info.panel) == ("Max error", "Max error",
                                                                  "plain", None)
    assert metrics.columns() == (*METRIC_COLUMNS, "max_error")
    s = metrics.score(Y, YHAT, y_prev=Y_PREV, y_train=Y_TRAIN)
    assert list(s) == [*METRIC_COLUMNS, "max_error"] and s["max_error"] == 3.0
    assert metrics.best({"a": 2.0, "b": 1.0}, "max_error") == "b"


def test_a_task_scores_only_its_own_metrics(scratch_registry):
    metrics.TASKS["ranking"] = ("k",)

    @metrics.metric(label="Hit rate", direction="higher", description="share right",
                    unit="share", kind="percent", terminal_format=".0%", task="ranking")
    def hit_rate(y, yhat, k):
        return float(np.mean(np.asarray(y) == np.asarray(yhat)))

    assert metrics.columns() == METRIC_COLUMNS  # the forecast columns are untouched
    assert metrics.columns("ranking") == ("hit_rate",)
    got = metrics.score(np.array([1.0, 2, 2, 0]), np.array([1.0, 2, 0, 0]), task="ranking", k=1)
    assert got == {"hit_rate": 0.75}
    assert tuple(metrics.score(Y, YHAT, y_prev=Y_PREV, y_train=Y_TRAIN)) == METRIC_COLUMNS
    with pytest.raises(TypeError, match="y_prev"):
        metrics.score(Y, YHAT, task="ranking", y_prev=Y_PREV)


@pytest.mark.parametrize("classes", [2, 3, 7])
def test_classification_metrics_equal_scikit_learn(classes):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(classes)
    y = rng.integers(0, classes, size=200)
    logits = rng.normal(size=(200, classes)) + 2.0 * np.eye(classes)[y] * rng.random((200, 1))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[0] = np.eye(classes)[(y[0] + 1) % classes]  # one certain mistake: clipped, not inf
    got = metrics.score(y, p, task="classification")
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, p.argmax(1)), abs=1e-15)
    assert got["macro_f1"] == pytest.approx(
        sk.f1_score(y, p.argmax(1), average="macro", labels=range(classes), zero_division=0),
        rel=1e-12)
    assert got["log_loss"] == pytest.approx(sk.log_loss(y, np.clip(p, 1e-15, 1),
                                                        labels=range(classes)), rel=1e-6)
    assert np.isfinite(got["log_loss"])


def test_regression_scores_rmse_and_mae_only():
    assert metrics.score(Y, YHAT, task="regression") == {"rmse": metrics.rmse(Y, YHAT),
                                                         "mae": metrics.mae(Y, YHAT)}
    with pytest.raises(RelulabError, match="classes"):
        metrics.score(np.array([0, 1]), np.array([0.2, 0.4]), task="classification")


def test_a_registration_that_could_never_be_scored_fails_at_once(scratch_registry):
    def wild(y, yhat, y_future):
        return 0.0

    with pytest.raises(ValueError, match="y_future"):
        metrics.metric(label="x", direction="lower", description="x", unit="x",
                       terminal_format="g")(wild)
    with pytest.raises(ValueError, match="direction"):
        metrics.metric(label="x", direction="smaller", description="x", unit="x",
                       terminal_format="g")(lambda y, yhat: 0.0)
    with pytest.raises(ValueError, match="twice"):
        metrics.metric(label="x", direction="lower", description="x", unit="x",
                       terminal_format="g")(metrics.rmse)
    assert metrics.columns("forecast") == METRIC_COLUMNS
    assert tuple(m for m in metrics.METRICS if "forecast" in metrics.METRICS[m].tasks) \
        == METRIC_COLUMNS


def test_score_refuses_what_no_metric_takes_and_a_non_finite_previous_value():
    with pytest.raises(TypeError, match="y_next"):
        metrics.score(Y, YHAT, y_prev=Y_PREV, y_train=Y_TRAIN, y_next=1.0)
    with pytest.raises(RelulabError, match="NaN"):
        metrics.score(Y, YHAT, y_prev=math.nan, y_train=Y_TRAIN)


def test_metrics_sits_below_the_plain_data_it_feeds():
    """result.py reads its columns from metrics.py, so metrics.py may import nothing of
    relulab but the error type (else the import graph would loop or climb)."""
    tree = ast.parse(Path(metrics.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("relulab")} == {"relulab.errors"}


def test_best_follows_the_direction_and_needs_two_values():
    assert metrics.best({"a": 2.0, "b": 1.0}, "rmse") == "b"
    assert metrics.best({"a": 0.6, "b": 0.8}, "mda") == "b"
    assert metrics.best({"a": -0.5, "b": 1.0}, "mfe") == "a"
    assert metrics.best({"a": 0.7, "b": 1.2}, "vol_ratio") == "b"
    assert metrics.best({"a": 1.0, "b": float("nan"), "c": None}, "rmse") is None
    assert metrics.best({"a": 1.0, "b": 1.0}, "rmse") == "a"  # a tie goes to the first


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(2, 30), elements=finite), st.data())
def test_norm_inequalities(y, data):
    yhat = data.draw(arrays(np.float64, y.shape, elements=finite))
    r, a, f = metrics.rmse(y, yhat), metrics.mae(y, yhat), metrics.mfe(y, yhat)
    # power-mean inequality and the triangle inequality, with float slack
    assert r >= a * (1 - 1e-12) - 1e-12
    assert a >= abs(f) * (1 - 1e-12) - 1e-12
    assert 0.0 <= metrics.mda(y, yhat) <= 1.0
    assert 0.0 <= metrics.mda_naive(y, yhat, 0.0) <= 1.0


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 30), elements=finite))
def test_perfect_forecast(y):
    assert metrics.rmse(y, y) == 0.0
    assert metrics.mda(y, y) == 1.0
    assert metrics.mda_naive(y, y, 0.0) == 1.0
    if np.std(y) > 0:
        assert metrics.vol_ratio(y, y) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(2, 30), elements=st.floats(-100, 100)),
       st.floats(-50, 50), st.floats(0.1, 10))
def test_vol_ratio_of_affine_forecast(y, shift, scale):
    # sd(a + b y) / sd(y) = |b| for any shift a
    if np.std(y) > 1e-6:
        assert metrics.vol_ratio(y, shift + scale * y) == pytest.approx(scale, rel=1e-9)
