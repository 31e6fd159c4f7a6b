"""relulab.torch.vectorised.TorchEngine: every seed of a user's PyTorch model at once.

The references are independent of the vectorised path: the standard per-seed loop with
torch.optim (vectorise=False), torch.optim's own optimisers, numpy's permutations, and
DeadUnitMonitor run on the model the engine starts from."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import relulab.torch as rt  # noqa: E402
from relulab.config import StudyConfig  # noqa: E402
from relulab.errors import RelulabError  # noqa: E402
from relulab.tasks import TaskData, run_record  # noqa: E402
from relulab.torch.vectorised import StackedOptimizer, TorchEngine  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is fastest, and does not stall when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

ACTS = {"relu": lambda: rt.module("relu"), "gelu": lambda: rt.module("gelu"),
        "prelu": lambda: rt.module("prelu")}


def _classes(n: int = 72, features: int = 6, classes: int = 3, validation: bool = True,
             seed: int = 0) -> TaskData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5])).astype(np.int64)
    parts = np.split(np.arange(n), [n // 2, 3 * n // 4])
    train, val, test = parts if validation else (np.concatenate(parts[:2]), None, parts[2])
    return TaskData(name="toy", task="classification", x_train=x[train], y_train=y[train],
                    x_val=None if val is None else x[val], y_val=None if val is None else y[val],
                    x_test=x[test], y_test=y[test], classes=classes)


def _regression(n: int = 60) -> TaskData:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=n)
    return TaskData(name="toy-reg", task="regression", x_train=x[:30], y_train=y[:30],
                    x_val=x[30:45], y_val=y[30:45], x_test=x[45:], y_test=y[45:])


def _config(**changes) -> StudyConfig:
    base = dict(task="classification", model="user", epochs=4, batch_size=8,
                learning_rate=1e-2, validation_split=0.2)
    return StudyConfig(**{**base, **changes})


def mlp(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 12), act, nn.Linear(12, 12), rt.module("relu"),
                         nn.Linear(12, 3))


def cnn(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 2, 3)), nn.Conv2d(1, 4, 2, padding=1), act,
                         nn.Conv2d(4, 5, 2), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 2 * 3, 3))


def _same(a, b) -> None:
    """Two lists of Fitted runs agree within float32 rounding."""
    assert [f.seed for f in a] == [f.seed for f in b]
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_allclose(fa.loss, fb.loss, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(fa.val_loss, fb.val_loss, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(fa.test_pred, fb.test_pred, rtol=RTOL, atol=ATOL)
        if fa.val_pred is not None or fb.val_pred is not None:
            np.testing.assert_allclose(fa.val_pred, fb.val_pred, rtol=RTOL, atol=ATOL)
        assert fa.best_epoch == fb.best_epoch
        assert set(fa.epoch_stats) == set(fb.epoch_stats)
        for k in fa.epoch_stats:
            np.testing.assert_allclose(fa.epoch_stats[k], fb.epoch_stats[k], rtol=RTOL,
                                       atol=ATOL)
        assert set(fa.unit_stats) == set(fb.unit_stats)
        for k in fa.unit_stats:
            np.testing.assert_array_equal(fa.unit_stats[k], fb.unit_stats[k])


@pytest.mark.parametrize("build", [mlp, cnn], ids=["mlp", "cnn"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("patience", [None, 1], ids=["no-validation", "patience"])
def test_vectorised_equals_looped(build, optimizer, patience):
    data = _classes(validation=patience is not None)
    config = _config(optimizer=optimizer, patience=patience,
                     learning_rate=0.05 if optimizer == "sgd" else 0.02)
    vectorised = TorchEngine(build, ACTS)
    looped = TorchEngine(build, ACTS, vectorise=False)
    seeds = [0, 3, 4]
    for activation in ("relu", "prelu"):
        fast = vectorised.fit(activation, seeds, data, config)
        assert vectorised.describe()["vectorised"], vectorised.describe()["why"]
        _same(fast, looped.fit(activation, seeds, data, config))
    assert looped.describe()["vectorised"] is False
    if patience is not None:  # early stopping did stop some seed, else it went untested
        assert any(np.isnan(f.loss).any() for f in fast) or config.epochs == 1
    for f in fast:
        assert f.loss.shape == f.val_loss.shape == (config.epochs,)
        assert np.isnan(f.val_loss).all() == (patience is None)


def test_vectorised_equals_looped_for_adamw_regression_and_a_user_loss():
    data = _regression()
    config = _config(task="regression", optimizer="adamw", patience=2)

    def build(act):
        return nn.Sequential(nn.Linear(4, 8), act, nn.Linear(8, 1))  # (n, 1) output

    def huber(output, target):
        assert output.shape == target.shape  # the target comes in the output's shape
        return F.huber_loss(output, target, delta=0.5)

    for loss in (None, huber):
        fast = TorchEngine(build, ACTS, loss=loss).fit("gelu", [1, 2], data, config)
        _same(fast, TorchEngine(build, ACTS, loss=loss, vectorise=False).fit(
            "gelu", [1, 2], data, config))
        assert fast[0].test_pred.shape == (len(data.y_test),)
        assert fast[0].val_pred.shape == (len(data.y_val),)
        assert fast[0].test_pred.dtype == np.float64


def test_default_losses_are_torchs():
    data = _classes(validation=False)
    engine = TorchEngine(mlp, ACTS, vectorise=False)
    config = _config(epochs=1, batch_size=len(data.y_train), learning_rate=1e-30)
    fitted = engine.fit("relu", [7], data, config)[0]
    torch.manual_seed(7)
    model = mlp(rt.module("relu"))
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    with torch.no_grad():
        np.testing.assert_allclose(fitted.loss[0], float(F.cross_entropy(model(x), y)),
                                   rtol=1e-6)
        probs = torch.softmax(model(torch.from_numpy(data.x_test)).double(), dim=1)
    np.testing.assert_allclose(fitted.test_pred, probs.numpy(), rtol=1e-6)
    np.testing.assert_allclose(fitted.test_pred.sum(axis=1), 1.0)


def test_stacked_optimizer_is_torchs_per_seed():
    gen = torch.Generator().manual_seed(0)
    stacked = [torch.randn(3, 4, 5, generator=gen), torch.randn(3, 5, generator=gen)]
    grads = [[torch.randn(p.shape, generator=gen) for p in stacked] for _ in range(4)]
    for kind, cls, extra in (("adam", torch.optim.Adam, {}),
                             ("adamw", torch.optim.AdamW, {"weight_decay": 0.01}),
                             ("sgd", torch.optim.SGD, {})):
        params = [p.clone() for p in stacked]
        ours = StackedOptimizer(params, kind, 0.1, (0.8, 0.9), 1e-3)
        for g in grads:
            ours.step(g)
        for seed in range(3):
            own = [nn.Parameter(p[seed].clone()) for p in stacked]
            hyper = {} if kind == "sgd" else {"betas": (0.8, 0.9), "eps": 1e-3}
            theirs = cls(own, lr=0.1, **hyper, **extra)
            for g in grads:
                for p, gp in zip(own, g, strict=True):
                    p.grad = gp[seed].clone()
                theirs.step()
            for mine, p in zip(params, own, strict=True):
                np.testing.assert_allclose(mine[seed].numpy(), p.detach().numpy(), rtol=1e-6,
                                           atol=1e-7)


def test_flat_parameters_take_the_gradient_in_place_and_see_each_update():
    """The engine's flat parameters: the backward pass adds each parameter's gradient
    into views of one flat gradient (zeroed every step, so a second step does not add to
    the first), a frozen parameter and any other tensor stay out of it, and an update of
    the flat tensor is what the next forward pass uses."""
    from torch.func import stack_module_state

    from relulab.torch import stacked
    from relulab.torch.vectorised import _Flat

    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
        models[-1][2].bias.requires_grad_(False)
    layers = stacked.layers_of(models[0])
    params = _Flat(stack_module_state(models)[0])
    assert params.names == ["0.weight", "0.bias", "2.weight"]
    x = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(1))
    scale = torch.ones((), requires_grad=True)  # a tensor of the loss's own, not a parameter

    def loss(p):
        return stacked.run(layers, p, x, 3).square().sum() * scale

    def reference():
        plain = {k: v.detach().clone().requires_grad_(v.requires_grad)
                 for k, v in params.named().items()}
        grads = torch.autograd.grad(loss(plain), [plain[k] for k in params.names])
        return torch.cat([g.reshape(-1) for g in grads])

    for _ in range(2):
        expected = reference()
        assert torch.equal(params.backward(loss(params.named())), expected)
        with torch.no_grad():
            params.flat.sub_(0.1 * params.grad)
        assert torch.equal(params.named()["0.weight"], params.flat[:36].view(3, 4, 3))
    assert params.named()["2.bias"].requires_grad is False
    assert scale.grad is None


def test_pairing_same_initial_weights_and_batch_orders():
    starts: list[tuple[str, dict]] = []
    seen: list[torch.Tensor] = []

    class Spy(nn.Module):
        def forward(self, x):
            if self.training:
                seen.append(x.detach().clone())
            return x

    def build(act):
        model = nn.Sequential(Spy(), nn.Linear(6, 5), act, nn.Linear(5, 3))
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return model

    data = _classes(n=40, validation=False)
    config = _config(epochs=2, batch_size=7)
    engine = TorchEngine(build, ACTS, vectorise=False, track_units=False)
    by_activation = {}
    for name in ("relu", "gelu"):
        starts.clear(), seen.clear()
        engine.fit(name, [5, 9], data, config)
        by_activation[name] = (list(starts), list(seen))
    (starts_a, seen_a), (starts_b, seen_b) = by_activation.values()
    for a, b in zip(starts_a, starts_b, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(starts_a[0]["1.weight"], starts_a[1]["1.weight"])  # seeds differ
    assert all(torch.equal(a, b) for a, b in zip(seen_a, seen_b, strict=True))
    # ... and the orders are numpy's permutations of [seed, epoch], in batches of 7
    n, x = len(data.y_train), torch.from_numpy(data.x_train)
    expected = [x[torch.from_numpy(np.random.default_rng([s, e]).permutation(n))[i:i + 7]]
                for s in (5, 9) for e in range(2) for i in range(0, n, 7)]
    assert len(seen_a) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(seen_a, expected, strict=True))


def test_a_build_that_ignores_its_activation_is_refused():
    def build(act):
        return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))

    with pytest.raises(RelulabError, match="never calls the activation it was given") as info:
        TorchEngine(build, ACTS).fit("gelu", [0], _classes(), _config())
    assert "\n" not in str(info.value)


def test_wrong_output_shapes_are_refused():
    with pytest.raises(RelulabError, match=r"shape \(4, 4\).*needs \(4, 3\)"):
        TorchEngine(lambda a: nn.Sequential(nn.Linear(6, 5), a, nn.Linear(5, 4)),
                    ACTS).fit("relu", [0], _classes(), _config())
    with pytest.raises(RelulabError, match=r"shape \(4, 2\).*regression needs"):
        TorchEngine(lambda a: nn.Sequential(nn.Linear(4, 5), a, nn.Linear(5, 2)),
                    ACTS).fit("relu", [0], _regression(), _config(task="regression"))
    with pytest.raises(RelulabError, match="not among the engine's activations"):
        TorchEngine(mlp, ACTS).fit("tanh", [0], _classes(), _config())


def test_data_dependent_control_flow_falls_back_to_the_loop():
    class Branchy(nn.Module):
        def __init__(self, act):
            super().__init__()
            self.fc, self.act, self.out = nn.Linear(6, 5), act, nn.Linear(5, 3)

        def forward(self, x):
            h = self.act(self.fc(x))
            if h.sum() > 0:  # a Python branch on a tensor's value
                h = h * 2
            return self.out(h)

    data, config = _classes(), _config(epochs=2)
    engine = TorchEngine(Branchy, ACTS)
    fitted = engine.fit("relu", [0, 1], data, config)
    why = engine.describe()["why"]
    assert engine.describe()["vectorised"] is False
    assert why.startswith("seeds looped: the model's forward uses data-dependent control flow")
    assert "\n" not in why
    _same(fitted, TorchEngine(Branchy, ACTS, vectorise=False).fit("relu", [0, 1], data, config))


@pytest.mark.parametrize("vectorise", [True, False])
def test_divergence_gives_nan_not_an_exception(vectorise):
    data = _classes()
    config = _config(optimizer="sgd", learning_rate=1e30, epochs=3)
    fitted = TorchEngine(mlp, ACTS, vectorise=vectorise).fit("relu", [0, 1], data, config)
    for f in fitted:
        first = int(np.argmax(~np.isfinite(f.loss)))
        assert not np.isfinite(f.loss[first]) and np.isnan(f.loss[first + 1:]).all()
        assert np.isnan(f.test_pred).all() and np.isnan(f.val_pred).all()
        assert run_record(data, "relu", f).diverged


def test_dead_unit_stats_keys_shapes_and_the_monitors_sites():
    class Twice(nn.Module):  # one activation module called at two places: two sites
        def __init__(self, act):
            super().__init__()
            self.a, self.b, self.out = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)
            self.act = act

        def forward(self, x):
            return self.out(self.act(self.b(self.act(self.a(x)))))

    data, config = _classes(), _config(epochs=3)
    fitted = TorchEngine(Twice, ACTS).fit("prelu", [0, 1], data, config)
    torch.manual_seed(0)
    model = Twice(rt.module("prelu"))
    with rt.DeadUnitMonitor(model, functional=False) as monitor:
        model(torch.from_numpy(data.x_train))
    sites = monitor.to_frame()["site"].tolist()
    assert sites == ["act#0", "act#1"]
    for f in fitted:
        expected = {"dead_fraction", "learned:act.weight",
                    *(f"{k}:{s}" for s in sites for k in ("dead_share", "dormant_share"))}
        assert set(f.epoch_stats) == expected
        assert all(v.shape == (3,) for v in f.epoch_stats.values())
        assert set(f.unit_stats) == {f"{k}:{s}" for s in sites
                                     for k in ("dead", "dormant", "death_epoch", "came_back")}
        for s in sites:
            assert f.unit_stats[f"dead:{s}"].shape == (8,)
            assert f.unit_stats[f"dead:{s}"].dtype == bool
            assert f.unit_stats[f"dormant:{s}"].dtype == bool
            assert f.unit_stats[f"came_back:{s}"].dtype == bool
            assert np.issubdtype(f.unit_stats[f"death_epoch:{s}"].dtype, np.integer)
        np.testing.assert_allclose(f.epoch_stats["learned:act.weight"][0], 0.25, atol=0.1)


@pytest.mark.parametrize("vectorise", [True, False])
def test_units_forced_dead_are_reported_dead(vectorise):
    def build(act):
        model = nn.Sequential(nn.Linear(6, 8), act, nn.Linear(8, 3))
        with torch.no_grad():
            model[0].bias.fill_(-100.0)  # every pre-activation far below 0: ReLU outputs 0
        return model

    data, config = _classes(), _config(epochs=3)
    for f in TorchEngine(build, ACTS, vectorise=vectorise).fit("relu", [0, 1], data, config):
        np.testing.assert_array_equal(f.epoch_stats["dead_share:1"], 1.0)
        np.testing.assert_array_equal(f.epoch_stats["dormant_share:1"], 1.0)
        np.testing.assert_array_equal(f.epoch_stats["dead_fraction"], 1.0)
        assert f.unit_stats["dead:1"].all() and (f.unit_stats["death_epoch:1"] == 0).all()
        assert not f.unit_stats["came_back:1"].any()


@pytest.mark.parametrize("vectorise", [True, False])
def test_units_match_the_monitor_on_the_starting_model(vectorise):
    """With a learning rate too small to move a float32 weight, the first epoch's end shows
    the initial model: its dead and dormant units are DeadUnitMonitor's on the first
    max_track training inputs."""
    def build(act):
        model = nn.Sequential(nn.Linear(6, 10), act, nn.Linear(10, 3))
        with torch.no_grad():
            model[0].bias[:4] -= 3.0  # a few units dead or nearly on most inputs
        return model

    data, config = _classes(n=120), _config(epochs=1, learning_rate=1e-30)
    fitted = TorchEngine(build, ACTS, vectorise=vectorise, max_track=25, dormant_threshold=0.3
                         ).fit("relu", [2, 6], data, config)
    for f in fitted:
        torch.manual_seed(f.seed)
        model = build(rt.module("relu")).eval()
        with rt.DeadUnitMonitor(model, threshold=0.3) as monitor, torch.no_grad():
            model(torch.from_numpy(data.x_train[:25]))
        row = monitor.to_frame().iloc[0]
        assert np.flatnonzero(f.unit_stats["dead:1"]).tolist() == row["dead_units"]
        assert np.flatnonzero(f.unit_stats["dormant:1"]).tolist() == row["dormant_units"]
        assert f.epoch_stats["dead_share:1"][0] == row["dead_fraction"]
        assert f.epoch_stats["dormant_share:1"][0] == row["dormant_fraction"]
    assert any(f.unit_stats["dead:1"].any() for f in fitted)  # the case is not vacuous


def test_describe_before_and_after_fit():
    engine = TorchEngine(mlp, ACTS)
    before = engine.describe()
    assert before["framework"] == "pytorch" and before["vectorised"] and before["why"] == ""
    model = mlp(rt.module("relu"))
    assert before["parameters"] == sum(p.numel() for p in model.parameters())
    assert before["model"] == repr(model)
    engine.fit("relu", [0], _classes(), _config(epochs=1))
    assert engine.describe()["parameters"] == before["parameters"]
    looped = TorchEngine(mlp, ACTS, vectorise=False).describe()
    assert looped["vectorised"] is False and looped["why"] == "seeds looped: vectorise=False"


def test_fit_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    TorchEngine(mlp, ACTS).fit("relu", [0], _classes(), _config(epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_batch_norm_and_frozen_parameters_vectorise():
    def build(act):
        model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), act, nn.Linear(8, 3))
        model[0].bias.requires_grad_(False)
        return model

    data, config = _classes(), _config(epochs=3, patience=1)
    engine = TorchEngine(build, ACTS)
    fast = engine.fit("relu", [0, 1], data, config)
    assert engine.describe()["vectorised"], engine.describe()["why"]
    _same(fast, TorchEngine(build, ACTS, vectorise=False).fit("relu", [0, 1], data, config))
    assert all(math.isfinite(f.loss[0]) for f in fast)


@pytest.mark.parametrize("vectorise", [True, False])
def test_dropout_is_drawn_reproducibly(vectorise):
    def build(act):
        return nn.Sequential(nn.Linear(6, 8), act, nn.Dropout(0.3), nn.Linear(8, 3))

    data, config = _classes(), _config(epochs=2)
    engine = TorchEngine(build, ACTS, vectorise=vectorise)
    first = engine.fit("relu", [0, 1], data, config)
    assert engine.describe()["vectorised"] == vectorise, engine.describe()["why"]
    again = engine.fit("relu", [0, 1], data, config)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.loss, b.loss)
        np.testing.assert_array_equal(a.test_pred, b.test_pred)
    assert not np.array_equal(first[0].loss, first[1].loss)


# --- the stacked layers: a Sequential of known layers runs without vmap --------------------


def _wide(act: nn.Module) -> nn.Module:
    """Every kind of layer relulab.torch.stacked runs, nested, one activation instance
    called twice, a frozen parameter, a layer without bias."""
    head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 3, 3, bias=False))
    model = nn.Sequential(
        nn.Unflatten(1, (1, 6)), nn.Conv1d(1, 4, 2, padding=1, dilation=1), act,
        nn.Conv1d(4, 4, 3, padding="same", groups=2), act, nn.MaxPool1d(2),
        nn.Sequential(nn.LayerNorm(3), nn.Dropout(0.0), nn.Identity()),
        nn.AvgPool1d(1), nn.Softmax(dim=-1), head)
    model[1].bias.requires_grad_(False)
    return model


def _image(act: nn.Module) -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 2, 3)), nn.Conv2d(1, 4, 2, padding=1, stride=1),
                         act, nn.Conv2d(4, 6, 2, groups=2, dilation=1), nn.SiLU(),
                         nn.AdaptiveAvgPool2d((1, 2)), nn.Flatten(), nn.Linear(12, 8), act,
                         nn.Linear(8, 3))


@pytest.mark.parametrize("build", [mlp, cnn, _wide, _image],
                         ids=["mlp", "cnn", "every-layer", "image"])
def test_stacked_layers_equal_vmap_and_the_loop(build, monkeypatch):
    """Seed by seed, the stacked layers, vmap and the standard loop train the same
    numbers (units and early stopping included)."""
    data, config = _classes(), _config(epochs=3, patience=1)
    stacked_engine = TorchEngine(build, ACTS)
    fast = stacked_engine.fit("gelu", [0, 2, 5], data, config)
    assert stacked_engine.describe()["seeds"] == "stacked layers"
    _same(fast, TorchEngine(build, ACTS, vectorise=False).fit("gelu", [0, 2, 5], data,
                                                               config))
    monkeypatch.setattr("relulab.torch.stacked.layers_of", lambda model, extra: "forced")
    vmapped = TorchEngine(build, ACTS)
    _same(fast, vmapped.fit("gelu", [0, 2, 5], data, config))
    assert vmapped.describe()["seeds"] == "torch.func.vmap"
    sites = {k.split(":", 1)[1] for k in fast[0].unit_stats if k.startswith("dead:")}
    assert sites == {"2#0", "2#1"} if build is _wide else sites


def test_only_known_layers_run_stacked():
    from relulab.torch.stacked import layers_of

    class Custom(nn.Module):
        def forward(self, x):
            return x

    assert isinstance(layers_of(mlp(rt.module("relu"))), list)
    cases = {
        nn.Sequential(nn.Linear(2, 2), rt.module("prelu")): "learnable parameters",
        nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)): "only vmap runs",
        nn.Sequential(nn.Flatten(0), nn.Linear(2, 2)): "flattens the batch axis",
        nn.Sequential(nn.Softmax(dim=0)): "over the batch axis",
        nn.Sequential(Custom()): "only vmap runs",
        nn.Sequential(nn.Conv1d(1, 1, 2, padding=1, padding_mode="circular")): "padding",
    }
    for model, why in cases.items():
        assert why in layers_of(model), model
    # A model not built of Sequential containers: vmap, every seed still at once.
    engine = TorchEngine(lambda act: _Residual(act), ACTS)
    engine.fit("relu", [0, 1], _classes(), _config(epochs=1))
    assert engine.describe()["seeds"] == "torch.func.vmap"
    assert engine.describe()["vectorised"]


class _Residual(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.inp, self.act, self.out = nn.Linear(6, 6), act, nn.Linear(6, 3)

    def forward(self, x):
        return self.out(x + self.act(self.inp(x)))


_POOL_CASES = {
    "2d": nn.MaxPool2d(2), "2d-overlapping-padded": nn.MaxPool2d(3, stride=1, padding=1),
    "2d-ceil": nn.MaxPool2d(2, ceil_mode=True), "2d-dilated": nn.MaxPool2d(2, dilation=2),
    "1d": nn.MaxPool1d(2), "1d-overlapping": nn.MaxPool1d(3, stride=2, padding=1,
                                                          ceil_mode=True)}


@pytest.mark.parametrize(("pool", "channels_last"), [
    (pool, last) for name, pool in _POOL_CASES.items()
    for last in ((False, True) if name.startswith("2d") else (False,))],
    ids=[f"{name}-{layout}" for name in _POOL_CASES
         for layout in (("nchw", "channels-last") if name.startswith("2d") else ("ncl",))])
def test_stacked_max_pool_gradient_is_torchs_bit_for_bit(pool, channels_last):
    """The stacked layers' max-pooling backward (an add at each output's index) gives
    PyTorch's own gradient exactly: ties (a flat region, where the first index wins),
    overlapping windows (added in the same order), padding, ceil mode and dilation."""
    from relulab.torch.stacked import _call

    two_d = isinstance(pool, nn.MaxPool2d)
    gen = torch.Generator().manual_seed(0)
    shape = (5, 6, 7, 9) if two_d else (5, 6, 11)
    x = torch.randn(*shape, generator=gen)
    x[:, :, :3] = 0.5  # ties
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(pool(x).shape, generator=gen)
    ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out = _call(pool, ours)
    assert torch.equal(out, pool(theirs))
    (g_ours,) = torch.autograd.grad(out, ours, grad)
    (g_theirs,) = torch.autograd.grad(pool(theirs), theirs, grad)
    assert torch.equal(g_ours, g_theirs)
    assert g_ours.stride() == x.stride()  # the input's layout, no conversion
    with torch.no_grad():  # evaluation: the module itself
        assert torch.equal(_call(pool, ours), pool(x))
