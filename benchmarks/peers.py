"""Benchmark: relulab beside NeuralForecast on the same forecasting task, in one run.

The task: ``--series`` monthly US employment series (``../shared/data/us_employment_long.csv``),
the last 15 points held out and forecast one step ahead from the actual values (the models'
parameters fixed), windows of 5 inputs, each window standardised by its own mean and
standard deviation (relulab's ``window-standard``, NeuralForecast's ``scaler_type=
"standard"``), an LSTM of 4 units and an MLP of one hidden layer of 8, tanh and relu,
mean squared error and Adam at 1e-3. Two views:

- **as each is used**: NeuralForecast trains one global model per fit (``--steps`` steps of
  ``--windows`` windows); relulab trains a local model per series and seed (batch 1,
  ``--epochs`` epochs, ``--relulab-seeds`` seeds, every seed and series of an activation in
  one compiled program);
- **like with like**: relulab's global model (``--global``) on the same pooled windows,
  in batches of ``--windows`` for about as many steps (whole epochs over the pooled
  windows), against the same NeuralForecast fits.

For each: wall seconds per trained model (all in: compilation, data, prediction), micro-
seconds per window processed (training windows seen by the optimiser, every model
together; relulab's the fastest training of ``--repeats`` runs, its first run's
compilation added, since the first call of a freshly compiled program also loads it, some
30 ms, most of a 5-epoch global model's training), and the median over series of each
arm's median test RMSE over its seeds, with the spread of relulab's seeds (the
interquartile range of the per-seed RMSE, median over series) to judge "within seed
noise".

NeuralForecast is this benchmark's dependency, never relulab's: it runs in an environment
the benchmark builds (``--peer-env``, default ``~/.cache/relulab/peers-env``: a venv with
torch 2.13.0, the CPU build, and neuralforecast), through ``peers_nf.py``. Where it
cannot be built (offline, no registry) the benchmark says so in one line and stops.

    python benchmarks/peers.py [--series 4] [--seeds 3] [--relulab-seeds 10] [--repeats 2]
        [--steps 500] [--windows 32] [--epochs 500] [--peer-env DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / ".." / "shared" / "data"
TEST, INPUT = 15, 5
UNITS = {"lstm": 4, "mlp": 8}


def peer_env(path: Path) -> Path | None:
    """The python of NeuralForecast's environment, built when missing; None (with one
    line said) when it cannot be."""
    python = path / "bin" / "python"
    probe = [str(python), "-c", "import neuralforecast"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"building NeuralForecast's environment in {path} (torch 2.13.0 CPU, "
          "neuralforecast) ...", flush=True)
    t0 = time.perf_counter()
    steps = [[sys.executable, "-m", "venv", str(path)],
             [str(python), "-m", "pip", "install", "-q", "torch==2.13.0"],
             [str(python), "-m", "pip", "install", "-q", "neuralforecast"]]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            print(f"skipped: could not build NeuralForecast's environment ({last}); "
                  "rerun with the package registry reachable, or pass --peer-env with one")
            return None
    print(f"built in {time.perf_counter() - t0:.0f} s")
    return python


def run_peer(python: Path, data, fits: list[dict], threads: int) -> list[dict]:
    job = {"data": data, "test_size": TEST, "input_size": INPUT, "scaler": "standard",
           "freq": "MS", "fits": fits}
    env = {**os.environ, "PEERS_THREADS": str(threads)}
    done = subprocess.run([str(python), str(HERE / "peers_nf.py")], input=json.dumps(job),
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"NeuralForecast's side failed: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def relulab_arm(panel, model: str, activation: str, *, seeds: int, epochs: int,
                batch: int, pooling: str) -> dict:
    """One relulab arm on the panel: seconds, models, windows processed, RMSE per series
    and seed."""
    from relulab.config import preset
    from relulab.study.outputs import run_panel

    config = preset("seed", model=model, units=UNITS[model], activations=(activation,),
                    reference=activation, seeds=seeds, epochs=epochs, batch_size=batch,
                    lookback=INPUT, test_size=TEST, scaler="window-standard",
                    validation_split=0.0, pooling=pooling)
    result = run_panel(config, panel, keep=None)
    # Compilation and training: a NeuralForecast fit's counterpart (the baselines and
    # the statistics a relulab study adds are left out of the comparison).
    seconds = result.timing["compile_s"] + result.timing["train_s"]
    rmse = {sid: np.array([r.metrics["rmse"] for r in res.runs])
            for sid, res in result.detail.items()}
    rows = {sid: windows_of(res.values, config) for sid, res in result.detail.items()}
    models = seeds * (1 if pooling == "global" else len(rmse))
    return {"seconds": seconds, "train_s": result.timing["train_s"], "models": models,
            "rmse": rmse,
            "windows": epochs * seeds * sum(rows.values())}


def windows_of(values, config) -> int:
    from relulab.windows import prepare

    return int(prepare(values, config).fit.X.shape[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3, help="NeuralForecast fits per arm")
    parser.add_argument("--relulab-seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--windows", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2,
                        help="relulab runs per arm, the fastest kept (the first call of a "
                             "compiled program also loads it)")
    parser.add_argument("--peer-env", type=Path,
                        default=Path(os.environ.get("RELULAB_CACHE", Path.home() / ".cache"
                                                    / "relulab")) / "peers-env")
    args = parser.parse_args(argv)
    path = SHARED / "us_employment_long.csv"
    if not path.exists():
        print(f"skipped: {path} is absent")
        return 0
    python = peer_env(args.peer_env)
    if python is None:
        return 0
    import pandas as pd

    from relulab.data import load_panel

    panel = load_panel(str(path), column="employed", series=args.series)
    long = pd.concat([pd.DataFrame({"unique_id": sid, "ds": list(panel[sid].dates),
                                    "y": panel[sid].values}) for sid in panel.ids])
    data = long.astype({"ds": str}).to_dict(orient="list")
    print(f"{len(panel.ids)} US employment series, last {TEST} held out, one step ahead, "
          f"{INPUT} inputs, window-standard scaling; {args.threads} threads")
    arms = [("lstm", "tanh"), ("lstm", "relu"), ("mlp", "tanh"), ("mlp", "relu")]
    fits = [dict(model=m, activation=a, seed=s, steps=args.steps, batch_size=32,
                 windows=args.windows, units=UNITS[m])
            for m, a in arms for s in range(args.seeds)]
    peer = run_peer(python, data, fits, args.threads)
    ours_local, ours_global = {}, {}
    pooled = sum(windows_of(panel[s].values, _config()) for s in panel.ids)
    per_epoch = math.ceil(pooled / args.windows)
    global_epochs = max(1, round(args.steps / per_epoch))
    def fastest(*arm, **kw) -> dict:
        """The arm's fastest training of ``--repeats`` runs, with the first run's
        compilation (later runs find the programs compiled)."""
        runs = [relulab_arm(panel, *arm, **kw) for _ in range(max(1, args.repeats))]
        best = min(runs, key=lambda r: r["train_s"])
        compile_s = runs[0]["seconds"] - runs[0]["train_s"]
        return {**best, "seconds": compile_s + best["train_s"]}

    for m, a in arms:
        ours_local[m, a] = fastest(m, a, seeds=args.relulab_seeds, epochs=args.epochs,
                                   batch=1, pooling="local")
        ours_global[m, a] = fastest(m, a, seeds=args.seeds, epochs=global_epochs,
                                    batch=args.windows, pooling="global")
    print(f"\nrelulab's global model: {global_epochs} epochs of {per_epoch} steps over "
          f"{pooled} pooled windows ({global_epochs * per_epoch} steps, "
          f"{global_epochs * pooled} windows); NeuralForecast: {args.steps} steps of "
          f"{args.windows} windows ({args.steps * args.windows} windows)")
    header = (f"{'model':5s} {'act':5s} {'who':24s} {'models':>6s} {'s/model':>8s} "
              f"{'us/window':>10s} {'median RMSE':>12s} {'seed IQR':>9s}")
    print(header)
    notes = set()
    for m, a in arms:
        nf = [f for f in peer if f["model"] == m and f["activation"] == a]
        for label, arm in (("relulab, local (as used)", ours_local[m, a]),
                           ("relulab, global", ours_global[m, a])):
            med = np.median([np.median(v) for v in arm["rmse"].values()])
            iqr = np.median([np.subtract(*np.percentile(v, [75, 25]))
                             for v in arm["rmse"].values()])
            print(f"{m:5s} {a:5s} {label:24s} {arm['models']:6d} "
                  f"{arm['seconds'] / arm['models']:8.3f} "
                  f"{1e6 * arm['train_s'] / arm['windows']:10.2f} {med:12.1f} {iqr:9.1f}")
        done = [f for f in nf if "seconds" in f]
        if not done:
            notes.update(f["skipped"] for f in nf if "skipped" in f)
            print(f"{m:5s} {a:5s} {'NeuralForecast':24s} {'-':>6s}  (not possible: see below)")
            continue
        notes.update(f["note"] for f in done if f["note"])
        seconds = np.mean([f["seconds"] for f in done])
        med = np.median([np.median([f["rmse"][s] for f in done]) for s in panel.ids])
        per_window = 1e6 * seconds / (args.steps * args.windows)
        print(f"{m:5s} {a:5s} {'NeuralForecast (global)':24s} {len(done):6d} {seconds:8.3f} "
              f"{per_window:10.2f} {med:12.1f}")
        local, glob = ours_local[m, a], ours_global[m, a]
        model_x = [seconds / (arm["seconds"] / arm["models"]) for arm in (local, glob)]
        window_x = [per_window / (1e6 * arm["train_s"] / arm["windows"]) for arm in (local, glob)]
        print(f"{'':11s} NeuralForecast / relulab: per model {model_x[0]:.1f}x (local), "
              f"{model_x[1]:.1f}x (global); per window {window_x[0]:.0f}x (local), "
              f"{window_x[1]:.0f}x (global)")
    for note in sorted(notes):
        print(f"note: NeuralForecast: {note}")
    return 0


def _config():
    from relulab.config import preset

    return preset("seed", lookback=INPUT, test_size=TEST, scaler="window-standard",
                  validation_split=0.0)


if __name__ == "__main__":
    sys.exit(main())
