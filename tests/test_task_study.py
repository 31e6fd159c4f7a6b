"""Supervised task studies through the one pipeline: an engine's runs scored with the
task's metrics, compared on its headline metric with the paired per-example test, stored
(resumed), shown and reported like a forecast study. The engine here is a small exact one
(numbers from the seed and the activation), so every check is about the pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.metrics import columns
from relulab.store import Store
from relulab.study.task_study import TaskTrainer, run_task_study
from relulab.tasks import Fitted, TaskData, baselines, run_record

SHIFT = {"relu": 1.0, "gelu": 1.4, "tanh": 0.7, "silu": 1.0}


def _data(task: str = "classification") -> TaskData:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 4)).astype(np.float32)
    if task == "classification":
        y = (x[:, 0] + 0.7 * rng.normal(size=240) > 0.3).astype(np.int64)
        return TaskData("toy", task, x[:150], y[:150], x[180:], y[180:], x[150:180],
                        y[150:180], classes=2)
    y = 2.0 * x[:, 0] + rng.normal(size=240)
    return TaskData("toy-reg", task, x[:150], y[:150], x[180:], y[180:])


class Exact:
    """Predictions from the seed and the activation only; records what it was asked."""

    def __init__(self, stop_at: str | None = None) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []
        self.stop_at = stop_at

    def _pred(self, data: TaskData, x: np.ndarray, activation: str, seed: int) -> np.ndarray:
        noise = np.random.default_rng([seed, 7]).normal(size=len(x))
        z = SHIFT[activation] * x[:, 0] + 0.4 * noise
        if data.task == "classification":
            p1 = 1.0 / (1.0 + np.exp(-z))
            return np.stack([1.0 - p1, p1], axis=1)
        return 2.0 * z

    def fit(self, activation, seeds, data, config):
        if activation == self.stop_at:
            raise KeyboardInterrupt
        self.calls.append((activation, tuple(seeds)))
        e = config.epochs
        return [Fitted(seed=s, loss=np.linspace(1.0, 0.5, e), val_loss=np.linspace(1.1, 0.6, e),
                       best_epoch=e - 1, test_pred=self._pred(data, data.x_test, activation, s),
                       val_pred=self._pred(data, data.x_val, activation, s)
                       if data.x_val is not None else None,
                       epoch_stats={"dead_fraction": np.zeros(e), "dead_share:h1": np.zeros(e),
                                    "dormant_share:h1": np.full(e, 0.25)},
                       unit_stats={"dead:h1": np.zeros(4, bool),
                                   "dormant:h1": np.array([1, 0, 0, 0], bool),
                                   "death_epoch:h1": np.full(4, -1),
                                   "came_back:h1": np.zeros(4, bool)})
                for s in seeds]

    def describe(self):
        return {"framework": "exact", "model": "Exact()", "parameters": 0,
                "vectorised": False, "why": "seeds looped: the exact engine has no program"}


def _config(task: str = "classification", **kw) -> StudyConfig:
    return StudyConfig(task=task, model="user", model_id="exact",
                       activations=kw.pop("activations", ("relu", "gelu", "tanh")),
                       reference="relu", seeds=kw.pop("seeds", 6), epochs=3, batch_size=32,
                       bootstrap=300, **kw)


def test_a_classification_study_compares_log_loss_with_the_paired_test(tmp_path):
    data = _data()
    result, written = run_task_study(Exact(), data, _config(), db=tmp_path / "r.db",
                                     report=tmp_path / "r.html")
    assert tuple(result.summary["metric"].unique()) == columns("classification")
    assert {c.metric for c in result.comparisons} == {"log_loss"}
    gelu = next(c for c in result.comparisons if c.activation == "gelu")
    # gelu's sharper logits fit this data better on every seed
    assert gelu.rel_diff < 0 and gelu.prob_improvement == 1.0 and gelu.accuracy == "more_accurate"
    assert "paired p" in gelu.verdict and "volatility" not in gelu.verdict
    assert math.isnan(gelu.vol_ratio) and gelu.volatility == "none"
    # The paired test is the t-test on the seed-averaged per-example losses (DM at h = 1
    # with the HLN factor is exactly that).
    y = data.y_test
    def mean_loss(a):
        runs = [r for r in result.runs if r.activation == a]
        return np.mean([-np.log(r.forecast.reshape(-1, 2)[np.arange(y.size), y])
                        for r in runs], axis=0)
    t = sps.ttest_rel(mean_loss("gelu"), mean_loss("relu"))
    assert gelu.dm_stat == pytest.approx(t.statistic, rel=1e-9)
    assert (result.runs_frame.columns[4:] == list(columns("classification"))).all()
    # The baseline is the training prior: its accuracy is the test share of the majority.
    prior = result.baselines["class prior"]["metrics"]
    majority = np.bincount(data.y_train).argmax()
    assert prior["accuracy"] == pytest.approx(np.mean(data.y_test == majority))
    assert "seeds looped: the exact engine has no program" in result.warnings
    html = written.report.read_text(encoding="utf-8")
    assert 'id="model"' in html and 'id="forecasts"' not in html and "paired p" in html
    assert "Exact()" not in html or "exact" in html


def test_a_regression_study_rests_on_rmse():
    result, _ = run_task_study(Exact(), _data("regression"), _config("regression"))
    assert tuple(result.summary["metric"].unique()) == ("rmse", "mae")
    assert {c.metric for c in result.comparisons} == {"rmse"}
    assert "training mean" in result.baselines
    assert all("RMSE" in c.verdict for c in result.comparisons)


def test_the_store_keeps_each_activation_and_a_rerun_resumes(tmp_path):
    db = tmp_path / "r.db"
    data, config = _data(), _config()
    with pytest.raises(KeyboardInterrupt):
        run_task_study(Exact(stop_at="tanh"), data, config, db=db)
    with Store(db) as store:
        (study_id,) = store.list_studies()["id"]
        assert store.completed_activations(study_id) == {"relu", "gelu"}
    engine = Exact()
    resumed, _ = run_task_study(engine, data, config, db=db)
    assert engine.calls == [("tanh", tuple(config.seed_list))]  # only what was missing
    whole, _ = run_task_study(Exact(), data, config)
    assert resumed.study_id == study_id
    for a, b in zip(resumed.comparisons, whole.comparisons, strict=True):
        assert a.verdict == b.verdict
    with Store(db) as store:
        loaded = store.load(study_id)
    assert loaded.task == "classification" and loaded.comparisons[0].task == "classification"
    assert loaded.comparisons[0].verdict == resumed.comparisons[0].verdict


def test_another_model_is_another_study(tmp_path):
    db = tmp_path / "r.db"
    a, _ = run_task_study(Exact(), _data(), _config(), db=db)
    b, _ = run_task_study(Exact(), _data(), _config().replace(model_id="other"), db=db)
    assert a.study_id != b.study_id


def test_task_data_refuses_what_cannot_be_scored():
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(RelulabError, match="4 inputs but 3 targets"):
        TaskData("d", "classification", x, np.array([0, 1, 0]), x, np.array([0, 1, 0, 1]),
                 classes=2)
    with pytest.raises(RelulabError, match=r"labels must be integers 0\.\.1"):
        TaskData("d", "classification", x, np.array([0, 1, 2, 1]), x, np.array([0, 1, 0, 1]),
                 classes=2)
    with pytest.raises(RelulabError, match="unknown task"):
        TaskData("d", "ranking", x, np.zeros(4), x, np.zeros(4))
    data = _data()
    bad = Fitted(seed=0, loss=np.ones(2), val_loss=np.ones(2), best_epoch=1,
                 test_pred=np.zeros((len(data.y_test), 3)))
    with pytest.raises(RelulabError, match="one logit per class"):
        run_record(data, "relu", bad)


def test_a_diverged_seed_is_scored_nan_and_left_out():
    data = _data()
    n = len(data.y_test)
    fitted = Fitted(seed=0, loss=np.array([1.0, np.nan]), val_loss=np.full(2, np.nan),
                    best_epoch=0, test_pred=np.full((n, 2), np.nan))
    run = run_record(data, "relu", fitted)
    assert run.diverged and all(math.isnan(v) for v in run.metrics.values())
    assert baselines(data)["class prior"]["forecast"].size == 2 * n


def test_the_trainer_stores_one_activation_per_piece():
    from relulab.study.plan import make_task_plan

    plan = make_task_plan(_config(), _data(), TaskTrainer(Exact()))
    pieces = plan.trainer.pieces(plan, per_call=16)
    assert [p.work for p in pieces] == ["relu", "gelu", "tanh"]
    with pytest.raises(RelulabError, match="regression task"):
        make_task_plan(_config(), _data("regression"), TaskTrainer(Exact()))
