"""Benchmark: a study over 1, 10, 100 and 1000 series, and the seed study's cold start.

Two parts, each measurement in a fresh Python process with the on-disk compilation cache
off, so "cold" includes every compilation:

1. **The seed study** (PROTOCOL.md's preset on the H1 weekly series, 6 activations × 10
   seeds), cold: with the activations sharing one compiled program (today) and with one
   program per activation (the former design), and the ratio of the two wall times.
2. **Scale**: the same small study (the seed preset's LSTM(4), batch 1, ``--epochs``
   epochs, ``--seeds`` seeds, tanh and relu, test 8) on N series of the US employment
   panel (``../shared/data/us_employment_long.csv``), cut into non-overlapping windows of
   ``--window`` months so that 1000 series exist (the panel has 148 series of 225 to 969
   months: the 1000 "series" are windows of them, all of equal length). In process, and
   on a local Ray (``--ray-sizes``). Per size: wall time cold, then the same study again
   in the same process (warm: programs compiled), compile and training time, model-steps
   per second, training cost per model-step against the seed study's, peak RSS of the
   process (the driver's only, on Ray) and the number of compiled training programs, and
   once the peak RSS of a baseline worker process. One size runs again with every baseline on one
   thread beside training (``--thread-sizes``, the former design).
   Then the exponent of wall time against the number of series (a log-log fit over the
   sizes from 10 up). A last row runs the 148 original, ragged series, padded to shared
   row counts.

    python benchmarks/scale.py [--sizes 1,10,100,1000] [--ray-sizes 10,100] [--epochs 50]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
SEED_ACTIVATIONS = ("tanh", "relu", "leaky_relu", "elu", "gelu", "silu")


def _panel(n: int, window: int) -> object:
    """``n`` series: the first ``n`` non-overlapping ``window``-month windows of the US
    employment series (or, with ``n = 0``, the 148 whole series)."""
    import pandas as pd

    from relulab.data import Series
    from relulab.data.panel import Panel

    frame = pd.read_csv(SHARED / "us_employment_long.csv")
    series = {}
    for sid, part in frame.groupby("series_id", sort=False):
        values = part["employed"].to_numpy(float)
        values = values[np.isfinite(values)]
        if n == 0:
            series[str(sid)] = Series(values, name=str(sid))
            continue
        for k in range(values.size // window):
            name = f"{sid}#{k}"
            series[name] = Series(values[k * window:(k + 1) * window], name=name)
            if len(series) == n:
                return Panel(series, source="us_employment windows")
    if n and len(series) < n:
        raise SystemExit(f"only {len(series)} windows of {window} months; lower --window")
    return Panel(series, source="us_employment")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(job: dict) -> dict:
    """One measurement, in this (fresh) process."""
    if job["kind"] == "worker":
        # What a baseline worker holds: its imports and one series' fit. VmHWM, not
        # ru_maxrss, which keeps the peak of the process it was forked from.
        import csv

        from relulab.study import executor, jax_trainer  # what a worker imports

        values = []  # the first series' first window, without the whole panel in pandas
        with open(SHARED / "us_employment_long.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row["employed"]:
                    values.append(float(row["employed"]))
                if len(values) == job["window"]:
                    break
        n = len(values)
        jax_trainer.fit_baselines(np.asarray(values), n - 16, n - 8, None)
        status = Path("/proc/self/status").read_text()
        hwm = next(line.split()[1] for line in status.splitlines()
                   if line.startswith("VmHWM"))
        return {"rss_mb": int(hwm) / 1024}

    from relulab import training
    from relulab.config import preset
    from relulab.study.executor import InProcessExecutor

    if job["kind"] == "seed":
        import pandas as pd

        from relulab.study import Study

        values = pd.read_csv(SHARED / "hotel_h1_weekly.csv")["cancellations"].to_numpy(float)
        config = preset("seed", activations=SEED_ACTIVATIONS, seeds=10)
        if not job["share"]:  # the former design: a compiled program per activation
            training.program_groups = lambda names: [(a,) for a in names]
        executor = InProcessExecutor()
        t0 = time.perf_counter()
        result = Study(config, values, executor=executor).run()
        wall = time.perf_counter() - t0
        t = result.timing
        return {"wall_s": wall, "compile_s": t["compile_s"], "train_s": t["train_s"],
                "model_steps": t["model_steps"],
                "programs": training._fit_program.cache_info().currsize}

    from relulab.study import run_panel

    config = preset("seed", activations=("tanh", "relu"), seeds=job["seeds"],
                    epochs=job["epochs"], test_size=8)
    panel = _panel(job["n"], job["window"])
    executor = None
    if job.get("thread"):  # the former design: every series' baselines on one side thread
        executor = InProcessExecutor(baseline_processes=0)
    if job["ray"]:
        from relulab.study.ray_executor import RayExecutor

        executor = RayExecutor(num_cpus=os.cpu_count())
    out = {}
    for phase in ("cold", "warm"):
        t0 = time.perf_counter()
        if job["ray"]:
            with executor:
                result = run_panel(config, panel, executor=executor)
        else:
            result = run_panel(config, panel, executor=executor)
        out[phase] = {"wall_s": time.perf_counter() - t0, **{
            k: result.timing[k] for k in ("compile_s", "train_s", "model_steps")}}
    out["series"] = len(result.series)
    out["rss_mb"] = _rss_mb()
    out["programs"] = training._fit_program.cache_info().currsize
    return out


def measure(job: dict) -> dict:
    env = {**os.environ, "RELULAB_JAX_CACHE": "0"}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"measurement {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10,100,1000")
    ap.add_argument("--ray-sizes", default="10,100")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--thread-sizes", default="100",
                    help="sizes also run with every baseline on one thread (the former design)")
    ap.add_argument("--no-ragged", action="store_true")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if not (SHARED / "us_employment_long.csv").exists():
        raise SystemExit(f"the panels are not at {SHARED}; see ../shared/data/README.md")

    print(f"{os.cpu_count()} CPUs; every measurement in a fresh process, compile cache off\n")
    shared = measure({"kind": "seed", "share": True})
    apart = measure({"kind": "seed", "share": False})
    print("Seed study (H1 weekly, 6 activations x 10 seeds), cold:")
    for name, r in (("one program per activation (before)", apart),
                    ("activations share a program (now)", shared)):
        print(f"  {name:38s} wall {r['wall_s']:6.2f} s  compile {r['compile_s']:5.2f} s  "
              f"train {r['train_s']:5.2f} s  programs {r['programs']}")
    print(f"  ratio now / before: {shared['wall_s'] / apart['wall_s']:.2f} (goal <= 0.5)")
    seed_step = shared["train_s"] / shared["model_steps"]
    print(f"  training cost per model-step: {seed_step * 1e9:.0f} ns\n")

    print(f"Scale: LSTM(4), batch 1, {args.epochs} epochs, {args.seeds} seeds, tanh and relu; "
          f"series = {args.window}-month windows of US employment")
    head = (f"  {'executor':9s} {'series':>6s} {'cold s':>8s} {'warm s':>8s} {'compile s':>9s} "
            f"{'steps/s':>10s} {'ns/step':>8s} {'vs seed':>7s} {'RSS MB':>7s} {'programs':>8s}")
    print(head)
    rows: dict[str, list[tuple[int, float]]] = {"inprocess": [], "ray": []}
    sizes = [int(s) for s in args.sizes.split(",") if s]
    ray_sizes = [int(s) for s in args.ray_sizes.split(",") if s]
    jobs = [("inprocess", n) for n in sizes] + [("ray", n) for n in ray_sizes]
    thread_sizes = [int(s) for s in args.thread_sizes.split(",") if s]
    jobs += [("thread", n) for n in thread_sizes]
    if not args.no_ragged:
        jobs.append(("inprocess", 0))
    for where, n in jobs:
        r = measure({"kind": "panel", "n": n, "window": args.window, "epochs": args.epochs,
                     "seeds": args.seeds, "ray": where == "ray", "thread": where == "thread"})
        cold, warm = r["cold"], r["warm"]
        per_step = warm["train_s"] / warm["model_steps"]
        label = str(n) if n else f"{r['series']} whole"
        print(f"  {where:9s} {label:>6s} {cold['wall_s']:8.2f} {warm['wall_s']:8.2f} "
              f"{cold['compile_s']:9.2f} {warm['model_steps'] / warm['train_s']:10.3g} "
              f"{per_step * 1e9:8.0f} {per_step / seed_step:7.2f} {r['rss_mb']:7.0f} "
              f"{r['programs'] if where != 'ray' else '–':>8}", flush=True)
        if n and where in rows:
            rows[where].append((n, cold["wall_s"]))
    if Path("/proc/self/status").exists():
        worker = measure({"kind": "worker", "window": args.window})
        print(f"  a baseline worker process: peak RSS {worker['rss_mb']:.0f} MB (one per "
              "CPU, at most one per four series, for 8 series or more)")
    for where, pts in rows.items():
        pts = [(n, w) for n, w in pts if n >= 10]
        if len(pts) >= 2:
            slope = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0]
            print(f"  {where}: cold wall time ~ series^{slope:.2f} "
                  f"(sizes {', '.join(str(p[0]) for p in pts)})")
    print("\nns/step and 'vs seed': training time per model-step (one optimiser update of one "
          "model) in the warm run, and its ratio to the seed study's (goal <= 1 at 1000 "
          "series). 'inprocess' fits the baselines in worker processes (one per CPU), "
          "'thread' on one thread beside training (the former design). On Ray, compile "
          "and train are summed over the workers, and RSS is the driver's.")


if __name__ == "__main__":
    main()
