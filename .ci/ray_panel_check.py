"""CI: a small panel study through a real local Ray and in process; the numbers must match.

Runs `relulab study --panel ...` twice as a user would, once with `--executor ray` (a local
Ray started for the study and shut down after it) and once in process, each in a fresh
process with an empty compilation cache, then compares every (series, activation, seed)'s
forecasts, losses and metrics from the two databases exactly. Prints both wall times and
"equal"; exits 1 on any difference. Uses ../shared/data/visnights_wide.csv when present,
else a panel it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from relulab.store import Store

ROOT = Path(__file__).resolve().parents[1]
VISNIGHTS = ROOT.parent / "shared" / "data" / "visnights_wide.csv"
STUDY = ["--series", "4", "--activations", "tanh,relu", "--seeds", "2", "--epochs", "20",
         "--test-size", "8", "--quiet"]


def built_panel(path: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(76)
    quarters = [f"{1998 + i // 4}-{3 * (i % 4) + 1:02d}-01" for i in t]
    cols = {f"s{k}": 10 + 3 * np.sin(2 * np.pi * t / 4 + k) + rng.normal(0, 0.5, t.size)
            for k in range(4)}
    lines = ["quarter," + ",".join(cols)]
    lines += [f"{q}," + ",".join(f"{c[i]:.4f}" for c in cols.values())
              for i, q in enumerate(quarters)]
    path.write_text("\n".join(lines) + "\n")
    return path


def study(panel: Path, work: Path, executor: str) -> tuple[float, dict]:
    db, out = work / f"{executor}.db", work / f"{executor}.json"
    env = dict(os.environ, RELULAB_CACHE=str(work / f"cache-{executor}"))  # nothing cached
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "relulab.cli", "study", "--panel", str(panel),
                    *STUDY, "--executor", executor, "--db", str(db), "--json", str(out)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    runs = {}
    with Store(db) as store:
        for sid, s in json.loads(out.read_text())["series"].items():
            for r in store.load_runs(s["study_id"]):
                runs[(sid, r.activation, r.seed)] = r
    return wall, runs


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        panel = VISNIGHTS if VISNIGHTS.exists() else built_panel(work / "panel.csv")
        ray_wall, on_ray = study(panel, work, "ray")
        local_wall, in_process = study(panel, work, "inprocess")
    print(f"{panel.name}: 4 series x 2 activations x 2 seeds, 20 epochs; "
          f"ray (local, {os.cpu_count()} cores, start included) {ray_wall:.1f} s, "
          f"in process {local_wall:.1f} s")
    bad = sorted(set(on_ray) ^ set(in_process))
    for key in sorted(set(on_ray) & set(in_process)):
        a, b = on_ray[key], in_process[key]
        if not (np.array_equal(a.forecast, b.forecast) and np.array_equal(a.loss, b.loss)
                and np.array_equal(a.val_loss, b.val_loss) and a.metrics.keys() == b.metrics.keys()
                and np.array_equal(list(a.metrics.values()), list(b.metrics.values()),
                                   equal_nan=True)):
            bad.append(key)
    if bad or not on_ray:
        print(f"different: {bad or 'no runs'}")
        return 1
    print(f"equal ({len(on_ray)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
