"""A study beyond one machine: shards of series as Ray tasks.

:class:`RayExecutor` splits a plan's series into *shards* (a few series each, never one
series across two shards) and runs each shard as one Ray task on a cluster (``address``)
or on a local Ray started for the study and shut down after it. The task runs exactly the
in-process code (:class:`~relulab.study.executor.InProcessExecutor` on the shard's
sub-plan) and returns the shard's scored groups, its baselines and its timing; the numbers
are those of the in-process study, bit for bit on the same machine.

Only the driver (this process) writes the results store: each shard's groups are handed
over as the shard arrives, so an interrupted or failed distributed study resumes like a
local one, with only the missing groups in its plan. Ray does the scheduling: tasks,
retries (``max_retries``, also on exceptions; a relulab error, the input's own problem,
is returned as :class:`Refused` instead and not retried), ``ray.wait`` for whichever shard finishes
first, and the object store for the config (put once). At most a few shards per CPU of the
cluster are in flight at a time, so the driver's memory stays flat over many series.

``import ray`` happens only when a RayExecutor is made: ray is an optional dependency
(``pip install 'relulab[ray]'``), needed on the driver and on every worker, with the same
relulab version. Workers need no data files: the series travel with the tasks.

Reaching a cluster fails in one line within ``connect_timeout`` seconds, not after Ray's
own retries (some twenty attempts of up to forty seconds each): the head's port must
accept a TCP connection first (a closed port fails at once), and ``ray.init`` then runs on
a side thread that is waited for at most the rest of the time. Ray's own log lines from the
attempt (its C++ client writes them straight to file descriptor 2) are kept from the
terminal and read for the cause. A cluster with token authentication (Ray's default for
``ray start --head`` on a machine that has a token) is reached as ``ray.init(address=
"auto")`` reaches it: with the token where Ray finds one (``RAY_AUTH_TOKEN``,
``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``) unless ``RAY_AUTH_MODE`` says otherwise; a
refused token is one line naming them. A local Ray is always this study's own
(``address="local"``): a cluster running on the same machine, or ``RAY_ADDRESS``, is used
only when passed as ``address``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relulab.errors import RelulabError
from relulab.study import events
from relulab.study.events import ProgressFn
from relulab.study.executor import BaselineSink, ExecutionStats, GroupSink
from relulab.study.plan import Plan

_NOT_INSTALLED = "ray is not installed; pip install 'relulab[ray]'"
# A local Ray's shared-memory object store: shards return kilobytes, so 256 MB is plenty
# and keeps a laptop's memory for training.
_LOCAL_OBJECT_STORE = 256 * 1024**2
# Seconds to reach a cluster before giving up (RayExecutor's connect_timeout).
CONNECT_TIMEOUT = 30.0
_TOKEN_HELP = ("the head's token (`ray get-auth-token` there) in ~/.ray/auth_token here, or in "
               "RAY_AUTH_TOKEN or the file RAY_AUTH_TOKEN_PATH names, with RAY_AUTH_MODE=token")
# An attempt to reach a cluster that outlived its time: Ray's own retries go on in the
# background, and a second ray.init beside them would race them.
_pending: threading.Thread | None = None


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RelulabError(_NOT_INSTALLED) from None
    return ray


def run_shard(plan: Plan, version: str) -> tuple[list[tuple[Any, list[Any]]],
                                                 dict[str, Any], ExecutionStats] | Refused:
    """One shard, on a worker: the in-process executor over the shard's sub-plan (its
    series, units and trainer).

    Returns the groups in the order they finished, the baselines by series, and the stats;
    or :class:`Refused` with why, when the shard's input cannot be studied.
    """
    # On a GPU worker, JAX would otherwise reserve most of the device's memory up front.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import relulab
    from relulab.study.executor import InProcessExecutor

    if relulab.__version__ != version:
        return Refused(f"this worker has relulab {relulab.__version__}, the driver "
                       f"{version}; install the same version on every machine")
    groups: list[tuple[Any, list[Any]]] = []
    baselines: dict[str, Any] = {}
    # One CPU per task: the baselines stay on the task's thread, not in processes of its
    # own, and its steps train one at a time.
    try:
        stats = InProcessExecutor(baseline_processes=0, threads=1).run(
            plan, lambda key, runs: groups.append((key, runs)), baselines.__setitem__,
            events.quiet)
    except RelulabError as err:  # the input's own problem: every attempt would meet it
        return Refused(f"RelulabError: {err}")
    return groups, baselines, stats


@dataclass(frozen=True)
class Refused:
    """A shard's answer when its input cannot be studied (a relulab error, such as another
    relulab version on the worker): returned, not raised, so that Ray does not retry what
    would fail the same way every time."""

    reason: str


def _reason(exc: BaseException) -> str:
    """What went wrong in a task, in one line: the worker's own exception where Ray has it."""
    cause = getattr(exc, "cause", None)
    err = cause if isinstance(cause, BaseException) else exc
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _host_port(address: str) -> tuple[str, int] | None:
    """The head's host and port in ``HOST:PORT``, ``[IPv6]:PORT`` or ``ray://HOST:PORT``;
    None for ``auto`` and whatever else Ray alone can judge."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _probe(address: str, timeout: float) -> None:
    """One line unless the head's port accepts a TCP connection within ``timeout``: Ray's
    client retries a closed port or a silent host for many minutes."""
    where = _host_port(address)
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=timeout).close()
    except socket.gaierror as exc:
        raise RelulabError(f"cannot find the Ray head {where[0]!r} of --address {address} "
                           f"({exc.strerror}); pass the address `ray start --head` printed "
                           "there, HEAD:6379") from None
    except TimeoutError:
        raise RelulabError(f"nothing answered at {address} within {timeout:g} s; check the "
                           "address and that the head's port is open to this machine, or "
                           "give it longer with --connect-timeout") from None
    except OSError as exc:
        raise RelulabError(f"no Ray cluster at {address} ({exc.strerror or exc}): start one "
                           f"there with `ray start --head --port={where[1]}`, or pass the "
                           "address `ray start --head` printed (HEAD:6379)") from None


def _token_if_any() -> None:
    """Send this machine's Ray token, where Ray finds one and ``RAY_AUTH_MODE`` is unset, as
    ``ray.init(address="auto")`` and ``ray start --head`` do; a cluster without token
    authentication accepts it too. ``ray.init`` with an explicit address does not look."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray from before token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


@contextlib.contextmanager
def _fd2_into(log: Any) -> Iterator[None]:
    """File descriptor 2 goes to ``log`` meanwhile: Ray's C++ client writes a line there for
    every failed attempt, past Python's ``sys.stderr`` and logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _reach(ray: Any, address: str, timeout: float) -> None:
    """``ray.init(address)`` within ``timeout`` seconds, or one RelulabError saying why."""
    global _pending
    deadline = time.monotonic() + timeout
    _probe(address, timeout)
    error: list[BaseException] = []

    def attempt() -> None:
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except BaseException as exc:  # raised below, by the thread that waits
            error.append(exc)

    thread = threading.Thread(target=attempt, name="relulab-ray-connect", daemon=True)
    with tempfile.TemporaryFile() as log:
        try:
            with _fd2_into(log):
                try:
                    _token_if_any()
                except Exception as exc:  # RAY_AUTH_TOKEN_PATH names no token
                    error.append(exc)
                else:
                    thread.start()
                    thread.join(max(deadline - time.monotonic(), 0.0))
        finally:
            if thread.is_alive():  # timed out or Ctrl-C: Ray retries on in the background
                _pending = thread
        log.seek(0)
        said = log.read().decode(errors="replace")
    if error and not isinstance(error[0], Exception):
        raise error[0]
    why = _refusal(address, timeout, said, error[0] if error else None, thread.is_alive(),
                   os.environ.get("RAY_AUTH_MODE", "").lower())
    if why is not None:
        raise RelulabError(why)


def _refusal(address: str, timeout: float, said: str, error: Exception | None,
             waiting: bool, mode: str) -> str | None:
    """Why an attempt to reach ``address`` failed, in one line (None: it did not), from
    what Ray logged (``said``), what it raised, whether it is still ``waiting`` for an
    answer, and the token mode it ran in (``RAY_AUTH_MODE``)."""
    if "InvalidAuthToken" in said:  # Ray's client retries this for some 20 s, then raises
        why = ("refused the token found here" if mode == "token" else
               "needs a token and relulab sent none"
               + (f" (RAY_AUTH_MODE={mode})" if mode else " (none was found)"))
        return f"the Ray cluster at {address} {why}: put {_TOKEN_HELP}"
    if waiting:
        return (f"the Ray cluster at {address} did not answer within {timeout:g} s (is it "
                "the head's GCS port, 6379 by default, not the dashboard's 8265?); check "
                "`ray status` on the head, or give it longer with --connect-timeout")
    if error is None:
        return None
    if type(error).__name__ == "AuthenticationError":  # token mode, but no token here
        first = str(getattr(error, "message", error)).split(". ")[0].rstrip(".")
        return f"no Ray token to reach the cluster at {address} ({first}): put {_TOKEN_HELP}"
    return (f"cannot reach the Ray cluster at {address} ({_reason(error)}); check `ray "
            "status` on the head, and pass the address `ray start --head` printed "
            "(HEAD:6379)")


def _names(ids: list[str], most: int = 4) -> str:
    shown = ", ".join(ids[:most])
    return shown if len(ids) <= most else f"{shown}, … ({len(ids)} series)"


class RayExecutor:
    """Shards of ``shard_size`` series as Ray tasks (see the module docstring).

    ``address``: an existing cluster's (``HEAD:6379``, ``ray://HEAD:10001`` or ``auto``),
    reached within ``connect_timeout`` seconds or refused in one line; without one, this
    process's Ray if one is already started, else a local Ray of its own with ``num_cpus``
    CPUs (all by default), started for the study and shut down after it, whatever other Ray
    runs on the machine. ``max_retries``: how often Ray reruns a shard that failed (an
    exception or a lost worker) before it is reported. ``per_cpu``: shards in flight per
    CPU of the cluster.
    """

    def __init__(self, address: str | None = None, shard_size: int = 4, max_retries: int = 2,
                 num_cpus: int | None = None, per_cpu: int = 2,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        if shard_size < 1 or max_retries < 0 or per_cpu < 1:
            raise RelulabError("the Ray executor needs shard_size >= 1, max_retries >= 0 "
                               "and per_cpu >= 1")
        if not connect_timeout > 0:
            raise RelulabError(f"the connect timeout must be a positive number of seconds, "
                               f"not {connect_timeout}")
        self.ray = _import_ray()
        self.address = address
        self.connect_timeout = float(connect_timeout)
        self.shard_size = shard_size
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self.per_cpu = per_cpu
        self._keep = 0  # how deep inside `with`: Ray stays up between runs
        self._started = False  # this executor started the Ray that is up

    def __enter__(self) -> RayExecutor:
        """Keep one Ray up over several runs (a panel's series, --seeds auto's batches):
        the first run starts it (after the study has checked its data, so a bad series
        fails at once, not after Ray's start-up) and the later ones find it running."""
        self._keep += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        self._keep -= 1
        if self._started and not self._keep:
            self._started = False
            self.ray.shutdown()

    def check(self, plan: Plan) -> None:
        """A global model is refused (it trains on every series at once, and a shard of
        series would train another); the rest is each shard's worker's to check against
        its own memory, a refusal coming back as that shard's one line."""
        if getattr(plan.trainer, "pools_series", False):
            raise RelulabError("a global model trains on every series of the panel at once, "
                               "and Ray runs shards of series apart: leave --executor ray "
                               "out for --global")

    def start(self) -> bool:
        """Start (or reach) Ray now rather than at the first run; inside ``with``, it
        then stays up until the block ends. True when the caller must shut down the Ray
        this call started (outside ``with``)."""
        started = self._connect()
        if started and self._keep:  # shut down by __exit__, not by the caller
            self._started, started = True, False
        return started

    def shards(self, plan: Plan) -> list[list[str]]:
        """The plan's series in shards of ``shard_size``, in the plan's order (every series,
        also one whose groups are all stored: its baselines are fitted there)."""
        ids = list(plan.series)
        return [ids[i:i + self.shard_size] for i in range(0, len(ids), self.shard_size)]

    def _connect(self) -> bool:
        """Connect to Ray; True when this call started it (and so must shut it down)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        if _pending is not None and _pending.is_alive():
            raise RelulabError("an earlier attempt to reach a Ray cluster is still retrying "
                               "in this process (Ray gives up after some minutes); wait for "
                               "it, or run the study in a new process")
        if self.address is not None:
            _reach(ray, self.address, self.connect_timeout)
            return True
        import relulab

        # Local workers import the driver's relulab, wherever it is installed from.
        src = str(Path(relulab.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
        with warnings.catch_warnings():
            # Ray starts its processes by fork and exec; JAX warns about any fork, but an
            # exec'd child shares none of its threads.
            warnings.filterwarnings("ignore", message=r"os\.fork\(\)", category=RuntimeWarning)
            try:
                # "local": a Ray of our own, even where `ray start` or RAY_ADDRESS points
                # ray.init() at a running cluster (which refuses num_cpus and the store size).
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False,
                         object_store_memory=_LOCAL_OBJECT_STORE,
                         runtime_env={"env_vars": {"PYTHONPATH": path}},
                         logging_level=logging.ERROR, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise RelulabError(f"cannot start a local Ray ({_reason(exc)}); or start "
                                   "a cluster with `ray start --head` and pass --address "
                                   "HEAD:6379") from None
        return True

    def run(self, plan: Plan, on_group: GroupSink, on_baselines: BaselineSink,
            progress: ProgressFn = events.quiet) -> ExecutionStats:
        import relulab

        ray = self.ray
        started = self.start()
        stats = ExecutionStats()
        shards = self.shards(plan)
        try:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            limit = cpus * self.per_cpu
            progress(events.RayStarted(len(shards), cpus, limit, self.address or "local"))
            task = ray.remote(run_shard).options(
                num_cpus=1, max_retries=self.max_retries, retry_exceptions=True,
                name="relulab-shard")
            todo: Iterator[tuple[int, list[str]]] = iter(enumerate(shards))
            flight: dict[Any, tuple[int, list[str], float]] = {}
            failed: list[str] = []

            def submit() -> None:
                for k, ids in todo:
                    ref = task.remote(plan.only(ids), relulab.__version__)
                    flight[ref] = (k, ids, time.perf_counter())
                    if len(flight) >= limit:
                        return

            def take(ref: Any) -> None:
                k, ids, t0 = flight.pop(ref)
                try:
                    out = ray.get(ref)
                    reason = out.reason if isinstance(out, Refused) else None
                    tries = "not retried"
                except Exception as exc:  # every retry spent: report it, keep the rest going
                    reason = _reason(exc)
                    tries = f"after {self.max_retries + 1} attempts"
                if reason is not None:
                    failed.append(f"shard {k + 1} (series {_names(ids)}, {tries}): {reason}")
                    progress(events.ShardFailed(k, len(shards), tuple(ids), reason))
                    return
                groups, baselines, shard_stats = out
                for key, runs in groups:
                    on_group(key, runs)
                for sid, b in baselines.items():
                    on_baselines(sid, b)
                stats.compile_s += shard_stats.compile_s
                stats.train_s += shard_stats.train_s
                stats.model_steps += shard_stats.model_steps
                progress(events.ShardDone(k, len(shards), tuple(ids),
                                          sum(len(plan.units_of(key)) for key, _ in groups),
                                          time.perf_counter() - t0))

            submit()
            try:
                while flight:
                    ready, _ = ray.wait(list(flight), num_returns=1)
                    take(ready[0])
                    submit()
            except KeyboardInterrupt:
                # Keep every shard that has finished; the rest are cancelled below.
                ready, _ = ray.wait(list(flight), num_returns=len(flight), timeout=0)
                for ref in ready:
                    take(ref)
                raise
            finally:
                for ref in flight:
                    ray.cancel(ref, force=True)
            if failed:
                raise RelulabError(
                    f"{len(failed)} of {len(shards)} shards failed (every other shard's "
                    "groups are kept, and rerunning the same command runs only what is "
                    "missing): " + "; ".join(failed))
        finally:
            if started:
                ray.shutdown()
        return stats
