"""Benchmark: a user's Keras 3 models on digits (JAX backend), 4 activations × 10 seeds.

A) the way a user writes it: a Python loop over activations and seeds, each a fresh model
   trained by ``model.fit`` (one call per epoch over the same batch orders as relulab's),
   no unit tracking;
B) :class:`relulab.keras.KerasEngine` with ``vectorise=True``: the seeds of an activation
   as one program (Keras' ``train_step`` under ``jax.vmap``), with its per-epoch dead and
   dormant unit tracking, and once without it.

Data and models as ``benchmarks/torch_study.py``: scikit-learn's bundled digits, split
80/20 by a seeded permutation, standardised; an MLP (64 → 64 → act → 64 → act → 10) and
a small CNN (8×8×1 → conv 16 3×3 same → act → conv 32 3×3 → act → max-pool 2 → flatten →
dense 10). 20 epochs, batch 64, Adam at 1e-3 with Keras' defaults.

Prints each way's wall time, the speed-up A/B, and the largest per-seed difference of the
test log loss between A and B (float32 rounding, not a different training).

    KERAS_BACKEND=jax python benchmarks/keras_study.py [--seeds 10] [--epochs 20]
        [--models mlp] [--repeats 1]

The CNN (``--models mlp,cnn``) is there to be run where time allows: XLA's convolutions
on a 2-core CPU are slow enough that the full CNN comparison did not finish in the 23
minutes it was given here.

Each figure is the best of ``--repeats`` runs (the machine may be shared). A's models and
B's compile once per activation (XLA); both ways pay it inside the figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from torch_study import ACTIVATIONS, digits

EPS = 1e-7


def build(kind: str):
    import keras

    def mlp(act):
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation=act),
                                 keras.layers.Dense(64, activation=act),
                                 keras.layers.Dense(10)])

    def cnn(act):
        return keras.Sequential([
            keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation=act),
            keras.layers.Conv2D(32, 3, activation=act), keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(), keras.layers.Dense(10)])

    return {"mlp": mlp, "cnn": cnn}[kind]


def by_hand(kind, data, seeds, epochs):
    """A: a loop over activations and seeds, model.fit per epoch; test log loss per run."""
    import keras

    from relulab.keras.engine_keras import batch_order

    out = {}
    for act in ACTIVATIONS:
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            model = build(kind)(act)
            model.compile(keras.optimizers.Adam(1e-3, epsilon=EPS),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            y = data.y_train.astype(np.int32)
            for epoch in range(epochs):
                order = batch_order(seed, epoch, len(y))
                model.fit(data.x_train[order], y[order], batch_size=64, epochs=1,
                          shuffle=False, verbose=0)
            logits = np.asarray(model(data.x_test, training=False), np.float64)
            out[act, seed] = _log_loss(logits, data.y_test)
    return out


def _log_loss(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def engine(kind, data, seeds, epochs, track):
    """B: KerasEngine, the seeds of an activation as one program."""
    from relulab.config import StudyConfig
    from relulab.keras import KerasEngine

    config = StudyConfig(task="classification", model="user", epochs=epochs, batch_size=64,
                         learning_rate=1e-3, eps=EPS)
    eng = KerasEngine(build(kind), {a: (lambda a=a: a) for a in ACTIVATIONS},
                      track_units=track)
    out = {}
    for act in ACTIVATIONS:
        for f in eng.fit(act, seeds, data, config):
            p = np.clip(f.test_pred[np.arange(len(data.y_test)), data.y_test], 1e-300, None)
            out[act, f.seed] = float(-np.log(p).mean())
    assert eng.describe()["seeds"] == "jax.vmap", eng.describe()["why"]
    return out


def best_of(repeats, fn, *args):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", default="mlp")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    import keras

    data = digits()
    seeds = list(range(args.seeds))
    print(f"digits: {len(data.y_train)} train / {len(data.y_test)} test, "
          f"{len(ACTIVATIONS)} activations × {args.seeds} seeds, {args.epochs} epochs, "
          f"batch 64, Keras {keras.__version__} on {keras.backend.backend()}, "
          f"{os.cpu_count()} CPUs")
    for kind in args.models.split(","):
        t_a, a = best_of(args.repeats, by_hand, kind, data, seeds, args.epochs)
        t_b, b = best_of(args.repeats, engine, kind, data, seeds, args.epochs, True)
        t_c, _ = best_of(args.repeats, engine, kind, data, seeds, args.epochs, False)
        diff = max(abs(a[k] - b[k]) for k in a)
        print(f"{kind}: A model.fit loop {t_a:7.2f} s | B one program, units tracked "
              f"{t_b:7.2f} s ({t_a / t_b:4.1f}x) | untracked {t_c:7.2f} s "
              f"({t_a / t_c:4.1f}x) | largest per-seed log-loss difference A-B {diff:.1e}")


if __name__ == "__main__":
    main()
