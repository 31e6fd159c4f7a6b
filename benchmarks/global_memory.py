"""A global model's memory on the US employment panel, as its design grew: every epoch's
shuffle order drawn at the start and the pooled windows stored; the orders drawn inside
the training loop; and the windows read from the pooled series inside the program (what
relulab does). The estimate that guards a study (``GlobalTrainer.memory``), the pooled
data's bytes and the peak resident memory of a real training run, each in its own
process, in one run.

A local model draws every epoch's shuffle order at its start (Keras' semantics as relulab
pins them); over a pooled panel those orders (epochs x pooled windows x seeds, int32) are
most of the memory, so a global model of several series draws each epoch's order inside
its training loop. Its windows (``lookback`` values each) are read from the series a batch
at a time (``training.StreamedData``); the earlier arms store them (``TrainData``), as the
benchmark sets up here by replacing the pooled data for those runs.

    python benchmarks/global_memory.py [--series 20,148] [--epochs 100] [--seeds 10]
                                       [--lookback L]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PATH = SHARED / "us_employment_long.csv"
ARMS = (("drawn", "stored"), ("streamed", "stored"), ("streamed", "streamed"))

CHILD = r"""
import json, resource, sys, time
import numpy as np
from relulab import training
from relulab.config import preset
from relulab.data import load_panel
from relulab.study import global_trainer
from relulab.study.jax_trainer import train_spec
from relulab.study.outputs import run_panel
from relulab.study.plan import make_plan

path, n, epochs, seeds, shuffle, windows, lookback = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7])
if shuffle == "drawn":  # every epoch's order drawn at the start, as a local model's
    global_trainer.global_spec = lambda plan: train_spec(plan.config)
if windows == "stored":  # the pooled windows materialised, the program indexing them
    def stored(plan, fold):
        preps = [sp.prepared[fold] for sp in plan.series.values()]
        return training.TrainData.from_arrays(
            *(np.concatenate([getattr(getattr(p, part), a) for p in preps]) for part, a in
              (("fit", "X"), ("fit", "y"), ("val_loss", "X"), ("val_loss", "y"))))
    global_trainer.pooled_data = stored
    global_trainer.pooled_layout = \
        lambda plan, fold: training.make_batch([stored(plan, fold.fold)]).shapes
    training.layout_bytes = lambda layout: None  # call_memory's stored-windows estimate
config = preset("seed", activations=("tanh", "relu"), seeds=seeds, epochs=epochs,
                batch_size=16, scaler="window-standard", pooling="global",
                **({"lookback": lookback} if lookback else {}))
panel = load_panel(path, column="employed", series=n)
plan = make_plan(config, panel)
plan_memory = global_trainer.GlobalTrainer().memory(plan)
data = global_trainer.pooled_data(plan, 0)
data_bytes = sum(a.nbytes for a in data if a is not None)
t0 = time.perf_counter()
result = run_panel(config, panel, keep=None)
wall = time.perf_counter() - t0
rmse = sorted(s.median_rmse["tanh"] for s in result.series.values())
print(json.dumps({"estimate": plan_memory, "data": data_bytes, "wall": wall,
                  "lookback": config.lookback,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "median_rmse_tanh": rmse[len(rmse) // 2]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default="20,148")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--lookback", type=int, default=0,
                        help="inputs per window (default: the seed preset's)")
    args = parser.parse_args()
    if not PATH.exists():
        print(f"skipped: {PATH} is absent")
        return
    header = False
    for n in (int(s) for s in args.series.split(",")):
        rows = {}
        for shuffle, windows in ARMS:
            out = subprocess.run([sys.executable, "-c", CHILD, str(PATH), str(n),
                                  str(args.epochs), str(args.seeds), shuffle, windows,
                                  str(args.lookback)],
                                 capture_output=True, text=True, check=True)
            r = rows[shuffle, windows] = json.loads(out.stdout.strip().splitlines()[-1])
            if not header:
                print(f"US employment panel, global LSTM(4), tanh and relu, {args.seeds} "
                      f"seeds, {args.epochs} epochs, batch 16, lookback {r['lookback']}, "
                      "window-standard; each run its own process")
                print(f"{'series':>6s} {'orders':>8s} {'windows':>8s} {'estimate MB':>12s} "
                      f"{'data MB':>8s} {'peak RSS MB':>12s} {'wall s':>7s} "
                      f"{'median RMSE tanh':>17s}")
                header = True
            print(f"{n:6d} {shuffle:>8s} {windows:>8s} {r['estimate'] / 1e6:12.1f} "
                  f"{r['data'] / 1e6:8.2f} {r['peak_rss'] / 1e6:12.1f} {r['wall']:7.1f} "
                  f"{r['median_rmse_tanh']:17.4g}")
        first, now = rows[ARMS[0]], rows[ARMS[-1]]
        print(f"{'':6s} {'first/now':>17s} {first['estimate'] / now['estimate']:12.1f}x "
              f"{first['data'] / now['data']:7.2f}x {first['peak_rss'] / now['peak_rss']:11.2f}x"
              f" {first['wall'] / now['wall']:6.2f}x")


if __name__ == "__main__":
    main()
