"""Write tests/legacy/relulab-0.1.0.db: a results database as relulab 0.1.0 wrote it, before
a series' name was part of its study id (commit 306688a), for tests/test_legacy_db.py.

Run it with that code, not this checkout's (it refuses otherwise):

    git archive 306688a src | tar -x -C /tmp/relulab-0.1.0
    PYTHONPATH=/tmp/relulab-0.1.0/src .venv/bin/python tests/legacy/make_legacy_db.py

It holds, all on the bundled Nile series (no download) under CONFIG:

* ``nile``: a complete study;
* ``nile`` under PARTIAL_CONFIG: as a study killed after its first group leaves it;
* a wide panel of three series, two of them ("a/b" and "Zürich 🏨") with the same values,
  which relulab 0.1.0 stored as two studies, not three: "Zürich 🏨" got the study of "a/b".
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from relulab import store
from relulab.config import preset
from relulab.data import bundled, load_panel
from relulab.study import Outputs, run_study

HERE = Path(__file__).resolve().parent
DB = HERE / "relulab-0.1.0.db"
CONFIG = preset("seed", activations=("tanh", "relu"), seeds=2, epochs=3, test_size=8,
                data="bundled:nile")
PARTIAL_CONFIG = CONFIG.replace(activations=("tanh", "relu", "elu"))
PANEL_NAMES = ("a/b", "Zürich 🏨", "../evil/name")


def panel_frame() -> pd.DataFrame:
    """The panel: "a/b" and "Zürich 🏨" are the Nile + 1000, "../evil/name" half the Nile."""
    nile = bundled("nile")
    v = np.asarray(nile.values)
    return pd.DataFrame({"date": list(nile.dates), PANEL_NAMES[0]: v + 1000,
                         PANEL_NAMES[1]: v + 1000, PANEL_NAMES[2]: v / 2})


def main() -> None:
    if "series_name" in inspect.signature(store.study_key).parameters:
        sys.exit("run this with relulab 0.1.0's code (commit 306688a), not this checkout's")
    from relulab.study.panel import run_panel_study  # 0.1.0's place for it
    DB.unlink(missing_ok=True)
    outputs = Outputs(db=DB)
    run_study(CONFIG, outputs=outputs)

    # What a study killed after storing its first group leaves: the study opened, that
    # group stored (a group is one transaction), no analysis.
    whole, _ = run_study(PARTIAL_CONFIG, outputs=Outputs(db=None))
    nile = bundled("nile")
    with store.Store(DB) as s:
        sid = s.open_study(PARTIAL_CONFIG, series_name=nile.name, values=whole.values,
                           dates=whole.dates, data_hash=whole.data_hash,
                           train_end=whole.train_end, test_start=whole.test_start)
        s.save_group(sid, "tanh", [r for r in whole.runs if r.activation == "tanh"])
    run_panel_study(CONFIG.replace(data="panel.csv"), load_panel(panel_frame()),
                    outputs=outputs)
    with store.Store(DB) as s:
        s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        s._conn.execute("VACUUM")
        print(s.list_studies().to_string())


if __name__ == "__main__":
    main()
