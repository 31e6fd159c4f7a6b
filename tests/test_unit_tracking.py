"""Dead and dormant units at every activation site, per epoch, tracked inside training.

The references are facts a reader can check by hand: a ReLU unit whose bias is -1e3 over
inputs of order 1 outputs exactly 0 (dead); a GELU unit with bias -6 outputs about -6e-9,
never 0 (dormant, not dead); with a learning rate of 0 nothing moves, so such units stay
as built from the first epoch on.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from relulab import models, training
from relulab.models import ModelSpec


def _data(n_fit: int = 24, n_val: int = 6, L: int = 5) -> training.TrainData:
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(n_fit + n_val, L)).astype(np.float32)
    y = np.sin(X.sum(axis=1))
    return training.TrainData.from_arrays(X[:n_fit], y[:n_fit], X[n_fit:], y[n_fit:])


def _fit_built(spec: training.TrainSpec, activation: str, silence: dict[str, list[int]],
               bias: float):
    """Train one model whose chosen units start with ``bias`` (a learning rate of 0 keeps
    them)."""
    data = _data()
    params, orders = training._start(spec, 5, data.X_fit.shape[0], jax.random.key(0))
    for site, units in silence.items():
        k = int(site.removeprefix("hidden")) - 1
        layer = dict(params["hidden"][k])
        layer["bias"] = layer["bias"].at[np.array(units)].set(bias)
        params = {**params, "hidden": tuple(layer if i == k else h
                                            for i, h in enumerate(params["hidden"]))}
    return training._fit(spec, models.resolve(activation), data, params, orders,
                         learning_rate=0.0)


MLP = ModelSpec(family="mlp", units=6, layers=2)


def test_built_dead_units_are_found_at_their_site_from_the_first_epoch() -> None:
    spec = training.TrainSpec(model=MLP, epochs=3)
    out = _fit_built(spec, "relu", {"hidden1": [0, 3], "hidden2": [5]}, bias=-1e3)
    u = out.unit_stats
    assert np.flatnonzero(np.asarray(u["dead:hidden1"])).tolist() == [0, 3]
    assert np.flatnonzero(np.asarray(u["dead:hidden2"])).tolist() == [5]
    assert np.asarray(u["death_epoch:hidden1"]).tolist() == [0, -1, -1, 0, -1, -1]
    assert not np.asarray(u["came_back:hidden1"]).any()
    np.testing.assert_array_equal(out.epoch_stats["dead_share:hidden1"], np.float32([2 / 6] * 3))
    np.testing.assert_array_equal(out.epoch_stats["dead_share:hidden2"], np.float32([1 / 6] * 3))
    # A dead unit is dormant too.
    assert np.asarray(u["dormant:hidden1"])[[0, 3]].all()


def test_a_smooth_activation_is_dormant_never_dead() -> None:
    spec = training.TrainSpec(model=MLP, epochs=2)
    out = _fit_built(spec, "gelu", {"hidden1": [1, 2]}, bias=-6.0)
    u = out.unit_stats
    assert not np.asarray(u["dead:hidden1"]).any()
    assert np.flatnonzero(np.asarray(u["dormant:hidden1"])).tolist() == [1, 2]
    np.testing.assert_array_equal(out.epoch_stats["dormant_share:hidden1"], np.float32([2 / 6] * 2))
    np.testing.assert_array_equal(out.epoch_stats["dead_share:hidden1"], [0.0] * 2)


def test_the_dormancy_score_is_reDo_s() -> None:
    a = np.array([[1.0, 0.0, -0.05, 2.0], [3.0, 0.0, 0.05, -2.0]], np.float32)
    dead, dormant = training.health_of(np.abs(a).sum(axis=0), 0.1)
    # mean |a| per unit: 2, 0, 0.05, 2; the site's mean 1.0125; scores 1.98, 0, 0.049, 1.98
    assert np.asarray(dead).tolist() == [False, True, False, False]
    assert np.asarray(dormant).tolist() == [False, True, True, False]


@pytest.mark.parametrize("family", ["lstm", "mlp"])
def test_tracking_changes_no_number_of_training(family: str) -> None:
    model = ModelSpec(family=family, units=4, layers=2)
    on = training.TrainSpec(model=model, epochs=5, batch_size=4, learning_rate=0.05)
    off = training.TrainSpec(model=model, epochs=5, batch_size=4, learning_rate=0.05,
                             track_units=False)
    a = training.train_many(on, "prelu", _data(), range(3))
    b = training.train_many(off, "prelu", _data(), range(3))
    for x, y in zip(jax.tree.leaves((a.params, a.loss, a.val_loss, a.best_epoch)),
                    jax.tree.leaves((b.params, b.loss, b.val_loss, b.best_epoch)), strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.epoch_stats["dead_fraction"], b.epoch_stats["dead_fraction"])
    assert set(b.epoch_stats) == {"dead_fraction"} and b.unit_stats == {}
    sites = {"lstm": ["lstm1.candidate", "lstm1.cell", "lstm2.candidate", "lstm2.cell"],
             "mlp": ["hidden1", "hidden2"]}[family]
    assert sorted(k.split(":", 1)[1] for k in a.epoch_stats if k.startswith("dead_share:")) \
        == sites
    # PReLU's learned slope per layer and epoch, starting from 0.25 and moving.
    slopes = [k for k in a.epoch_stats if k.startswith("learned:")]
    assert len(slopes) == 2 and all(k.endswith(".activation.weight") for k in slopes)
    assert not np.allclose(np.asarray(a.epoch_stats[slopes[0]])[:, -1], 0.25)


def test_death_epochs_agree_with_the_per_epoch_shares() -> None:
    # ReLU at a learning rate that kills units during training.
    spec = training.TrainSpec(model=MLP, epochs=40, batch_size=4, learning_rate=0.3)
    out = training.train_many(spec, "relu", _data(), range(6))
    for site in ("hidden1", "hidden2"):
        death = np.asarray(out.unit_stats[f"death_epoch:{site}"])
        back = np.asarray(out.unit_stats[f"came_back:{site}"])
        share = np.asarray(out.epoch_stats[f"dead_share:{site}"])
        for s in range(death.shape[0]):
            if back[s].any():
                continue
            for e in range(share.shape[1]):
                # Without revivals, the units dead at epoch e are those that died by then.
                died = (death[s] >= 0) & (death[s] <= e)
                assert share[s, e] == pytest.approx(died.mean()), (site, s, e)
    assert (np.asarray(out.unit_stats["death_epoch:hidden1"]) >= 0).any()  # some died


def test_a_study_carries_unit_health_to_the_table_the_report_and_the_figures(tmp_path) -> None:
    import io

    from rich.console import Console

    from relulab.cli.render import show_result
    from relulab.config import preset
    from relulab.figures import unit_health_figure
    from relulab.report import render_report
    from relulab.study import Study

    rng = np.random.default_rng(0)
    values = 50 + 20 * np.sin(np.arange(80) / 3) + rng.normal(0, 3, 80)
    config = preset("seed", model="mlp", units=6, layers=2, activations=("relu", "gelu"),
                    reference="relu",
                    seeds=3, epochs=30, learning_rate=0.05, test_size=10)
    result = Study(config, values).run()
    d = result.diagnostics
    assert [h.site for h in d.sites["relu"]] == ["hidden1", "hidden2"]
    for act in ("relu", "gelu"):
        kept = []
        for r in result.runs:
            if r.activation != act or r.diverged:
                continue
            shares = [r.epoch_stats[f"dead_share:{s}"][r.best_epoch] for s in ("hidden1",
                                                                                "hidden2")]
            kept.append(np.mean(shares))  # equal units per site: the pooled share
        assert d.units_dead[act] == pytest.approx(float(np.median(kept)))
    assert d.units_dead["gelu"] == 0.0  # gelu is never exactly 0 on these inputs
    out = io.StringIO()
    show_result(Console(file=out, width=200), result)
    assert "dead units" in out.getvalue() and "dormant" in out.getvalue()
    assert unit_health_figure(result) is not None
    page = render_report(result)
    assert "Dead and dormant units, at every place the activation is applied" in page
    assert '<td class="mono">hidden2</td>' in page
