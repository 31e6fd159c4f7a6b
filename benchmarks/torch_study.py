"""Benchmark: a user's PyTorch models on digits, 4 activations × 10 seeds, two ways.

A) the way a user writes it: a Python loop over activations and seeds, each model trained
   by the standard loop (``torch.optim.Adam``, ``zero_grad``/``backward``/``step``), the
   same seeds and the same batch orders as relulab's; no unit tracking;
B) :class:`relulab.torch.vectorised.TorchEngine`, the seeds of an activation trained as one
   vmapped program, with its per-epoch dead/dormant unit tracking (and once without it).

Data: scikit-learn's bundled digits (1797 images of 8×8 pixels, 10 classes), split 80/20
by a seeded permutation and standardised with the training split's mean and standard
deviation. Models: an MLP (64 → 64 → act → 64 → act → 10) and a small CNN (1×8×8 → conv
16 3×3 pad 1 → act → conv 32 3×3 → act → max-pool 2 → flatten → linear 10). Training: 20
epochs, batch 64, Adam at 1e-3 (betas 0.9, 0.999, eps 1e-7, the StudyConfig defaults).

Prints each way's wall time, the speed-up A/B, and the largest per-seed difference of the
test accuracy and log loss between A and B (float32 rounding, not a different training).
Both run with the same ``torch.set_num_threads`` (``--threads``, default 2, the CI
machine's cores).

    python benchmarks/torch_study.py [--seeds 10] [--epochs 20] [--threads 2]
        [--models mlp,cnn] [--repeats 1]

Each figure is the best of ``--repeats`` runs (the machine may be shared).

Goals (2-core CI machine): B ≥ 5× faster than A for the MLP, ≥ 2× for the CNN.
"""

from __future__ import annotations

import argparse
import copy
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


def by_hand(build, data, seeds: list[int], config, native: bool = False
            ) -> dict[tuple[str, int], np.ndarray]:
    """A): one model at a time, the standard PyTorch loop; test class probabilities."""
    import torch
    import torch.nn.functional as F

    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_test = torch.from_numpy(data.x_test)
    n, size = len(y), config.batch_size
    out = {}
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
            model.eval()
            with torch.no_grad():
                out[name, seed] = torch.softmax(model(x_test).double(), dim=1).numpy()
    return out


def engine(build, data, seeds: list[int], config, track_units: bool = True,
           native: bool = False) -> tuple[dict[tuple[str, int], np.ndarray], dict]:
    """B): TorchEngine, every seed of an activation at once."""
    from relulab.torch.vectorised import TorchEngine

    eng = TorchEngine(build, factories(native), track_units=track_units)
    out = {}
    for name in ACTIVATIONS:
        for fitted in eng.fit(name, seeds, data, config):
            out[name, fitted.seed] = fitted.test_pred
    return out, eng.describe()


def timed(repeats: int, fn, *args, **kwargs):
    """The best wall time of ``repeats`` calls, and the last call's result."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--repeats", type=int, default=1)
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
          f"torch.set_num_threads({args.threads}) for both; "
          f"{os.cpu_count()} CPU cores; torch {torch.__version__}")
    for kind in args.models.split(","):
        build = builders()[kind]
        r = args.repeats
        t_a, a = timed(r, by_hand, build, data, seeds, config, native=args.native)
        t_b, (b, described) = timed(r, engine, build, data, seeds, config, native=args.native)
        t_c, _ = timed(r, engine, build, data, seeds, config, track_units=False,
                       native=args.native)
        acc = max(abs(scores(data.y_test, a[k])[0] - scores(data.y_test, b[k])[0]) for k in a)
        ll = max(abs(scores(data.y_test, a[k])[1] - scores(data.y_test, b[k])[1]) for k in a)
        mean_acc = np.mean([scores(data.y_test, b[k])[0] for k in b])
        models = len(ACTIVATIONS) * args.seeds
        steps = models * args.epochs * -(-len(data.y_train) // config.batch_size)
        print(f"\n{kind.upper()} ({described['parameters']:,} parameters; vectorised: "
              f"{described['vectorised']}{'; ' + described['why'] if described['why'] else ''})")
        print(f"  A) a loop over {models} models, torch.optim.Adam : {t_a:8.2f} s   "
              f"{t_a / steps * 1e6:6.0f} µs/model-step")
        print(f"  B) TorchEngine, units tracked         : {t_b:8.2f} s   "
              f"{t_b / steps * 1e6:6.0f} µs/model-step   speed-up {t_a / t_b:5.1f}×   "
              f"(goal ≥ {GOALS.get(kind, 1):g}×)")
        print(f"     TorchEngine, units not tracked     : {t_c:8.2f} s   "
              f"{t_c / steps * 1e6:6.0f} µs/model-step   speed-up {t_a / t_c:5.1f}×")
        print(f"  test accuracy (mean over models)      : {mean_acc:8.4f}")
        print(f"  max per-seed |A - B|: accuracy {acc:.2g}, log loss {ll:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
