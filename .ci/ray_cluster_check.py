"""CI: `relulab study --executor ray` beside and against a real `ray start --head` cluster.

Starts a one-CPU Ray head on 127.0.0.1 (free ports, a temporary directory of its own, a
token of its own: token authentication, as Ray 2.5x starts a head wherever a token exists),
then, as a user would, runs a tiny study

1. on that cluster by --address, with the token where Ray's CLI finds it: the JSON must
   equal the in-process study's;
2. on that cluster with a wrong token: one error line naming RAY_AUTH_MODE=token;
3. without --address while RAY_ADDRESS names the running cluster: a local Ray of its own;
4. at a closed port: one error line, within seconds.

The cluster is stopped at the end, also on failure or Ctrl-C, by killing only its own
processes: those whose command line names its directory, and their descendants (workers
rename themselves `ray::...`). Never `ray stop`, which ends every Ray on the machine.
Prints one line per check and exits 1 on the first failure.

    .venv/bin/python .ci/ray_cluster_check.py [DIR]   # the cluster's files in DIR (empty)
    .venv/bin/python .ci/ray_cluster_check.py --stop DIR   # only stop a cluster left there
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STUDY = ["--bundled", "nile", "--seeds", "2", "--epochs", "2", "--activations", "tanh,relu",
         "--test-size", "8", "--no-db", "--quiet"]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cluster_pids(tmp: str) -> set[int]:
    """The processes whose command line names ``tmp``, and all their descendants."""
    parent: dict[int, int] = {}
    roots: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            stat = (proc / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parent[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if tmp.encode() in cmdline:
            roots.add(int(proc.name))
    found, grew = set(roots), True
    while grew:
        kids = {pid for pid, ppid in parent.items() if ppid in found} - found
        found |= kids
        grew = bool(kids)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(tmp: str) -> int:
    """Kill the cluster's processes (TERM, then KILL what is left); how many there were.
    The PIDs are recorded first: a worker whose raylet has died is no one's descendant."""
    pids = cluster_pids(tmp)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids |= cluster_pids(tmp)
        for pid in filter(alive, pids):  # not one that has exited: its PID may be reused
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.2)
    left = sorted(pid for pid in pids if alive(pid))
    if left:
        raise SystemExit(f"the cluster's processes {left} are still alive")
    return len(pids)


def relulab(*args: str, env: dict[str, str]) -> tuple[int, str, float]:
    """A study as a user runs it: its exit code, its stderr and its wall time."""
    t0 = time.perf_counter()
    out = subprocess.run([str(BIN / "relulab"), "study", *STUDY, *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=300)
    return out.returncode, out.stderr, time.perf_counter() - t0


def check(ok: bool, what: str, detail: str = "") -> None:
    print(("ok    " if ok else "FAILED ") + what + (f": {detail}" if detail and not ok else ""),
          flush=True)
    if not ok:
        raise SystemExit(1)


def one_error_line(err: str, *words: str) -> bool:
    return (err.count("\n") == 1 and err.startswith("relulab: error: ")
            and all(w in err for w in words))


def main(work: Path, tmp: str) -> None:
    token = work / "auth_token"
    token.write_text(secrets.token_hex(32))
    # Workers import this checkout's relulab, as the driver does.
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    base = {k: v for k, v in os.environ.items()
            if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    env = dict(base, PYTHONPATH=path, RAY_AUTH_TOKEN_PATH=str(token),
               RELULAB_CACHE=str(work / "cache"))
    port, dash, agent, grpc, runtime, metrics = free_ports(6)
    t0 = time.perf_counter()
    started = subprocess.run(
        [str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agent}",
         f"--dashboard-agent-grpc-port={grpc}", f"--runtime-env-agent-port={runtime}",
         f"--metrics-export-port={metrics}", "--num-cpus=1", "--include-dashboard=false",
         "--disable-usage-stats", f"--temp-dir={tmp}"],
        env=env, capture_output=True, text=True, timeout=120)
    said = started.stdout + started.stderr
    tokens = importlib.util.find_spec("ray._private.authentication") is not None
    check(started.returncode == 0 and (not tokens or "Token authentication is enabled" in said),
          f"ray start --head on 127.0.0.1:{port}{' with token authentication' * tokens} "
          f"({time.perf_counter() - t0:.1f} s, {len(cluster_pids(tmp))} processes)",
          said[-2000:])
    address = f"127.0.0.1:{port}"

    code, err, wall = relulab("--executor", "ray", "--address", address, "--json",
                              str(work / "ray.json"), env=env)
    check(code == 0 and not err, f"a study on the cluster by --address ({wall:.1f} s)", err)
    code, err, _ = relulab("--json", str(work / "inprocess.json"), env=env)
    results = [json.loads((work / f"{name}.json").read_text())
               for name in ("ray", "inprocess")]
    for r in results:
        del r["timing"]
    check(code == 0 and results[0] == results[1], "its JSON equals the in-process study's",
          err or "the results differ")

    if tokens:
        wrong = dict({k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN_PATH"},
                     RAY_AUTH_TOKEN=secrets.token_hex(32))
        code, err, wall = relulab("--executor", "ray", "--address", address, env=wrong)
        check(code == 2 and one_error_line(err, address, "RAY_AUTH_MODE=token"),
              f"with a wrong token: one line naming RAY_AUTH_MODE=token ({wall:.1f} s)", err)
    else:
        print("skip  the wrong token: this Ray has no token authentication", flush=True)

    code, err, wall = relulab("--executor", "ray", env=dict(env, RAY_ADDRESS=address))
    check(code == 0 and not err,
          f"a local Ray of its own while RAY_ADDRESS names the cluster ({wall:.1f} s)", err)

    (closed,) = free_ports(1)
    code, err, wall = relulab("--executor", "ray", "--address", f"127.0.0.1:{closed}",
                              env=env)
    check(code == 2 and one_error_line(err, f"127.0.0.1:{closed}") and wall < 30,
          f"at a closed port: one line ({wall:.1f} s)", err)


def run(argv: list[str]) -> int:
    """``[DIR]``: the check, with the cluster in DIR (an empty directory) or in one of its
    own; ``--stop DIR``: only stop a cluster left in DIR (by a check killed outright)."""
    if argv[:1] == ["--stop"]:
        print(f"stopped {stop(argv[1])} processes of the cluster in {argv[1]}")
        return 0
    # SIGTERM or a hang-up (a CI timeout) unwinds like Ctrl-C, so the cluster is stopped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    # The cluster's own directory, short (Ray's socket paths must fit in 107 bytes) and
    # named by no other process: what identifies the cluster's processes.
    with tempfile.TemporaryDirectory(prefix="relulab-ci-") as work, \
            contextlib.nullcontext(argv[0]) if argv else \
            tempfile.TemporaryDirectory(prefix="rlray-", dir="/tmp") as tmp:
        try:
            main(Path(work), tmp)
        finally:
            print(f"stopped the cluster's {stop(tmp)} processes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
