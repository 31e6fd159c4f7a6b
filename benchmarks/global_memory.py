"""A global model's memory, drawn shuffle orders against streamed ones, on the US
employment panel: the estimate that guards a study (``GlobalTrainer.memory``) and the
peak resident memory of a real training run, each in its own process, in one run.

A local model draws every epoch's shuffle order at its start (Keras' semantics as relulab
pins them); over a pooled panel those orders (epochs x pooled windows x seeds, int32) are
most of the memory. A global model of several series draws each epoch's order inside its
training loop instead. This compares the two on the same panel, config and machine.

    python benchmarks/global_memory.py [--series 20,148] [--epochs 100] [--seeds 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PATH = SHARED / "us_employment_long.csv"

CHILD = r"""
import json, resource, sys, time
from relulab.config import preset
from relulab.data import load_panel
from relulab.study import global_trainer
from relulab.study.jax_trainer import train_spec
from relulab.study.outputs import run_panel
from relulab.study.plan import make_plan

path, n, epochs, seeds, shuffle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
if shuffle == "drawn":  # every epoch's order drawn at the start, as a local model's
    global_trainer.global_spec = lambda plan: train_spec(plan.config)
config = preset("seed", activations=("tanh", "relu"), seeds=seeds, epochs=epochs,
                batch_size=16, scaler="window-standard", pooling="global")
panel = load_panel(path, column="employed", series=n)
plan_memory = global_trainer.GlobalTrainer().memory(make_plan(config, panel))
t0 = time.perf_counter()
result = run_panel(config, panel, keep=None)
wall = time.perf_counter() - t0
rmse = sorted(s.median_rmse["tanh"] for s in result.series.values())
print(json.dumps({"estimate": plan_memory, "wall": wall,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "median_rmse_tanh": rmse[len(rmse) // 2]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="20,148")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    if not PATH.exists():
        print(f"skipped: {PATH} is absent")
        return
    print(f"US employment panel, global LSTM(4), tanh and relu, {args.seeds} seeds, "
          f"{args.epochs} epochs, batch 16, window-standard; each run its own process")
    print(f"{'series':>6s} {'shuffle':>9s} {'estimate MB':>12s} {'peak RSS MB':>12s} "
          f"{'wall s':>7s} {'median RMSE tanh':>17s}")
    for n in (int(s) for s in args.series.split(",")):
        rows = {}
        for shuffle in ("drawn", "streamed"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(PATH), str(n),
                                  str(args.epochs), str(args.seeds), shuffle],
                                 capture_output=True, text=True, check=True)
            r = rows[shuffle] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:6d} {shuffle:>9s} {r['estimate'] / 1e6:12.1f} "
                  f"{r['peak_rss'] / 1e6:12.1f} {r['wall']:7.1f} "
                  f"{r['median_rmse_tanh']:17.4g}")
        d, s = rows["drawn"], rows["streamed"]
        print(f"{'':6s} {'ratio':>9s} {d['estimate'] / s['estimate']:12.1f}x "
              f"{d['peak_rss'] / s['peak_rss']:11.2f}x {d['wall'] / s['wall']:6.2f}x")


if __name__ == "__main__":
    main()
