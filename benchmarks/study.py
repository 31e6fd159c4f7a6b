"""Benchmark: the seed preset on the H1 weekly series, 6 activations × 10 seeds.

Prints relulab's wall time, compile time and model-steps per second, then times the same
protocol (LSTM(4) with Keras semantics, batch 1, Adam) as a plain PyTorch loop training one
model at a time, and Keras' ``model.fit`` where Keras is importable, and prints the
per-model-step ratios. A model-step is one optimiser update of one model.

    python benchmarks/study.py [--data ../shared/data/hotel_h1_weekly.csv] [--seeds 10]

Goals (2-core CI machine): the 60-model study ≤ 10 s wall including compilation, and
≥ 1000× faster than Keras per model-step.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "hotel_h1_weekly.csv"
ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "gelu", "silu")


def run_relulab(values: np.ndarray, seeds: int) -> dict[str, float]:
    from relulab.config import preset
    from relulab.study import Study

    config = preset("seed", activations=ACTIVATIONS, seeds=seeds)
    t0 = time.perf_counter()
    result = Study(config, values).run()
    wall = time.perf_counter() - t0
    t = result.timing
    return {"wall_s": wall, "compile_s": t["compile_s"], "train_s": t["train_s"],
            "model_steps": t["model_steps"], "model_steps_per_s": t["model_steps_per_s"],
            "per_step_s": t["train_s"] / t["model_steps"],
            "end_to_end_per_step_s": wall / t["model_steps"]}


def threads_comparison(values: np.ndarray, seeds: int, repeats: int = 3
                       ) -> dict[str, dict[str, float]]:
    """The same study with its training steps (one per activation) run one at a time and
    side by side on threads of their own (the default: one per core), interleaved, the
    programs already compiled in this process: each way's best training and wall time."""
    from relulab.config import preset
    from relulab.study import InProcessExecutor, Study

    config = preset("seed", activations=ACTIVATIONS, seeds=seeds)
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for name, threads in (("one", 1), ("side", None)):
            t0 = time.perf_counter()
            result = Study(config, values, executor=InProcessExecutor(threads=threads)).run()
            got = {"wall_s": time.perf_counter() - t0, "train_s": result.timing["train_s"]}
            if name not in best or got["wall_s"] < best[name]["wall_s"]:
                best[name] = got
    return best


def tracking_overhead(values: np.ndarray, seeds: int, repeats: int = 5) -> dict[str, float]:
    """Training and compile time of the seed preset's groups with the per-unit tracking
    (dead and dormant units at every site, death epochs, learned slopes) and without it,
    measured in the same process: each group's best of ``repeats`` training runs."""
    import dataclasses

    from relulab import training
    from relulab.config import preset
    from relulab.windows import prepare

    config = preset("seed", seeds=seeds)
    data = training.TrainData.from_prepared(prepare(values, config))
    on = training.TrainSpec.from_config(config)
    off = dataclasses.replace(on, track_units=False)
    import jax

    out: dict[str, float] = {}
    # A-B-B-A, keeping each one's best: the first compilation in a process pays one-time
    # costs, which would otherwise all fall on whichever is measured first.
    for name, spec in (("with", on), ("without", off), ("without", off), ("with", on)):
        # Both compile from scratch (the study above compiled the tracked programs).
        for cached in (training._fit_program, training._start_program):
            cached.cache_clear()
        jax.clear_caches()
        t0 = time.perf_counter()
        programs = training.compile_groups(spec, ACTIVATIONS, data, seeds)
        compile_s = time.perf_counter() - t0
        total = 0.0
        for act in ACTIVATIONS:
            best = float("inf")
            for _ in range(repeats):
                t1 = time.perf_counter()
                programs[act](data, np.arange(seeds)).loss.block_until_ready()
                best = min(best, time.perf_counter() - t1)
            total += best
        out[f"compile_{name}_s"] = min(compile_s, out.get(f"compile_{name}_s", math.inf))
        out[f"train_{name}_s"] = min(total, out.get(f"train_{name}_s", math.inf))
    return out


def _windows(values: np.ndarray):
    from relulab.config import preset
    from relulab.windows import prepare

    prep = prepare(values, preset("seed"))
    return (prep.fit.X.astype(np.float32), prep.fit.y.astype(np.float32),
            prep.val_loss.X.astype(np.float32), prep.val_loss.y.astype(np.float32))


def time_torch(values: np.ndarray, epochs: int = 3) -> float | None:
    """Seconds per model-step of a plain PyTorch loop (one model, batch 1, Adam)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    X, y, Xv, yv = (torch.from_numpy(a) for a in _windows(values))
    units, L = 4, X.shape[1]

    class KerasLSTM(torch.nn.Module):
        # nn.LSTM cannot change its activation, so the cell is written out (Keras semantics).
        def __init__(self):
            super().__init__()
            self.W = torch.nn.Parameter(torch.empty(L, 4 * units))
            self.U = torch.nn.Parameter(torch.empty(units, 4 * units))
            self.b = torch.nn.Parameter(torch.zeros(4 * units))
            self.dense = torch.nn.Linear(units, 1)
            torch.nn.init.xavier_uniform_(self.W)
            torch.nn.init.orthogonal_(self.U)
            with torch.no_grad():
                self.b[units:2 * units] = 1.0

        def forward(self, x):  # x: (batch, L), one timestep
            h = torch.zeros(x.shape[0], units)
            c = torch.zeros(x.shape[0], units)
            z = x @ self.W + h @ self.U + self.b
            i, f, g, o = z.chunk(4, dim=1)
            i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
            c = f * c + i * torch.relu(g)
            h = o * torch.relu(c)
            return self.dense(h).squeeze(-1)

    model = KerasLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    steps = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for j in torch.randperm(X.shape[0]).tolist():
            opt.zero_grad()
            loss = torch.mean((model(X[j:j + 1]) - y[j:j + 1]) ** 2)
            loss.backward()
            opt.step()
            steps += 1
        with torch.no_grad():
            torch.mean((model(Xv) - yv) ** 2)
    return (time.perf_counter() - t0) / steps


def time_keras(values: np.ndarray, epochs: int = 3) -> float:
    """Seconds per model-step of Keras' model.fit (batch 1) under $KERAS_BACKEND."""
    import keras

    X, y, Xv, yv = _windows(values)
    Xall = np.concatenate([X, Xv])[:, None, :]
    yall = np.concatenate([y, yv])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1, X.shape[1])),
                              keras.layers.LSTM(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam")
    model.fit(Xall, yall, epochs=1, batch_size=1, validation_split=0.2, verbose=0)  # warm-up
    t0 = time.perf_counter()
    model.fit(Xall, yall, epochs=epochs, batch_size=1, validation_split=0.2, verbose=0)
    return (time.perf_counter() - t0) / (epochs * X.shape[0])


def keras_backends() -> list[str]:
    """Keras backends importable here: tensorflow (the reference study's) first."""
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        return []
    return [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b)]


def time_keras_in_subprocess(data: str, backend: str) -> float | None:
    # Keras fixes its backend at import, so each backend gets its own process.
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, __file__, "--data", data, "--keras-only"],
                          capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("keras_per_step_s=")]
    return float(lines[-1].split("=")[1]) if proc.returncode == 0 and lines else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1, help="relulab study repeats")
    parser.add_argument("--keras-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Cold figures: compiled programs are not read from relulab's on-disk cache.
    os.environ.setdefault("RELULAB_JAX_CACHE", "0")
    if not Path(args.data).exists():
        print(f"data not found: {args.data}; pass --data", file=sys.stderr)
        return 2
    from relulab.data import load_series

    values = load_series(args.data, column="cancellations").values
    if args.keras_only:
        print(f"keras_per_step_s={time_keras(values)}")
        return 0
    print(f"series: {args.data} ({values.size} points); {len(ACTIVATIONS)} activations × "
          f"{args.seeds} seeds, seed preset (LSTM(4), 500 epochs, batch 1); "
          f"{os.cpu_count()} CPU cores")

    runs = [run_relulab(values, args.seeds) for _ in range(args.repeats)]
    r = min(runs, key=lambda d: d["wall_s"])
    print("\nrelulab (jit(vmap(train)) over seeds, lax.scan over epochs and steps)")
    print(f"  wall time, compilation included : {r['wall_s']:8.2f} s   (goal ≤ 10 s)")
    print(f"  compile time                    : {r['compile_s']:8.2f} s")
    print(f"  training time                   : {r['train_s']:8.2f} s")
    print(f"  model-steps                     : {r['model_steps']:12,.0f}")
    print(f"  model-steps per second          : {r['model_steps_per_s']:12,.0f}")
    print(f"  per model-step (training)       : {r['per_step_s'] * 1e6:8.3f} µs")
    print(f"  per model-step (wall, all-in)   : {r['end_to_end_per_step_s'] * 1e6:8.3f} µs")

    from relulab.study.executor import usable_cores

    th = threads_comparison(values, args.seeds)
    one, side = th["one"], th["side"]
    print(f"\ntraining steps side by side ({usable_cores()} threads) against one "
          "at a time, same run, compiled, best of 3")
    print(f"  training, side by side / one    : {side['train_s']:8.2f} s / "
          f"{one['train_s']:.2f} s   ({one['train_s'] / side['train_s']:.2f}x)")
    print(f"  wall, side by side / one        : {side['wall_s']:8.2f} s / "
          f"{one['wall_s']:.2f} s   ({one['wall_s'] / side['wall_s']:.2f}x)")

    o = tracking_overhead(values, args.seeds)
    print("\nper-unit tracking (dead/dormant units at every site, death epochs), same run")
    print(f"  training, with / without        : {o['train_with_s']:8.3f} s / "
          f"{o['train_without_s']:.3f} s   ({o['train_with_s'] / o['train_without_s'] - 1:+.1%}, "
          "goal ≤ +10%)")
    print(f"  compile, with / without         : {o['compile_with_s']:8.2f} s / "
          f"{o['compile_without_s']:.2f} s   "
          f"({o['compile_with_s'] / o['compile_without_s'] - 1:+.1%})")

    print("\nreferences, one model at a time, same protocol")
    t_torch = [time_torch(values) for _ in range(3)]
    if t_torch[0] is not None:
        tt = statistics.median(t_torch)
        print(f"  PyTorch loop           : {tt * 1e6:9.1f} µs/model-step   relulab is "
              f"{tt / r['per_step_s']:6.0f}× faster (training), "
              f"{tt / r['end_to_end_per_step_s']:5.0f}× all-in")
    else:
        print("  PyTorch loop  : torch not importable, skipped")
    backends = keras_backends()
    for backend in backends:
        tk = time_keras_in_subprocess(args.data, backend)
        if tk is None:
            print(f"  Keras fit ({backend}): failed, skipped")
            continue
        print(f"  Keras fit ({backend:>10}): {tk * 1e6:9.1f} µs/model-step   relulab is "
              f"{tk / r['per_step_s']:6.0f}× faster (training), "
              f"{tk / r['end_to_end_per_step_s']:5.0f}× all-in   (goal ≥ 1000×)")
    if not backends:
        print("  Keras fit     : keras not importable, skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
