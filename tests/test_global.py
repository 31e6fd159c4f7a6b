"""Global models (--global): one model per activation and seed on every series' windows
pooled, scored per series; against the local model and a hand-pooled training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from relulab import training, windows
from relulab.config import StudyConfig
from relulab.data.panel import Panel
from relulab.data.series import Series
from relulab.errors import RelulabError
from relulab.study.jax_trainer import train_spec
from relulab.study.plan import make_plan


def _series(name: str, n: int, seed: int, level: float = 100.0) -> Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return Series(values=level + 10 * np.sin(t / (2 + seed)) + rng.normal(0, 1, n), name=name)


def _config(**kw) -> StudyConfig:
    base = dict(model="mlp", units=3, lookback=4, test_size=6, seeds=3, epochs=4,
                batch_size=4, activations=("tanh", "relu"), scaler="window-standard",
                pooling="global")
    return StudyConfig(**{**base, **kw})


def _run(config: StudyConfig, panel: Panel):
    from relulab.study.outputs import run_panel

    return run_panel(config, panel, keep=None)


@pytest.mark.filterwarnings("ignore:every activation is far behind")
def test_a_global_model_of_one_series_is_its_local_model_bit_for_bit():
    from relulab.study import Study

    s = _series("a", 60, 0)
    glob = _run(_config(), Panel({"a": s})).detail["a"]
    local = Study(_config(pooling="local"), s).run()
    for g, loc in zip(glob.runs, local.runs, strict=True):
        assert (g.activation, g.seed) == (loc.activation, loc.seed)
        np.testing.assert_array_equal(g.forecast, loc.forecast)
        np.testing.assert_array_equal(g.loss, loc.loss)
        np.testing.assert_array_equal(g.val_loss, loc.val_loss)


@pytest.mark.parametrize("horizon", [1, 3])
def test_every_series_is_scored_by_one_model_trained_on_the_pooled_windows(horizon):
    panel = Panel({k: _series(k, n, i, level)
                   for i, (k, n, level) in enumerate([("a", 50, 10.0), ("b", 64, 500.0),
                                                      ("c", 57, 80.0)])})
    config = _config(horizon=horizon)
    result = _run(config, panel)
    # By hand: each series windowed and scaled on its own, the windows pooled, one model
    # per seed trained on them, then asked for each series' test windows.
    preps = {k: windows.prepare(panel[k].values, config) for k in panel.ids}
    data = training.TrainData.from_arrays(
        np.concatenate([p.fit.X for p in preps.values()]),
        np.concatenate([p.fit.y for p in preps.values()]),
        np.concatenate([p.val_loss.X for p in preps.values()]),
        np.concatenate([p.val_loss.y for p in preps.values()]))
    # a global model of several series draws each epoch's shuffle inside its loop
    spec = dataclasses.replace(train_spec(config), shuffle="streamed")
    for activation in config.activations:
        out = training.train_many(spec, activation, data, config.seed_list)
        for k, prep in preps.items():
            runs = [r for r in result.detail[k].runs if r.activation == activation]
            scaled = np.asarray(training.predict_many(spec.model, activation, out.params,
                                                      prep.test.X))
            expect = prep.forecasts(scaled, prep.test)
            np.testing.assert_allclose(np.stack([r.forecast for r in runs]), expect,
                                       rtol=1e-5)
            # One model: every series' run of a seed has the pooled model's loss curve.
            np.testing.assert_allclose(runs[0].loss, np.asarray(out.loss[0]), rtol=1e-5)


def test_a_global_study_is_its_panels_own():
    a, b, c = _series("a", 50, 0), _series("b", 52, 1), _series("c", 54, 2)
    one = make_plan(_config(), Panel({"a": a, "b": b}))
    other = make_plan(_config(), Panel({"a": a, "c": c}))
    assert one.config.panel_key and one.config.panel_key != other.config.panel_key
    assert one.config.key() != other.config.key()
    # A local study's key does not depend on the panel, and is the one it always was.
    local = make_plan(_config(pooling="local"), Panel({"a": a, "b": b}))
    assert local.config.panel_key == ""
    assert local.config.key() == _config(pooling="local").key()


def test_a_resumed_global_study_trains_nothing_it_stored(tmp_path, monkeypatch):
    from relulab.study import global_trainer
    from relulab.study.outputs import run_panel

    panel = Panel({"a": _series("a", 50, 0), "b": _series("b", 56, 1)})
    first = run_panel(_config(), panel, store=tmp_path / "g.db", keep=None)

    def refuse(*args, **kwargs):
        raise AssertionError("a resumed study trained again")

    monkeypatch.setattr(global_trainer.GlobalTrainer, "steps", refuse)
    again = run_panel(_config(), panel, store=tmp_path / "g.db", keep=None)
    for k in panel.ids:
        assert [r.forecast.tolist() for r in again.detail[k].runs] == \
               [r.forecast.tolist() for r in first.detail[k].runs]


def test_global_is_refused_where_it_cannot_mean_anything():
    with pytest.raises(RelulabError, match="applies to forecasts"):
        StudyConfig(task="regression", model="mlp", pooling="global")
    with pytest.raises(RelulabError, match="unknown pooling"):
        StudyConfig(pooling="pooled")
    from relulab.study.ray_executor import RayExecutor

    plan = make_plan(_config(), Panel({"a": _series("a", 50, 0), "b": _series("b", 52, 1)}))
    with pytest.raises(RelulabError, match="leave --executor ray out for --global"):
        RayExecutor().check(plan)


@pytest.mark.filterwarnings("ignore:every activation is far behind")
def test_compare_pools_local_and_global_models_as_arms(tmp_path, capsys):
    import json

    import pandas as pd

    from relulab.cli import main
    from relulab.pooled import pool

    frame = pd.DataFrame({"month": pd.date_range("2001-01-01", periods=56, freq="MS"),
                          **{k: _series(k, 56, i, 50.0 * (i + 1)).values
                             for i, k in enumerate("abc")}})
    frame.to_csv(tmp_path / "w.csv", index=False)
    code = main(["study", "--panel", str(tmp_path / "w.csv"), "--activations", "tanh,relu",
                 "--seeds", "3", "--epochs", "4", "--test-size", "6", "--lookback", "4",
                 "--model", "mlp", "--units", "3", "--compare", "local,global", "--quiet",
                 "--db", str(tmp_path / "c.db"), "--json", str(tmp_path / "c.json"),
                 "--report", str(tmp_path / "c.html")])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "Local and global models as arms" in out
    assert (tmp_path / "c-local.html").exists() and (tmp_path / "c-global.html").exists()
    doc = json.loads((tmp_path / "c.json").read_text())
    assert set(doc["scopes"]) == {"local", "global"}
    assert doc["scopes"]["global"]["config"]["pooling"] == "global"
    # The arms' answer is pool() of both scopes' per-series medians side by side.
    medians = {}
    for scope, result in doc["scopes"].items():
        for sid, s in result["series"].items():
            for a, v in s["median_rmse"].items():
                medians.setdefault(sid, {})[f"{a} ({scope})"] = v
    table = pd.DataFrame.from_dict(medians, orient="index")
    expect = pool(table, "tanh (local)")
    got = {a["activation"]: a for a in doc["compared"]["activations"]}
    assert doc["compared"]["reference"] == "tanh (local)"
    for a in expect.activations:
        assert got[a.activation]["mean_rank"] == pytest.approx(a.mean_rank)
        assert got[a.activation]["wins"] == a.wins
    # The comparison's own report: the arms ranked as the JSON ranks them, every series'
    # arm medians as each scope stored them, and links to the scopes' reports.
    assert "c.html (the comparison; open it in a browser)" in out
    page = (tmp_path / "c.html").read_text()
    assert "Local or global models, and which activation, across 3 series" in page
    assert '<a href="c-local.html">local</a>' in page
    assert '<a href="c-global.html">global</a>' in page
    pooled_table = page[page.index('id="pooled"'):page.index('id="ranks"')]
    ranked = sorted(got.values(), key=lambda a: (a["mean_rank"], a["activation"]))
    at = [pooled_table.index(f"<td>{a['activation']}") for a in ranked]
    assert at == sorted(at)
    for a in ranked:
        assert f"{a['mean_rank']:.2f}" in pooled_table
    rows = page[page.index('id="series-table"'):]
    for sid, arms in medians.items():
        row = rows[rows.index(f'data-v="{sid}"'):]
        row = row[:row.index("</tr>")]
        assert doc["scopes"]["local"]["series"][sid]["study_id"] in row
        for v in arms.values():
            assert f'data-v="{float(v)!r}"' in row
    # A scope that is not local or global: one line, exit code 2.
    code = main(["study", "--panel", str(tmp_path / "w.csv"), "--compare", "local,pooled",
                 "--no-db", "--quiet"])
    assert code == 2 and "--compare takes local,global" in capsys.readouterr().err


def _feistel_by_hand(round_keys: np.ndarray, n: int) -> np.ndarray:
    """The streamed shuffle's permutation of ``[0, n)`` written out with Python integers:
    a balanced Feistel network over ``4 ** k >= n`` values, walked into ``[0, n)``."""
    def mix(x: int) -> int:
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    half = (max(2, (n - 1).bit_length()) + 1) // 2
    mask = (1 << half) - 1

    def network(x: int) -> int:
        left, right = x >> half, x & mask
        for k in round_keys:
            left, right = right, left ^ (mix(right ^ int(k)) & mask)
        return (left << half) | right

    out = []
    for i in range(n):
        y = network(i)
        while y >= n:
            y = network(y)
        out.append(y)
    return np.array(out)


def test_a_streamed_shuffle_is_the_drawn_training_with_each_epochs_order_by_hand():
    """The streamed shuffle changes only where each epoch's order comes from: the same
    initial weights, and training equal to the drawn program fed the orders of the
    Feistel permutation written out by hand here from each epoch's round keys."""
    import jax
    import jax.numpy as jnp

    from relulab.models import ModelSpec, resolve

    rng = np.random.default_rng(0)
    data = training.TrainData.from_arrays(rng.normal(size=(37, 5)), rng.normal(size=37),
                                          rng.normal(size=(9, 5)), rng.normal(size=9))
    drawn = training.TrainSpec(model=ModelSpec(family="lstm"), epochs=6, batch_size=4)
    streamed = dataclasses.replace(drawn, shuffle="streamed")
    key = training.seed_keys(np.array([3]))[0]
    p_drawn, _ = training._start(drawn, 5, 37, key)
    params, k = training._start(streamed, 5, 37, key)
    for a, b in zip(jax.tree.leaves(p_drawn), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    epoch_keys = [jax.random.fold_in(jax.random.wrap_key_data(k), e) for e in range(6)]
    orders = np.stack([_feistel_by_hand(np.asarray(jax.random.bits(
        ek, (training.FEISTEL_ROUNDS,), jnp.uint32)), 37) for ek in epoch_keys])
    for ek, order in zip(epoch_keys, orders, strict=True):
        got = training.epoch_permutation(ek, jnp.arange(37), 37)
        np.testing.assert_array_equal(np.asarray(got), order)
    act = resolve("relu")
    got = jax.jit(lambda: training._fit(streamed, act, data, params, k))()
    want = jax.jit(lambda: training._fit(drawn, act, data, params,
                                         jnp.asarray(orders, jnp.int32)))()
    np.testing.assert_array_equal(np.asarray(got.loss), np.asarray(want.loss))
    np.testing.assert_array_equal(np.asarray(got.val_loss), np.asarray(want.val_loss))
    # Every epoch a permutation, and the epochs' orders differ.
    assert all(sorted(o) == list(range(37)) for o in orders)
    assert len({tuple(o) for o in orders}) == 6


@pytest.mark.parametrize("n", [1, 2, 5, 64, 1000, 4097])
def test_a_streamed_shuffle_is_a_uniform_permutation(n):
    """Every epoch's order is a permutation of the n samples; over 400 epochs where each
    sample lands is uniform (chi-square over positions and samples, tiny n aside), and
    neighbouring samples are not kept together."""
    import jax
    import jax.numpy as jnp
    from scipy import stats

    key = jax.random.key(7)
    epochs = 400
    orders = np.asarray(jax.jit(jax.vmap(
        lambda e: training.epoch_permutation(jax.random.fold_in(key, e), jnp.arange(n), n)))(
        jnp.arange(epochs)))
    assert all(np.array_equal(np.sort(o), np.arange(n)) for o in orders)
    if n < 5:
        return
    cells = min(n, 8)  # positions and samples in 8 bands each: 64 cells
    band = np.minimum(np.arange(n) * cells // n, cells - 1)
    table = np.zeros((cells, cells))
    np.add.at(table, (np.broadcast_to(band, orders.shape), band[orders]), 1)
    assert stats.chi2_contingency(table)[1] > 1e-3
    # Consecutive samples end up next to each other about as often as chance says.
    pairs = np.mean(np.abs(np.diff(orders, axis=1)) == 1)
    assert pairs < 5 * 2 / n + 0.01


def test_a_global_models_memory_does_not_grow_with_its_epochs():
    from relulab.study.global_trainer import GlobalTrainer, global_spec, pooled_folds

    panel = {k: _series(k, n, i) for i, (k, n) in enumerate([("a", 50), ("b", 64)])}
    need = {}
    for epochs in (10, 1000):
        plan = make_plan(_config(epochs=epochs), panel)
        assert global_spec(plan).shuffle == "streamed"
        need[epochs] = GlobalTrainer().memory(plan)
    # Only the per-epoch records grow (a few float32 an epoch and model, held by the call
    # and by each activation's output), not a shuffle order of the pooled windows.
    records = 4 * 990 * training.record_fields(global_spec(plan).model) * 3  # 3 seeds
    assert need[1000] - need[10] == (1 + 2) * records
    drawn = dataclasses.replace(global_spec(plan), shuffle="drawn")
    rows = pooled_folds(plan)[0].rows
    grows = (training.call_memory(dataclasses.replace(drawn, epochs=1000), rows, 4, 1, 3).orders
             - training.call_memory(dataclasses.replace(drawn, epochs=10), rows, 4, 1, 3).orders)
    assert grows == 4 * 990 * rows * 3  # what drawn orders would have added besides
    one = make_plan(_config(), {"a": panel["a"]})
    assert global_spec(one).shuffle == "drawn"  # one series: its local model, bit for bit


@pytest.mark.parametrize(("family", "scaler", "horizon"), [
    ("mlp", "global", 1), ("mlp", "window-standard", 1), ("mlp", "diff", 1),
    ("mlp", "robust", 3), ("lstm", "window-minmax", 1), ("lstm", "global", 3),
    ("gru", "window-standard", 1), ("tcn", "window-standard", 3), ("tcn", "diff", 1)])
@pytest.mark.parametrize("shuffle", ["drawn", "streamed"])
def test_streamed_windows_train_exactly_as_stored_ones(family, scaler, horizon, shuffle):
    """A global model reads its windows from the pooled series inside its program
    (``StreamedData``); trained on the same windows stored (``TrainData``, as a local
    model's), every number is the same, bit for bit: weights, losses, unit statistics."""
    import jax

    from relulab.study.global_trainer import pooled_data, pooled_folds, pooled_layout

    panel = {k: _series(k, n, i, level)
             for i, (k, n, level) in enumerate([("a", 50, 10.0), ("b", 64, 500.0)])}
    config = _config(model=family, scaler=scaler, horizon=horizon, strategy="direct",
                     epochs=3)
    plan = make_plan(config, panel)
    streamed = pooled_data(plan, 0)
    preps = [sp.prepared[0] for sp in plan.series.values()]
    stored = training.TrainData.from_arrays(
        *(np.concatenate([getattr(getattr(p, part), a) for p in preps])
          for part, a in (("fit", "X"), ("fit", "y"), ("val_loss", "X"), ("val_loss", "y"))))
    assert training.make_batch([streamed]).shapes == pooled_layout(plan, pooled_folds(plan)[0])
    spec = dataclasses.replace(train_spec(config), shuffle=shuffle)
    outs = []
    for data in (stored, streamed):
        batch = training.make_batch([data])
        outs.append(training.program(spec, config.activations, batch, config.seeds)
                    .train("relu", batch, config.seed_list))
    for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_streamed_windows_take_the_room_of_the_series_not_of_the_lookback():
    """The pooled data's bytes: 4 a point of every series (8 for a per-window scaler's
    float32 pairs) and a few words a window, whatever the lookback; the stored windows'
    grow with it. XLA's own accounting of the compiled program is held within the
    estimate that guards a study."""
    from relulab.study.global_trainer import (
        GlobalTrainer,
        global_spec,
        pooled_data,
        pooled_folds,
        pooled_layout,
    )
    from relulab.training import layout_bytes

    panel = {k: _series(k, 400, i) for i, k in enumerate("abc")}
    size = {}
    for lookback in (4, 40):
        for scaler in ("global", "window-standard"):
            plan = make_plan(_config(lookback=lookback, scaler=scaler), panel)
            fold = pooled_folds(plan)[0]
            size[lookback, scaler] = layout_bytes(pooled_layout(plan, fold))
            points = sum(sp.prepared[0].values.shape[0] for sp in plan.series.values())
            rows = fold.rows + fold.val_rows
            words = 2 if scaler == "global" else 5  # first, target; + loc pair, 1 / scale
            pair = 1 if scaler == "global" else 2
            assert size[lookback, scaler] == 4 * (pair * points + words * rows + lookback)
            stored = 4 * rows * (lookback + 1)  # TrainData: inputs and target a window
            if lookback == 40:
                assert size[lookback, scaler] < stored / (8 if scaler == "global" else 4)
            # The estimate covers what XLA allocates for the compiled fit.
            spec = global_spec(plan)
            batch = training.make_batch([pooled_data(plan, 0)])
            prog = training.program(spec, ("tanh", "relu"), batch, plan.config.seeds)
            fit = training._fit_program(spec, prog.group, prog.shapes, 1, plan.config.seeds,
                                        False).memory_analysis()
            xla = (fit.argument_size_in_bytes + fit.temp_size_in_bytes
                   + fit.output_size_in_bytes)
            assert xla <= GlobalTrainer().memory(plan, workers=1)
