"""A real study process killed with SIGKILL mid-way resumes to the uninterrupted result."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

RELULAB = Path(sys.executable).with_name("relulab")
ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "silu", "leaky_relu")
SEEDS = 3


def _command(csv: Path, db: Path, out: Path) -> list[str]:
    return [str(RELULAB), "study", "--data", str(csv), "--activations", ",".join(ACTIVATIONS),
            "--seeds", str(SEEDS), "--epochs", "300", "--test-size", "10", "--db", str(db),
            "--json", str(out), "--quiet"]


def _groups(db: Path) -> dict[str, int]:
    """Runs per activation visible to a reader right now."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(db, timeout=30)
    try:
        return dict(conn.execute("SELECT activation, count(*) FROM runs GROUP BY activation"))
    except sqlite3.OperationalError:  # schema not created yet
        return {}
    finally:
        conn.close()


def _duplicates(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM (SELECT 1 FROM runs GROUP BY study_id, "
                            "activation, seed HAVING count(*) > 1)").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def series_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    t = np.arange(160)
    y = 100 + 30 * np.sin(2 * np.pi * t / 26) + rng.normal(0, 5, t.size)
    path = tmp_path_factory.mktemp("resume") / "series.csv"
    path.write_text("value\n" + "\n".join(f"{v:.3f}" for v in y) + "\n")
    return path


@pytest.mark.slow
@pytest.mark.skipif(not RELULAB.exists(), reason="console script not installed")
def test_sigkill_mid_study_then_resume_equals_uninterrupted(series_csv: Path,
                                                            tmp_path: Path) -> None:
    ref_out = tmp_path / "reference.json"
    subprocess.run(_command(series_csv, tmp_path / "reference.db", ref_out), check=True,
                   capture_output=True, timeout=600)
    reference = json.loads(ref_out.read_text())

    db, out = tmp_path / "killed.db", tmp_path / "killed.json"
    killed_with: dict[str, int] = {}
    for _attempt in range(3):  # a kill that lands after the last group is retried
        db.unlink(missing_ok=True)
        proc = subprocess.Popen(_command(series_csv, db, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            groups = _groups(db)
            if groups:  # the first group is committed: kill while the others are pending
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            killed_with = _groups(db)
            if len(killed_with) < len(ACTIVATIONS):
                break
    assert killed_with, "the study was never killed mid-way"
    assert 0 < len(killed_with) < len(ACTIVATIONS)
    # No half-written group is visible: every stored activation has all its seeds.
    assert set(killed_with.values()) == {SEEDS}
    assert not out.exists()

    resumed = subprocess.run(_command(series_csv, db, out), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(killed_with)} activation group(s)" in resumed.stderr
    result = json.loads(out.read_text())
    assert result["timing"]["groups_trained"] == len(ACTIVATIONS) - len(killed_with)
    assert _duplicates(db) == 0
    assert _groups(db) == dict.fromkeys(ACTIVATIONS, SEEDS)

    # Identical to the uninterrupted run: same runs, forecasts, statistics and verdicts.
    assert result["study_id"] == reference["study_id"]
    assert result["runs"] == reference["runs"]
    assert result["summary"] == reference["summary"]
    assert result["comparisons"] == reference["comparisons"]
    assert result["baselines"] == reference["baselines"]
