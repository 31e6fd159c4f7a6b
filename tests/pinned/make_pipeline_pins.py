"""Write tests/pinned/pipelines.npz: every number of a small panel study and of a
``--seeds auto`` study (pinned_cases.pipeline_snapshots), for test_pinned.py.

It was written by the code before the study's three pipelines became one (commit
052f452, where the panel's pipeline was ``relulab.study.panel.run_panel``), so the test
shows that the change left every number of both as it was. Run from the repository root:
``.venv/bin/python tests/pinned/make_pipeline_pins.py``; regenerate only for a change
meant to change numbers, and say so.
"""

from __future__ import annotations

import json
import platform
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pinned_cases import cpu_fingerprint, pipeline_snapshots  # noqa: E402


def main() -> None:
    try:
        from relulab.study import run_panel
    except ImportError:  # the code before the pipelines became one
        from relulab.study.panel import run_panel
    from relulab.study.adaptive import run_adaptive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arrays = pipeline_snapshots(run_panel, run_adaptive)
    meta = {"cpu": cpu_fingerprint(), "python": platform.python_version()}
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez_compressed(HERE / "pipelines.npz", **arrays)
    print(f"wrote {len(arrays)} arrays to {HERE / 'pipelines.npz'}")


if __name__ == "__main__":
    main()
