"""Write tests/pinned/studies.npz: the numbers of three small studies, for test_pinned.py.

Run from the repository root with ``.venv/bin/python tests/pinned/make_pins.py``. The
file was first written by the code *before* the engine was restructured (commit 649efa3),
so test_pinned.py proved that the restructuring left every number unchanged. It was
regenerated once, on purpose, when the losses and the end-of-epoch forward pass moved to
fixed-order sums and fixed-size chunks (so that a series' numbers do not depend on its
padding or batch): every number stayed within the cross-CPU tolerance (relative 1e-4) of
the earlier pins. It was regenerated a second time when the layers' products became
dots (relulab.models.layers.matmul): the seed preset's LSTM kept every bit, and 54 of
the 219 arrays of the two-layer LSTM and the MLP moved by at most 8.6e-6 relative.
Regenerate it only for a change that is meant to change the numbers, and say so.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pinned_cases import CASES, cpu_fingerprint, snapshot  # noqa: E402


def main() -> None:
    from relulab.study import Study

    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, object] = {"cpu": cpu_fingerprint(), "python": platform.python_version()}
    for name, (config, series) in CASES.items():
        result = Study(config, series).run()
        for key, value in snapshot(result).items():
            arrays[f"{name}/{key}"] = value
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez_compressed(HERE / "studies.npz", **arrays)
    print(f"wrote {len(arrays)} arrays to {HERE / 'studies.npz'}")


if __name__ == "__main__":
    main()
