"""A table as a task: the loader (relulab.table) and relulab's JAX MLP on it
(relulab.tabular)."""

from __future__ import annotations

import math

import jax
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from relulab.activations import register
from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.table import load_table
from relulab.tabular import (
    ADAMW_WEIGHT_DECAY,
    MLPShape,
    TabularEngine,
    epoch_order,
    initial_params,
    optimizer,
)
from relulab.tasks import baselines, run_record

# --- the loader --------------------------------------------------------------------------


def _classes_frame(seed: int = 0) -> pd.DataFrame:
    """180 rows of three classes (100, 50, 30), a numeric key that tells rows apart, a
    numeric feature and a colour."""
    rng = np.random.default_rng(seed)
    label = np.array(["a"] * 100 + ["b"] * 50 + ["c"] * 30)
    return pd.DataFrame({"key": np.arange(180.0), "x": rng.normal(size=180),
                         "colour": rng.choice(["red", "green", "blue"], size=180),
                         "label": label})


def test_stratified_split_takes_each_class_share_exactly() -> None:
    data = load_table(_classes_frame(), "label", "classification", test_fraction=0.2,
                      validation_split=0.25, seed=3)
    assert data.class_names == ("a", "b", "c")
    # Per class: round(0.2 n) to test, then round(0.25 m) of the rest to validation.
    assert np.bincount(data.y_test, minlength=3).tolist() == [20, 10, 6]
    assert np.bincount(data.y_val, minlength=3).tolist() == [20, 10, 6]
    assert np.bincount(data.y_train, minlength=3).tolist() == [60, 30, 18]
    # The parts are disjoint and hold every row (the key is distinct per row, and one
    # affine map standardises it in every part).
    keys = np.concatenate([data.x_train[:, 0], data.x_val[:, 0], data.x_test[:, 0]])
    assert np.unique(keys).size == 180
    assert data.feature_names == ("key", "x", "colour=blue", "colour=green", "colour=red")
    assert data.description == ("DataFrame: 180 rows, 5 features (3 one-hot), target "
                                "'label', 3 classes")
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64


def test_split_is_seeded() -> None:
    frame = _classes_frame()
    one, same, other = (load_table(frame, "label", "classification", seed=s) for s in (5, 5, 6))
    for a, b in ((one.x_train, same.x_train), (one.x_test, same.x_test),
                 (one.y_val, same.y_val)):
        np.testing.assert_array_equal(a, b)
    assert one.x_test.shape == other.x_test.shape
    assert not np.array_equal(one.x_test, other.x_test)


def test_features_learn_from_the_training_rows_only() -> None:
    # The target is the row number, so each part's targets say which rows it holds.
    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame({"v": rng.normal(3.0, 2.0, n),
                          "city": [f"c{i // 2}" for i in range(n)],  # 30 cities, 2 rows each
                          "row": np.arange(n, dtype=float)})
    data = load_table(frame, "row", "regression", test_fraction=0.3, validation_split=0.2,
                      seed=0)
    rows = {part: getattr(data, f"y_{part}").astype(int) for part in ("train", "val", "test")}
    v = frame["v"].to_numpy()
    mean, sd = v[rows["train"]].mean(), v[rows["train"]].std()
    seen = sorted(set(frame["city"].iloc[rows["train"]]))  # sorted as text: c1, c10, c11
    assert data.feature_names == ("v", *(f"city={c}" for c in seen))
    unseen = 0
    for part, idx in rows.items():
        x = getattr(data, f"x_{part}")
        np.testing.assert_allclose(x[:, 0], (v[idx] - mean) / sd, rtol=1e-6, atol=1e-6)
        for r, city in zip(x[:, 1:], frame["city"].iloc[idx], strict=True):
            expected = np.array([c == city for c in seen], dtype=np.float32)
            np.testing.assert_array_equal(r, expected)
            unseen += city not in seen
    assert unseen > 0  # some rows' cities never reached the training rows: all zeros


def test_constant_training_column_is_left_out_with_a_warning() -> None:
    frame = _classes_frame().assign(flat=1.0)
    with pytest.warns(UserWarning, match="left out, constant on the training rows: flat"):
        data = load_table(frame, "label", "classification")
    assert "flat" not in data.feature_names
    assert data.description.endswith("; constant on the training rows, left out: flat")


def test_bundled_frames_load(tmp_path) -> None:
    cancer = load_breast_cancer(as_frame=True).frame
    data = load_table(cancer, "target", "classification")
    assert data.class_names == ("0", "1") and data.classes == 2
    assert data.x_train.shape[1] == 30
    diabetes = load_diabetes(as_frame=True).frame
    path = tmp_path / "diabetes.csv"
    diabetes.to_csv(path, sep=";", decimal=",", index=False)  # a spreadsheet's CSV
    reg = load_table(path, "target", "regression", name=None)
    assert reg.name == "diabetes:target" and reg.y_train.dtype == np.float64
    assert reg.description == ("diabetes.csv: 442 rows, 10 features (0 one-hot), target "
                               "'target', regression")
    assert len(reg.y_train) + reg.n_val + len(reg.y_test) == 442


def _bad(frame: pd.DataFrame, target: str, task: str, match: str, **kwargs) -> None:
    with pytest.raises(RelulabError, match=match) as caught:
        load_table(frame, target, task, **kwargs)
    assert "\n" not in str(caught.value)


def test_target_column_missing() -> None:
    _bad(_classes_frame(), "y", "classification",
         r"the DataFrame has no column 'y'; available columns: key, x, colour, label; pass "
         r"one of them with --target")


def test_target_with_one_class() -> None:
    _bad(_classes_frame().assign(label="a"), "label", "classification",
         r"holds one class \('a'\); a classification needs two or more")


def test_class_too_rare_to_split() -> None:
    frame = _classes_frame()
    frame.loc[0, "label"] = "z"
    _bad(frame, "label", "classification",
         r"1 class\(es\) with a single row.*'z' \(1 row\); drop those rows or merge them")


def test_classifying_a_quantity_suggests_regression() -> None:
    frame = _classes_frame().assign(label=np.linspace(0.0, 1.0, 180))
    _bad(frame, "label", "classification",
         r"holds 180 distinct numbers, some fractional: a quantity, not classes; pass "
         r"--task regression")


def test_regression_target_not_numeric() -> None:
    _bad(_classes_frame(), "label", "regression",
         r"target column 'label' of the DataFrame is not numeric \(index 0 holds 'a'\); .*"
         r"--task classification")


def test_empty_feature_cells_are_named_with_counts(tmp_path) -> None:
    frame = _classes_frame()
    frame.loc[[3, 7], "x"] = np.nan
    frame.loc[5, "colour"] = ""
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(RelulabError, match=(
            r"data file .*t.csv has empty cells in 2 feature column\(s\): x \(2\), colour "
            r"\(1\); fill them .* or drop those rows or columns")):
        load_table(path, "label", "classification")


def test_empty_target_cell() -> None:
    frame = _classes_frame()
    frame.loc[4, "label"] = None
    _bad(frame, "label", "classification",
         r"target column 'label' of the DataFrame has 1 empty cell\(s\), the first at index "
         r"4; fill them or drop those rows")


def test_identifier_column() -> None:
    frame = _classes_frame().assign(name=[f"patient {i}" for i in range(180)])
    _bad(frame, "label", "classification",
         r"column 'name' of the DataFrame holds 180 distinct values in 180 rows: an "
         r"identifier or free text, not a category; drop the column")


def test_no_feature_columns() -> None:
    _bad(_classes_frame()[["label"]], "label", "classification",
         r"has no column besides the target 'label'; add the columns")


def test_too_few_rows() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 3.0]})
    _bad(frame, "y", "regression",
         r"has 2 rows, too few for a test share of 0.2 and a validation share of 0.2 .*"
         r"pass --validation-split 0")


def test_typo_in_a_number_column() -> None:
    frame = _classes_frame()
    frame["x"] = frame["x"].astype(object)
    frame.loc[9, "x"] = "1.2.3"
    _bad(frame, "label", "classification",
         r"column 'x' of the DataFrame: index 9 holds '1.2.3', which is not a number")


# --- the engine --------------------------------------------------------------------------

CANCER = load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def cancer():
    return load_table(CANCER, "target", "classification", seed=0)


def _config(**changes) -> StudyConfig:
    base = dict(task="classification", model="mlp", units=8, layers=2, epochs=4,
                batch_size=32, activations=("relu", "tanh"))
    return StudyConfig(**{**base, **changes})


def test_vmapped_seeds_equal_each_seed_alone(cancer) -> None:
    config = _config()
    engine = TabularEngine()
    together = engine.fit("relu", [0, 1, 2], cancer, config)
    alone = engine.fit("relu", [1], cancer, config)[0]
    assert [f.seed for f in together] == [0, 1, 2]
    np.testing.assert_allclose(together[1].loss, alone.loss, rtol=1e-5)
    np.testing.assert_allclose(together[1].val_loss, alone.val_loss, rtol=1e-5)
    np.testing.assert_allclose(together[1].test_pred, alone.test_pred, rtol=1e-5, atol=1e-6)
    assert not np.allclose(together[0].test_pred, together[1].test_pred)


def test_initial_weights_are_the_seeds_for_every_activation() -> None:
    shape = MLPShape(inputs=5, units=4, layers=2, outputs=3, init="glorot_uniform")
    relu, tanh, prelu = (initial_params(7, shape, a) for a in ("relu", "tanh", "prelu"))
    for other in (tanh, prelu):
        for a, b in zip(relu["hidden"], other["hidden"], strict=True):
            np.testing.assert_array_equal(a["kernel"], b["kernel"])
            np.testing.assert_array_equal(a["bias"], b["bias"])
        np.testing.assert_array_equal(relu["output"]["kernel"], other["output"]["kernel"])
    assert [float(layer["activation"]["weight"]) for layer in prelu["hidden"]] == [0.25, 0.25]
    assert not np.array_equal(relu["hidden"][0]["kernel"],
                              initial_params(8, shape, "relu")["hidden"][0]["kernel"])
    # Keras' Glorot-uniform bounds and zero biases.
    for (fan_in, fan_out), kernel in zip([(5, 4), (4, 4), (4, 3)],
                                         [*(h["kernel"] for h in relu["hidden"]),
                                          relu["output"]["kernel"]], strict=True):
        assert kernel.shape == (fan_in, fan_out)
        assert np.abs(kernel).max() <= math.sqrt(6 / (fan_in + fan_out))
    assert all(not np.any(h["bias"]) for h in relu["hidden"])
    order = np.asarray(epoch_order(7, 0, 50))
    assert sorted(order.tolist()) == list(range(50))
    assert not np.array_equal(order, np.asarray(epoch_order(7, 1, 50)))


def test_training_starts_from_the_seeds_initial_weights(cancer) -> None:
    # A learning rate too small to move any float32 weight: predictions are the initial
    # network's, computed here in NumPy.
    config = _config(optimizer="sgd", learning_rate=1e-30, epochs=1)
    fitted = TabularEngine().fit("tanh", [3, 11], cancer, config)
    shape = MLPShape.of(cancer, config)
    for f in fitted:
        p = jax.tree.map(lambda a: np.asarray(a, np.float64), initial_params(f.seed, shape,
                                                                             "tanh"))
        a = cancer.x_test.astype(np.float64)
        for layer in p["hidden"]:
            a = np.tanh(a @ layer["kernel"] + layer["bias"])
        logits = a @ p["output"]["kernel"] + p["output"]["bias"]
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(f.test_pred, probs, rtol=1e-5, atol=1e-6)


def test_activations_with_one_function_train_alike(cancer) -> None:
    # Paired seeds: same weights and batches whatever the activation's name, so a twin of
    # relu trains to the same numbers (up to how XLA fuses each program: float32 rounding).
    register("table_twin_relu", lambda x, xp: xp.where(x > 0, x, 0.0 * x))
    config = _config(epochs=3)
    engine = TabularEngine()
    relu = engine.fit("relu", [0, 1], cancer, config)
    twin = engine.fit("table_twin_relu", [0, 1], cancer, config)
    for a, b in zip(relu, twin, strict=True):
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-6)
        np.testing.assert_allclose(a.test_pred, b.test_pred, rtol=1e-6, atol=1e-7)


def test_breast_cancer_classified(cancer) -> None:
    config = _config(units=16, layers=1, epochs=8)
    fitted = TabularEngine().fit("relu", [0, 1, 2], cancer, config)
    accuracy = [run_record(cancer, "relu", f).metrics["accuracy"] for f in fitted]
    assert min(accuracy) > 0.9, accuracy
    for f in fitted:
        assert f.test_pred.shape == (len(cancer.y_test), 2)
        np.testing.assert_allclose(f.test_pred.sum(axis=1), 1.0, rtol=1e-12)


def test_diabetes_regressed_better_than_the_training_mean() -> None:
    data = load_table(load_diabetes(as_frame=True).frame, "target", "regression", seed=0)
    config = _config(task="regression", units=16, layers=1, epochs=40)
    fitted = TabularEngine().fit("relu", [0, 1], data, config)
    mean_rmse = baselines(data)["training mean"]["metrics"]["rmse"]
    rmse = [run_record(data, "relu", f).metrics["rmse"] for f in fitted]
    assert max(rmse) < 0.85 * mean_rmse, (rmse, mean_rmse)
    assert fitted[0].test_pred.shape == (len(data.y_test),)


def test_dead_and_dormant_units_match_a_numpy_count(cancer) -> None:
    # Weights that do not move (see above): each epoch's dead and dormant units are the
    # initial network's on the training rows.
    config = _config(optimizer="sgd", learning_rate=1e-30, epochs=2, units=3, layers=3)
    shape = MLPShape.of(cancer, config)
    fitted = TabularEngine().fit("relu", list(range(12)), cancer, config)
    saw_dead = False
    for f in fitted:
        p = jax.tree.map(lambda a: np.asarray(a, np.float64),
                         initial_params(f.seed, shape, "relu"))
        a = cancer.x_train.astype(np.float64)
        dead_all = []
        for k, layer in enumerate(p["hidden"], start=1):
            a = np.maximum(a @ layer["kernel"] + layer["bias"], 0.0)
            activity = np.abs(a).sum(axis=0)
            dead, dormant = activity == 0, activity <= 0.1 * activity.mean()
            np.testing.assert_array_equal(f.unit_stats[f"dead:hidden{k}"], dead)
            np.testing.assert_array_equal(f.unit_stats[f"dormant:hidden{k}"], dormant)
            np.testing.assert_allclose(f.epoch_stats[f"dead_share:hidden{k}"],
                                       np.full(2, dead.mean()), rtol=1e-6)
            np.testing.assert_array_equal(f.unit_stats[f"death_epoch:hidden{k}"],
                                          np.where(dead, 0, -1))
            assert not f.unit_stats[f"came_back:hidden{k}"].any()
            dead_all.append(dead)
            saw_dead |= bool(dead.any())
        np.testing.assert_allclose(f.epoch_stats["dead_fraction"],
                                   np.concatenate(dead_all).mean(), rtol=1e-6)
    assert saw_dead  # some seed's narrow network has a dead unit at its start


def test_early_stopping_restores_the_best_epoch(cancer) -> None:
    config = _config(epochs=200, patience=3, learning_rate=0.05, units=32)
    for f in TabularEngine().fit("relu", [0, 1], cancer, config):
        best = f.best_epoch
        assert len(f.loss) == best + 3 + 1 < 200  # stopped: patience epochs past the best
        assert f.val_loss[best] == np.min(f.val_loss)
        assert all(len(v) == len(f.loss) for v in f.epoch_stats.values())
        # The predictions are the best epoch's: their validation cross-entropy is its loss.
        ce = -np.mean(np.log(f.val_pred[np.arange(len(cancer.y_val)), cancer.y_val]))
        np.testing.assert_allclose(ce, f.val_loss[best], rtol=1e-4)


def test_divergence_makes_predictions_nan() -> None:
    data = load_table(load_diabetes(as_frame=True).frame, "target", "regression", seed=0)
    config = _config(task="regression", optimizer="sgd", learning_rate=1e4, epochs=3)
    (f,) = TabularEngine().fit("relu", [0], data, config)
    assert np.isnan(f.test_pred).all()
    assert run_record(data, "relu", f).diverged


def test_early_stopping_without_validation_rows_is_refused() -> None:
    data = load_table(_classes_frame(), "label", "classification", validation_split=0.0)
    assert data.x_val is None
    with pytest.raises(RelulabError, match=r"early stopping .* needs validation rows"):
        TabularEngine().fit("relu", [0], data, _config(patience=2))


def test_describe(cancer) -> None:
    engine = TabularEngine()
    engine.fit("relu", [0], cancer, _config(epochs=1))
    assert engine.describe() == {
        "framework": "jax", "model": "MLP 30→8×2→2",
        "parameters": 30 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2, "vectorised": True, "why": ""}


def test_adamw_is_keras_adamw() -> None:
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-7, ADAMW_WEIGHT_DECAY
    opt = optimizer("adamw", lr, b1, b2, eps)
    p = np.array([1.0, -2.0], np.float32)
    state = opt.init(p)
    ref, m, v = p.astype(np.float64), np.zeros(2), np.zeros(2)
    for t, g in enumerate([np.array([0.5, -1.0]), np.array([0.1, 0.3])], start=1):
        updates, state = opt.update(g.astype(np.float32), state, p)
        p = p + np.asarray(updates)
        # keras.optimizers.AdamW: decay the variable, then Adam's step with epsilon hat.
        ref = ref - lr * wd * ref
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        ref = ref - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(p, ref, rtol=1e-6)
