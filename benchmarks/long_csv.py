"""Benchmark: reading a large long-format panel CSV, whole and for a few series.

Writes a long CSV (``unique_id,ds,y``; ``--series`` series × ``--rows`` monthly rows, some
200 MB at the defaults: 23,500 × 300) into a temporary folder, then measures, each in a
fresh Python process (wall time and peak RSS of that process):

- ``pandas.read_csv`` of the whole file, the floor any loader stands on (the reference);
- ``relulab.data.load_panel`` of the whole file;
- ``load_panel(..., series=3)``: the first three series only;
- ``relulab study --panel FILE --series 3`` end to end (2 seeds, 2 epochs, no database).

It prints each figure, the loader's ratio to the reference, and its peak memory as a
multiple of the file's size (the goals: the whole file in under 30 s, memory within 3× the
file, ``--series 3`` in seconds).

    python benchmarks/long_csv.py [--series 23500] [--rows 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, resource, sys, time
job = json.loads(sys.argv[1])
t0 = time.perf_counter()
if job["kind"] == "pandas":
    import pandas as pd
    frame = pd.read_csv(job["path"])
    n = frame["unique_id"].nunique()
else:
    from relulab.data import load_panel
    n = len(load_panel(job["path"], series=job.get("series")))
wall = time.perf_counter() - t0
print(json.dumps({"wall_s": wall, "series": n,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_panel(path: Path, n_series: int, n_rows: int) -> None:
    """``n_series`` random walks of ``n_rows`` months each, one row per series and month."""
    rng = np.random.default_rng(0)
    months = np.arange(np.datetime64("1995-01"), np.datetime64("1995-01") + n_rows)
    dates = np.datetime_as_string(months.astype("datetime64[D]"))
    with open(path, "w") as f:
        f.write("unique_id,ds,y\n")
        for s in range(n_series):
            values = np.round(1000 + 10 * rng.normal(size=n_rows).cumsum(), 3)
            sid = f"series_{s:05d}"
            f.write("".join(f"{sid},{d},{v}\n" for d, v in zip(dates, values, strict=True)))


def measure(job: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(job)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=23_500)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--keep", metavar="DIR", help="write the CSV here and keep it")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="relulab-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "long.csv"
    if not path.exists():
        t0 = time.perf_counter()
        write_panel(path, args.series, args.rows)
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s")
    size_mb = path.stat().st_size / 2**20
    print(f"{args.series} series x {args.rows} rows, {size_mb:.0f} MB, {os.cpu_count()} CPUs")

    ref = measure({"kind": "pandas", "path": str(path)})
    whole = measure({"kind": "relulab", "path": str(path)})
    three = measure({"kind": "relulab", "path": str(path), "series": 3})
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "relulab.cli", "study", "--panel", str(path),
                    "--series", "3", "--seeds", "2", "--epochs", "2", "--no-db", "--quiet"],
                   check=True, capture_output=True)
    cli = time.perf_counter() - t0

    print(f"{'what':42} {'wall':>8} {'peak RSS':>10} {'x file':>7} {'x pandas':>9}")
    for name, m in (("pandas.read_csv (reference)", ref), ("load_panel, every series", whole),
                    ("load_panel, series=3", three)):
        print(f"{name:42} {m['wall_s']:7.2f}s {m['peak_mb']:8.0f}MB "
              f"{m['peak_mb'] / size_mb:6.2f}x {m['wall_s'] / ref['wall_s']:8.2f}x")
    print(f"{'relulab study --panel --series 3 (CLI)':42} {cli:7.2f}s   (whole command: "
          "imports, reading, 2 seeds x 2 epochs, baselines)")
    if not args.keep:
        path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
