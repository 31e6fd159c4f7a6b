"""Reaching a Ray cluster by --address: one line, within a bounded time, whatever answers.

Each study runs as a user runs it, in a process of its own: what reaches the terminal is
all there (Ray's C++ client writes to file descriptor 2, past ``sys.stderr``), and Ray's
retries behind a timed-out attempt end with the process. A study that hangs instead fails
the test after ``HANG`` seconds (Ray's own retries would take some fourteen minutes). The
"clusters" are sockets of the test's own on 127.0.0.1: one that refuses, one that accepts
and never answers. The real cluster, with token authentication, is `.ci/ray_cluster_check.py`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

import relulab
from relulab.cli import main

pytestmark = pytest.mark.slow  # a Python process per study

HANG = 60  # seconds: far beyond a refusal, far below Ray's own retries
STUDY = ["study", "--bundled", "nile", "--seeds", "2", "--epochs", "2", "--activations",
         "tanh,relu", "--no-db", "--quiet", "--executor", "ray"]


def _study(*args: str, **env: str) -> tuple[int, str, float]:
    """`relulab study` in a process of its own: exit code, stderr, seconds."""
    src = str(Path(relulab.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-m", "relulab.cli", *STUDY, *args],
                             env={**clean, "PYTHONPATH": path, **env}, capture_output=True,
                             text=True, timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail(f"relulab study {' '.join(args)} still hung after {HANG} s")
    return out.returncode, out.stderr, time.perf_counter() - t0


@pytest.fixture
def refusing():
    """An address where nothing listens: the port is bound (no one else gets it) but
    refuses connections."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def silent():
    """An address that accepts a connection and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield f"127.0.0.1:{s.getsockname()[1]}"


def test_a_closed_port_is_one_line_at_once_naming_the_address_and_the_fix(refusing) -> None:
    code, err, seconds = _study("--address", refusing)
    port = refusing.rsplit(":", 1)[1]
    assert code == 2, err
    assert err == (f"relulab: error: no Ray cluster at {refusing} (Connection refused): start "
                   f"one there with `ray start --head --port={port}`, or pass the address "
                   "`ray start --head` printed (HEAD:6379)\n")
    assert seconds < 30  # the default bound, of which the refusal needs none


def test_an_address_that_never_answers_fails_in_one_line_after_the_timeout(silent) -> None:
    code, err, seconds = _study("--address", silent, "--connect-timeout", "1")
    assert code == 2, err
    assert err == (f"relulab: error: the Ray cluster at {silent} did not answer within 1 s "
                   "(is it the head's GCS port, 6379 by default, not the dashboard's 8265?); "
                   "check `ray status` on the head, or give it longer with --connect-timeout\n")
    assert seconds < 30


def test_a_token_file_that_is_not_there_is_one_line_naming_the_token_settings(
        silent, tmp_path) -> None:
    """As Ray's CLI, relulab reads the token where RAY_AUTH_TOKEN_PATH says; a missing file
    is named with what to put where, not retried."""
    missing = tmp_path / "auth_token"
    code, err, _ = _study("--address", silent, RAY_AUTH_TOKEN_PATH=str(missing))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(
        f"relulab: error: no Ray token to reach the cluster at {silent} "
        f"(RAY_AUTH_TOKEN_PATH is set but file cannot be opened or is empty: {missing})")
    assert "~/.ray/auth_token" in err and "RAY_AUTH_MODE=token" in err


@pytest.mark.parametrize("flags, words", [
    (["--connect-timeout", "5"], "--connect-timeout bounds reaching the Ray cluster at "
                                 "--address"),
    (["--address", "head:6379", "--connect-timeout", "0"], "the connect timeout must be a "
                                                           "positive number of seconds, not 0"),
])
def test_connect_timeout_misuse_is_one_line(flags, words, capsys) -> None:
    assert main([*STUDY, *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err
