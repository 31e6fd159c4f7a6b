"""The baseline worker processes die with the study: a study killed with SIGKILL (or by
the OOM killer) leaves no worker, nor the resource tracker, running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _with_ctrl_c(argv: list[str]) -> list[str]:
    """``argv`` run with SIGINT at its default, so that Python answers it with
    KeyboardInterrupt: a test suite started in the background by a non-interactive shell
    inherits SIGINT ignored, and Python leaves an ignored SIGINT ignored."""
    return [sys.executable, "-c", "import os, signal, sys; "
            "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
            *argv]

# A study's process in miniature: it starts the executor's worker pool, says which
# processes it started, and waits to be killed.
CHILD = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from relulab.study import executor

    def children():  # every process this one started (Linux: from /proc)
        if not os.path.isdir("/proc"):
            return []
        out = []
        for d in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                out.append(int(d))
        return out

    if sys.argv[1] == "pool":
        pools = executor._process_pool(2)  # kept: collecting it would close the pool
        pool = pools.__enter__()
    else:  # the parent watch of systems without Linux's parent-death signal
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=executor._watch_parent,
                                   initargs=(os.getpid(), 0.1))
    for f in [pool.submit(time.sleep, 0.5) for _ in range(2)]:
        f.result()  # both workers are up and have run their initializer
    workers = [p.pid for p in multiprocessing.active_children()]
    print(*workers, flush=True)
    print(*[p for p in children() if p not in workers], flush=True)  # the resource tracker
    time.sleep(600)
""")


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, ended and waiting to be reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return not Path("/proc").is_dir()


@pytest.mark.parametrize("how", ["pool", "watch"])
def test_workers_exit_when_the_study_is_killed(how: str) -> None:
    if how == "pool" and not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's; elsewhere the pool uses the watch")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, how], env=env,
                            stdout=subprocess.PIPE, text=True)
    started: list[int] = []
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        tracker = [int(p) for p in proc.stdout.readline().split()]
        started = workers + tracker
        assert len(workers) == 2 and all(_alive(p) for p in started)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [p for p in started if _alive(p)]
        assert not left, f"still running 5 s after the study was killed: {left}"
    finally:
        for p in [proc.pid, *started]:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        proc.wait(10)


# A study whose one training call lasts minutes on 2 cores (a wide, deep MLP) and whose
# compilation lasts seconds: it says each event as it comes, and how soon Ctrl-C got back.
LONG_STUDY = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from relulab.config import preset
    from relulab.data import Series
    from relulab.study.executor import InProcessExecutor
    from relulab.study.plan import make_plan

    config = preset("seed", model="mlp", units=256, layers=4, activations=("relu",),
                    seeds=8, epochs=60, test_size=10)
    plan = make_plan(config, Series(50 + 20 * np.sin(np.arange(100) / 3.0), "s"))
    try:
        InProcessExecutor(baseline_processes=0).run(
            plan, lambda *a: None, lambda *a: None,
            lambda event: print(type(event).__name__, time.monotonic(), flush=True))
        print("finished", time.monotonic(), flush=True)
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
    os._exit(0)  # as the command line does: XLA cannot stop what it runs
""")


@pytest.mark.parametrize("phase", ["Compiling", "GroupStarted"])
def test_ctrl_c_is_answered_at_once_while_compiling_and_training(phase: str) -> None:
    """JAX compiles and trains in its own threads; the study answers Ctrl-C within a
    second or two instead of when the compilation or the training call ends."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
               RELULAB_JAX_CACHE="0")
    proc = subprocess.Popen(_with_ctrl_c([sys.executable, "-c", LONG_STUDY]), env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        events = []
        for line in proc.stdout:
            events.append(line.split()[0])
            if events[-1] == phase:
                time.sleep(0.5)
                sent = time.monotonic()
                proc.send_signal(signal.SIGINT)
                break
        lines = proc.stdout.read().split("\n")
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    after = [line.split() for line in lines if line]
    ended = after[-1]
    next_event = {"Compiling": "Compiled", "GroupStarted": "GroupDone"}[phase]
    if any(e[0] == next_event and float(e[1]) < sent for e in after):
        pytest.skip(f"this machine finished the {phase} phase before the interrupt")
    assert ended[0] == "interrupted", after
    assert float(ended[1]) - sent < 2.0


def test_ctrl_c_in_a_terminal_ends_the_command_at_once(tmp_path) -> None:
    """The `relulab` command in a terminal, Ctrl-C (SIGINT to its process group) while a
    long training call runs: the command says so and ends within seconds, not when XLA
    finishes the call (the interpreter's exit would wait for it)."""
    import pty
    import select

    relulab = Path(sys.executable).with_name("relulab")
    if not relulab.exists():
        pytest.skip(f"no relulab script beside {sys.executable}")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
               RELULAB_JAX_CACHE="0", COLUMNS="120")
    main, child = pty.openpty()
    proc = subprocess.Popen(
        _with_ctrl_c([str(relulab), "study", "--bundled", "nile", "--model", "mlp", "--units",
                      "256", "--layers", "4", "--activations", "relu", "--seeds", "8",
                      "--epochs", "60", "--no-db"]),
        stdin=child, stdout=child, stderr=child, cwd=tmp_path, env=env, start_new_session=True)
    os.close(child)
    seen, sent = b"", None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if select.select([main], [], [], 0.2)[0]:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
            if sent is None and b"training relu" in seen:
                time.sleep(0.5)
                sent = time.monotonic()
                os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        took = time.monotonic() - sent if sent else None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        os.close(main)
    assert sent is not None, seen[-500:]
    assert code == 130 and b"interrupted; results already computed are kept" in seen
    assert took < 3.0
