"""The trackers the epoch loop folds (early stopping, divergence, unit health), each folded
by hand over epochs whose numbers are written out here, against Keras' own EarlyStopping
and hand-counted cases. The loop itself is held to its numbers by test_training.py and
the pinned studies."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras

import jax.numpy as jnp
import numpy as np
import pytest

from relulab import training


def _end(epoch: int, ran, *, params=None, loss=1.0, val_loss=1.0, has_val=True, dead=None,
         dormant=None) -> training.EpochEnd:
    return training.EpochEnd(
        epoch=jnp.int32(epoch), ran=jnp.asarray(ran), params=jnp.float32([epoch]),
        loss=jnp.float32(loss), val_loss=jnp.float32(val_loss), has_val=has_val,
        dead_fraction=jnp.float32(0), dead=dead or {}, dormant=dormant or {}, learned={})


def _stop(val_losses, patience):
    """Fold early stopping over ``val_losses``: (which epochs ran, the final state)."""
    tracker = training.early_stopping(patience)
    state = tracker.init(jnp.float32([-1.0]))
    ran = []
    for e, v in enumerate(val_losses):
        ran.append(bool(state.active))
        state = tracker.update(state, _end(e, state.active, val_loss=v))
    return ran, state


VAL_LOSSES = [3.0, 2.0, 2.5, 2.4, 1.0, 0.5]


def test_early_stopping_stops_and_keeps_the_best_epoch_by_hand():
    # Improvements at epochs 0 and 1; then 2 epochs without one use up a patience of 2, so
    # the run stops after epoch 3 and the later, lower losses are never seen.
    ran, state = _stop(VAL_LOSSES, patience=2)
    assert ran == [True, True, True, True, False, False]
    assert int(state.best_epoch) == 1 and float(state.best_val_loss) == 2.0
    np.testing.assert_array_equal(state.best_params, [1.0])  # epoch 1's weights
    # Without patience nothing stops and the last epoch is the one kept.
    ran, state = _stop(VAL_LOSSES, patience=None)
    assert all(ran) and int(state.best_epoch) == len(VAL_LOSSES) - 1


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_early_stopping_is_keras_early_stopping(patience):
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                             restore_best_weights=True)
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    keras_ran = []
    for e, v in enumerate(VAL_LOSSES):
        keras_ran.append(not model.stop_training)
        if not model.stop_training:
            callback.on_epoch_end(e, {"val_loss": v})
    ran, state = _stop(VAL_LOSSES, patience)
    assert ran == keras_ran
    assert int(state.best_epoch) == callback.best_epoch


def test_divergence_counts_a_non_finite_loss_of_an_epoch_that_ran():
    tracker = training.divergence()

    def diverged(*ends) -> bool:
        state = tracker.init(jnp.float32([0.0]))
        for end in ends:
            state = tracker.update(state, end)
        return bool(state.diverged)

    assert not diverged(_end(0, True), _end(1, True))
    assert diverged(_end(0, True), _end(1, True, loss=np.inf), _end(2, True))
    assert diverged(_end(0, True, val_loss=np.nan))
    # A series without validation rows has a NaN val_loss by definition: not a divergence.
    assert not diverged(_end(0, True, val_loss=np.nan, has_val=False))
    assert not diverged(_end(0, True, val_loss=np.nan, has_val=jnp.bool_(False)))
    # An epoch after an early stop changed nothing, whatever it shows.
    assert not diverged(_end(0, True), _end(1, False, loss=np.nan))


def test_unit_health_dates_deaths_and_revivals_and_keeps_the_kept_epoch():
    tracker = training.unit_health({"hidden1": 3})
    # Per epoch, whether each of three units is dead at its end: unit 0 dies at epoch 1 and
    # stays dead, unit 1 is dead at epoch 0 and alive again at epoch 2, unit 2 never dies.
    # Epoch 3 did not run (an early stop): its dead unit 2 is not a death.
    dead = [[0, 1, 0], [1, 1, 0], [1, 0, 0], [1, 0, 1]]
    dormant = [[0, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1]]
    ran = [True, True, True, False]
    kept = [True, False, True, False]  # epoch 2's weights are the ones returned
    state = tracker.init(jnp.float32([0.0]))
    for e in range(4):
        end = _end(e, ran[e], dead={"hidden1": jnp.array(dead[e], bool)},
                   dormant={"hidden1": jnp.array(dormant[e], bool)})
        state = tracker.update(state, end, kept=jnp.bool_(kept[e]))
    assert np.asarray(state.death_epoch["hidden1"]).tolist() == [1, 0, -1]
    assert np.asarray(state.came_back["hidden1"]).tolist() == [False, True, False]
    assert np.asarray(state.dead_kept["hidden1"]).tolist() == [True, False, False]
    assert np.asarray(state.dormant_kept["hidden1"]).tolist() == [True, False, True]
