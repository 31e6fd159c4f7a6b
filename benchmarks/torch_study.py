"""Benchmark: a user's PyTorch models on digits, 4 activations × 10 seeds, two ways.

A) the way a user writes it: a Python loop over activations and seeds, each model trained
   by the standard loop (``torch.optim.Adam``, ``zero_grad``/``backward``/``step``), the
   same seeds and the same batch orders as relulab's; once without dead units (A0) and
   once with them as relulab reports them (A1: at every epoch's end, in evaluation mode,
   a pass over the first 2048 training inputs watched by
   :class:`relulab.torch.DeadUnitMonitor`, the study's default definition);
B) :class:`relulab.torch.vectorised.TorchEngine`, the seeds of an activation trained as one
   vmapped program, with its per-epoch dead/dormant unit tracking (B1, what
   ``relulab.torch.study`` does by default) and without it (B0).

Data: scikit-learn's bundled digits (1797 images of 8×8 pixels, 10 classes), split 80/20
by a seeded permutation and standardised with the training split's mean and standard
deviation. Models: an MLP (64 → 64 → act → 64 → act → 10) and a small CNN (1×8×8 → conv
16 3×3 pad 1 → act → conv 32 3×3 → act → max-pool 2 → flatten → linear 10). Training: 20
epochs, batch 64, Adam at 1e-3 (betas 0.9, 0.999, eps 1e-7, the StudyConfig defaults).

Each repeat runs the four arms in turn (A0, A1, B1, B0), so that each ratio compares arms
measured minutes apart on a machine whose speed drifts; the table shows each arm's median
wall time and each ratio's median over the repeats, with its range. The like-for-like
ratios are A1/B1 (both give the dead units) and A0/B0 (neither does); A0/B1 sets the loop
that does less against the study's default. Also printed: the largest per-seed difference
of the test accuracy and log loss between A and B, and of the last epoch's dead fraction
between A1 and B1 (float32 rounding, not a different training). All arms run with the
same ``torch.set_num_threads`` (``--threads``, default 2, the CI machine's cores).

    python benchmarks/torch_study.py [--seeds 10] [--epochs 20] [--threads 2]
        [--models mlp,cnn] [--repeats 3] [--native]

Goals (2-core CI machine): B ≥ 5× faster than A for the MLP, ≥ 2× for the CNN.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
import time

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu")
GOALS = {"mlp": 5.0, "cnn": 2.0}


def digits(seed: int = 0):
    """The digits task, split 80/20 by a seeded permutation, standardised."""
    from sklearn.datasets import load_digits

    from relulab.tasks import TaskData

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = round(0.8 * len(y))
    train, test = order[:cut], order[cut:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0  # pixels blank in every training image
    z = ((x - mean) / std).astype(np.float32)
    return TaskData(name="digits", task="classification", x_train=z[train],
                    y_train=y[train].astype(np.int64), x_test=z[test],
                    y_test=y[test].astype(np.int64), classes=10,
                    description="scikit-learn digits, 8x8 pixels")


def builders():
    from torch import nn

    def mlp(act):
        return nn.Sequential(nn.Linear(64, 64), act, nn.Linear(64, 64), copy.deepcopy(act),
                             nn.Linear(64, 10))

    def cnn(act):
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), act,
                             nn.Conv2d(16, 32, 3), copy.deepcopy(act), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 3 * 3, 10))

    return {"mlp": mlp, "cnn": cnn}


def factories(native: bool = False):
    """relulab's modules (its own definitions and analytic derivatives), or with
    ``native`` torch.nn's (ReLU, LeakyReLU, GELU, SiLU), which separates what the engine
    gains from what the activations cost."""
    if native:
        from torch import nn

        kinds = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "silu": nn.SiLU}
        return {name: kinds[name] for name in ACTIVATIONS}
    import relulab.torch as rt

    return {name: (lambda name=name: rt.module(name)) for name in ACTIVATIONS}


def scores(y: np.ndarray, prob: np.ndarray) -> tuple[float, float]:
    """Test accuracy and log loss of class probabilities."""
    accuracy = float(np.mean(prob.argmax(axis=1) == y))
    log_loss = float(-np.mean(np.log(np.clip(prob[np.arange(len(y)), y], 1e-15, 1.0))))
    return accuracy, log_loss


TRACKED = 2048  # training inputs the dead units are measured on (TorchEngine's max_track)


def by_hand(build, data, seeds: list[int], config, native: bool = False,
            track_units: bool = False) -> tuple[dict[tuple[str, int], np.ndarray], dict]:
    """A): one model at a time, the standard PyTorch loop; test class probabilities and,
    with ``track_units``, the last epoch's share of dead units, each epoch's end measured
    by :class:`relulab.torch.DeadUnitMonitor` on the first ``TRACKED`` training inputs."""
    import torch
    import torch.nn.functional as F

    from relulab.torch import DeadUnitMonitor

    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_test, tracked = torch.from_numpy(data.x_test), x[:TRACKED]
    n, size = len(y), config.batch_size
    out, dead = {}, {}
    for name, factory in factories(native).items():
        for seed in seeds:
            act = factory()
            torch.manual_seed(seed)
            model = build(act)
            opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                   betas=(config.beta1, config.beta2), eps=config.eps)
            model.train()
            for epoch in range(config.epochs):
                order = torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(n))
                for start in range(0, n, size):
                    index = order[start:start + size]
                    opt.zero_grad()
                    loss = F.cross_entropy(model(x[index]), y[index])
                    loss.backward()
                    opt.step()
                if track_units:
                    model.eval()
                    with DeadUnitMonitor(model, functional=False) as monitor, torch.no_grad():
                        for rows in tracked.split(1024):
                            model(rows)
                    frame = monitor.to_frame()
                    dead[name, seed] = frame["dead"].sum() / frame["units"].sum()
                    model.train()
            model.eval()
            with torch.no_grad():
                out[name, seed] = torch.softmax(model(x_test).double(), dim=1).numpy()
    return out, dead


def engine(build, data, seeds: list[int], config, track_units: bool = True,
           native: bool = False) -> tuple[dict[tuple[str, int], np.ndarray], dict, dict]:
    """B): TorchEngine, every seed of an activation at once; test class probabilities,
    the last epoch's share of dead units (tracked) and the engine's description."""
    from relulab.torch.vectorised import TorchEngine

    eng = TorchEngine(build, factories(native), track_units=track_units, max_track=TRACKED)
    out, dead = {}, {}
    for name in ACTIVATIONS:
        for fitted in eng.fit(name, seeds, data, config):
            out[name, fitted.seed] = fitted.test_pred
            if track_units:
                dead[name, fitted.seed] = fitted.epoch_stats["dead_fraction"][-1]
    return out, dead, eng.describe()


def timed(fn, *args, **kwargs):
    """Wall time of one call, and its result."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def spread(values: list[float], digits: int = 1) -> str:
    """The median of ``values``, and their range when there are several."""
    mid = f"{np.median(values):.{digits}f}"
    if len(values) < 2:
        return mid
    return f"{mid} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--native", action="store_true",
                        help="torch.nn's activation modules instead of relulab's")
    args = parser.parse_args(argv)
    import torch

    from relulab.config import StudyConfig

    torch.set_num_threads(args.threads)
    data = digits()
    seeds = list(range(args.seeds))
    config = StudyConfig(task="classification", model="user", activations=ACTIVATIONS,
                         reference="relu", seeds=args.seeds, epochs=args.epochs,
                         batch_size=64, learning_rate=1e-3, validation_split=0.0)
    print(f"digits: {len(data.y_train)} train / {len(data.y_test)} test; "
          f"{len(ACTIVATIONS)} activations × {args.seeds} seeds, {args.epochs} epochs, batch "
          f"64, Adam 1e-3; {'torch.nn' if args.native else 'relulab'}'s activation modules; "
          f"torch.set_num_threads({args.threads}) for all; "
          f"{os.cpu_count()} CPU cores; torch {torch.__version__}; {args.repeats} repeats")
    for kind in args.models.split(","):
        build = builders()[kind]
        times: dict[str, list[float]] = {"A0": [], "A1": [], "B1": [], "B0": []}
        # Untimed: one epoch of one seed of each arm, so that no arm pays the process's
        # first calls (torch's kernels, the monitor's imports).
        warm = dataclasses.replace(config, epochs=1)
        by_hand(build, data, seeds[:1], warm, native=args.native, track_units=True)
        engine(build, data, seeds[:1], warm, native=args.native)
        for _ in range(args.repeats):
            t, (a, _) = timed(by_hand, build, data, seeds, config, native=args.native)
            times["A0"].append(t)
            t, (_, dead_a) = timed(by_hand, build, data, seeds, config, native=args.native,
                                   track_units=True)
            times["A1"].append(t)
            t, (b, dead_b, described) = timed(engine, build, data, seeds, config,
                                              native=args.native)
            times["B1"].append(t)
            t, _ = timed(engine, build, data, seeds, config, track_units=False,
                         native=args.native)
            times["B0"].append(t)
        ratio = {pair: [times[pair[:2]][i] / times[pair[3:]][i] for i in range(args.repeats)]
                 for pair in ("A1/B1", "A0/B0", "A0/B1")}
        acc = max(abs(scores(data.y_test, a[k])[0] - scores(data.y_test, b[k])[0]) for k in a)
        ll = max(abs(scores(data.y_test, a[k])[1] - scores(data.y_test, b[k])[1]) for k in a)
        dead = max(abs(dead_a[k] - dead_b[k]) for k in dead_a)
        mean_acc = np.mean([scores(data.y_test, b[k])[0] for k in b])
        mean_dead = np.mean(list(dead_b.values()))
        models = len(ACTIVATIONS) * args.seeds
        steps = models * args.epochs * -(-len(data.y_train) // config.batch_size)
        goal = GOALS.get(kind, 1)

        def line(label: str, arm: str, times=times, steps=steps) -> str:
            t = float(np.median(times[arm]))
            return f"  {label:<46}: {t:8.2f} s   {t / steps * 1e6:6.0f} µs/model-step"

        print(f"\n{kind.upper()} ({described['parameters']:,} parameters; vectorised: "
              f"{described['vectorised']}{'; ' + described['why'] if described['why'] else ''})")
        print(line(f"A0) a loop over {models} models, torch.optim.Adam", "A0"))
        print(line("A1) the same loop + DeadUnitMonitor each epoch", "A1"))
        print(line("B1) TorchEngine, units tracked (the default)", "B1"))
        print(line("B0) TorchEngine, units not tracked", "B0"))
        print(f"  speed-up, dead units in both   A1/B1 : {spread(ratio['A1/B1'])}×   "
              f"(goal ≥ {goal:g}×)")
        print(f"  speed-up, dead units in neither A0/B0: {spread(ratio['A0/B0'])}×   "
              f"(goal ≥ {goal:g}×)")
        print(f"  speed-up, dead units in B only  A0/B1: {spread(ratio['A0/B1'])}×")
        print(f"  test accuracy (mean over models)      : {mean_acc:8.4f}; last epoch's dead "
              f"share {mean_dead:.4f}")
        print(f"  max per-seed |A - B|: accuracy {acc:.2g}, log loss {ll:.2g}, "
              f"dead share {dead:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
