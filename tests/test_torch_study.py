"""``relulab.torch.study`` as a user calls it: a build function or a model with hard-coded
activations (swapped inside copies, the user's model untouched), a registered activation,
the user's own module class, data as arrays, a Dataset or a DataLoader; stored, reported,
resumed after the process is killed outright; bad arguments one line each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import relulab.torch as rt  # noqa: E402
from relulab.activations import custom  # noqa: E402
from relulab.activations._registry import SPECS  # noqa: E402
from relulab.errors import RelulabError  # noqa: E402
from relulab.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _blobs(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 6)).astype(np.float32) + 1.5 * np.eye(3, 6)[y].astype(np.float32)
    return x, y


X, Y = _blobs()
TRAIN, TEST = (X[:180], Y[:180]), (X[180:], Y[180:])
FAST = dict(seeds=3, epochs=3, batch_size=32, db=None, progress=False)


def mlp(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), act, nn.Linear(16, 3))


class Hardcoded(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU())
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.body(x))


@pytest.fixture
def fresh():
    before = set(SPECS)
    yield
    for name in set(SPECS) - before:
        del SPECS[name]
        custom._REGISTERED.pop(name, None)


def test_a_study_in_three_lines_gives_verdicts_dead_units_and_a_report(tmp_path):
    result = rt.study(mlp, TRAIN, TEST, task="classification",
                      activations=["relu", "gelu"], **{**FAST, "db": tmp_path / "r.db"},
                      report=tmp_path / "r.html")
    assert [c.activation for c in result.comparisons] == ["gelu"]
    assert result.comparisons[0].metric == "log_loss"
    assert result.diagnostics.sites["relu"] and result.diagnostics.sites["relu"][0].units == 16
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Sequential(" in html and "pytorch" in html
    with Store(tmp_path / "r.db") as store:
        assert store.load(result.study_id).config.model == "user"


def test_a_hard_coded_model_is_swapped_inside_copies_and_left_untouched():
    model = Hardcoded()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = rt.study(model, TRAIN, TEST, task="classification",
                      activations=["relu", "elu"], **FAST)
    assert all(isinstance(model.body[i], nn.ReLU) for i in (1, 3))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # two distinct ReLU modules: two sites of 16 units each, in every arm
    assert [h.units for h in result.diagnostics.sites["elu"]] == [16, 16]
    assert "Hardcoded(" in result.config.model_description


def test_seed_s_of_every_arm_starts_from_the_same_weights():
    seen: dict[str, list[torch.Tensor]] = {}

    def build(act):
        model = mlp(act)
        seen.setdefault(type(act).__name__, []).append(model[0].weight.detach().clone())
        return model

    rt.study(build, TRAIN, TEST, task="classification", activations=["relu", "tanh"],
             vectorise=False, **FAST)
    relu, tanh = seen["ReLU"], seen["Tanh"]
    # the engine builds once to describe, then once per seed: the per-seed builds pair up
    assert all(torch.equal(a, b) for a, b in zip(relu[-3:], tanh[-3:], strict=True))
    assert not torch.equal(relu[-1], relu[-2])


def test_a_registered_activation_and_a_users_module_class_enter_a_study(fresh):
    from relulab.activations import register

    register("squared_relu", lambda x, xp: xp.maximum(x, 0.0) ** 2)

    class Cube(nn.Module):
        def forward(self, x):
            return x * x * x / 10

    result = rt.study(mlp, TRAIN, TEST, task="classification",
                      activations=["relu", "squared_relu", Cube], **FAST)
    assert result.config.activations == ("relu", "squared_relu", "Cube")
    assert {r.activation for r in result.runs} == {"relu", "squared_relu", "Cube"}
    assert len(result.comparisons) == 2


def test_data_as_a_dataset_or_a_dataloader_gives_the_arrays_study():
    from torch.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(torch.from_numpy(X[:180]), torch.from_numpy(Y[:180]))
    arrays = rt.study(mlp, TRAIN, TEST, task="classification", activations=["relu"], **FAST)
    loader = rt.study(mlp, DataLoader(ds, batch_size=50), TEST, task="classification",
                      activations=["relu"], **FAST)
    dataset = rt.study(mlp, ds, TEST, task="classification", activations=["relu"], **FAST)
    for other in (loader, dataset):
        assert other.runs_frame["log_loss"].tolist() == arrays.runs_frame["log_loss"].tolist()


def test_a_regression_with_validation_and_early_stopping():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=200)
    result = rt.study(lambda act: nn.Sequential(nn.Linear(4, 8), act, nn.Linear(8, 1)),
                      (x[:120], y[:120]), (x[160:], y[160:]), validation=(x[120:160],
                                                                          y[120:160]),
                      task="regression", activations=["relu", "silu"], patience=2,
                      **{**FAST, "epochs": 6})
    assert {c.metric for c in result.comparisons} == {"rmse"}
    assert result.runs[0].val_metrics["rmse"] > 0
    assert "training mean" in result.baselines


@pytest.mark.parametrize(("kwargs", "says"), [
    (dict(build=lambda act: nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))),
     "never calls the activation"),
    (dict(build=lambda act: nn.Sequential(nn.Linear(6, 16), act, nn.Linear(16, 4))),
     "classification of 3 classes"),
    (dict(build=lambda act: nn.Sequential(nn.Linear(5, 16), act, nn.Linear(16, 3))),
     "fails on training inputs"),
    (dict(activations=["relu", "nope"]), "unknown activation"),
    (dict(activations=["relu", "relu"]), "given twice"),
    (dict(activations=["relu", "ReLU"]), "one function"),
    (dict(task="ranking"), "unknown task"),
    (dict(patience=2), "needs validation data"),
    (dict(reference="elu"), "not among the activations"),
    (dict(test=(X[180:], Y[180:200])), "60 inputs but 20 targets"),
    (dict(test=(X[180:, :4], Y[180:])), "differ in shape"),
    (dict(build=Hardcoded().body[0]), "no activation module to swap"),
])
def test_bad_arguments_are_one_line(kwargs, says):
    args = dict(build=mlp, train=TRAIN, test=TEST, task="classification",
                activations=["relu", "gelu"], **FAST)
    args.update(kwargs)
    with pytest.raises(RelulabError) as err:
        rt.study(args.pop("build"), args.pop("train"), args.pop("test"), **args)
    assert says in str(err.value) and "\n" not in str(err.value)


SCRIPT = textwrap.dedent("""
    import sys
    import time
    import numpy as np
    from torch import nn
    import relulab.torch as rt

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = (rng.normal(size=(300, 6)) + 1.5 * np.eye(3, 6)[y]).astype(np.float32)

    def build(act):
        # "stall": every activation after relu waits before it builds, so the study is
        # surely killed after relu is stored and before the next is
        if sys.argv[2] == "stall" and type(act).__name__ != "ReLU":
            time.sleep(600)
        return nn.Sequential(nn.Linear(6, 32), act, nn.Linear(32, 3))

    result = rt.study(build, (x[:200], y[:200]), (x[200:], y[200:]), task="classification",
                      activations=["relu", "tanh", "elu", "gelu"], seeds=4, epochs=5,
                      batch_size=16, db=sys.argv[1], progress=False)
    print(result.study_id)
""")


@pytest.mark.slow
def test_a_study_killed_outright_resumes_with_what_is_missing(tmp_path):
    """SIGKILL after the first activation is stored (the next one stalls in its build):
    nothing stored is lost or retrained, and the finished study equals one that was never
    interrupted."""
    script = tmp_path / "study.py"
    script.write_text(SCRIPT)
    db = tmp_path / "r.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(db), "stall"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            with Store(db) as store:
                ids = list(store.list_studies()["id"])
                done = store.completed_activations(ids[0]) if ids else set()
            if done:
                break
    assert proc.poll() is None, "the study finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert done == {"relu"}
    with Store(db) as store:
        (study_id,) = store.list_studies()["id"]
        stored = {r.activation for r in store.load_runs(study_id)}
    assert stored == done  # a group is stored whole or not at all
    again = subprocess.run([sys.executable, str(script), str(db), "go"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == study_id
    whole = tmp_path / "whole.db"
    subprocess.run([sys.executable, str(script), str(whole), "go"], env=env, check=True,
                   capture_output=True, timeout=300)
    with Store(db) as a, Store(whole) as b:
        ra = {(r.activation, r.seed): r.metrics["log_loss"] for r in a.load_runs(study_id)}
        rb = {(r.activation, r.seed): r.metrics["log_loss"] for r in b.load_runs(study_id)}
        timing = json.loads(json.dumps(a.load(study_id).timing))
    assert ra.keys() == rb.keys() and len(ra) == 16
    assert all(np.isclose(ra[k], rb[k], rtol=1e-5) for k in ra)
    assert timing["groups_cached"] == len(done)


@pytest.fixture
def scratch_metrics(monkeypatch):
    from relulab import metrics

    monkeypatch.setattr(metrics, "METRICS", dict(metrics.METRICS))


def test_your_own_metric_is_scored_summarised_and_shown(scratch_metrics):
    def brier(y, p):
        return float(np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, axis=1)))

    result = rt.study(mlp, TRAIN, TEST, task="classification", activations=["relu", "gelu"],
                      metrics={"brier": brier, "top2": (lambda y, p: float(np.mean(
                          (np.argsort(p, axis=1)[:, -2:] == y[:, None]).any(1))), "higher")},
                      **FAST)
    assert {"brier", "top2"} <= set(result.summary["metric"])
    for run in result.runs:  # the stored predictions give the same number
        assert run.metrics["brier"] == pytest.approx(brier(TEST[1], run.forecast.reshape(-1, 3)))
    with pytest.raises(RelulabError, match="registered already"):
        rt.study(mlp, TRAIN, TEST, task="classification", activations=["relu"],
                 metrics={"brier": lambda y, p: 0.0}, **FAST)
    with pytest.raises(RelulabError, match="direction"):
        rt.study(mlp, TRAIN, TEST, task="classification", activations=["relu"],
                 metrics={"odd": (brier, "sideways")}, **FAST)
