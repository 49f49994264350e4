"""How a fleet's targets are spread over processes: ``--jobs N`` shards, or xdist's workers.

``--jobs N`` (:func:`run_shards`) runs N ``pytest`` processes, each ``--shard K/N`` of the
targets with its own reports directory, and merges their reports as ``mtlsgate merge``
does. Each process runs its targets' checks in parallel as a single run does, and nothing
crosses between processes until the end. Under xdist every check is an item shipped to the
controller: six messages between processes per item, about 2 ms of CPU per item, which on
a two-core machine auditing 50 listeners (5550 items) was a sixth of the run.

xdist's ``loadgroup`` already keeps a group (here: one target) on one worker, which is what a
fleet needs. Its bookkeeping, though, grows with the square of a run's items: after every
test it recounts the pending tests of every group the worker was ever given, and it finds
each item it hands out by a linear search of the collection. A 50-listener fleet has 5550
items; that was about 0.7 s of the controller's CPU, on the two cores the workers and the
load balancers share. :class:`TargetScheduling` decides exactly as ``loadgroup`` does and
only keeps two answers at hand: a group whose tests are all done stays done, and an item's
index does not change. With an xdist whose scheduler is laid out differently, xdist's own
is used.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .errors import UsageError

#: How long shard processes get to write their reports after the run was interrupted.
STOP_GRACE_S = 30.0
#: The wait for shard processes polls this often; a run is bounded by its own probes' timeouts
#: (and --max-duration), the poll count by this many days of them.
POLL_S = 0.05
MAX_WAIT_S = 7 * 24 * 3600.0


class IndexedList(list):  # type: ignore[type-arg]
    """A list that is never changed after it is made, whose ``index()`` is a dict lookup."""

    def __init__(self, items: Any) -> None:
        super().__init__(items)
        self._at: dict[Any, int] = {}
        for at, item in enumerate(self):
            self._at.setdefault(item, at)

    def index(self, value: Any, *bounds: Any) -> int:  # type: ignore[override]
        if bounds:
            return super().index(value, *bounds)
        try:
            return self._at[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not in list") from None


def target_scheduler(config: pytest.Config, log: Any) -> Any | None:
    """A ``loadgroup`` scheduler with cheap bookkeeping; None where xdist's is not laid out as expected."""
    try:
        from xdist.scheduler import LoadGroupScheduling
    except ImportError:
        return None
    if not all(hasattr(LoadGroupScheduling, name) for name in ("_pending_of", "add_node_collection",
                                                               "_assign_work_unit")):
        return None

    class TargetScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self._done_units: dict[int, dict[str, bool]] = {}  # id -> the unit (kept, so the id stays its own)

        def add_node_collection(self, node: Any, collection: Any) -> None:
            super().add_node_collection(node, collection)
            registered = getattr(self, "registered_collections", {})
            if node in registered and not isinstance(registered[node], IndexedList):
                registered[node] = IndexedList(registered[node])

        def _pending_of(self, workload: dict[str, dict[str, bool]]) -> int:
            # A unit's tests are only ever marked done, never pending again (a crashed worker's
            # units go back to the queue as they are), so a finished unit stays finished.
            pending = 0
            for unit in workload.values():
                if id(unit) in self._done_units:
                    continue
                left = list(unit.values()).count(False)
                if not left:
                    self._done_units[id(unit)] = unit
                pending += left
            return pending

    return TargetScheduling(config, log)


def parse_jobs(value: str) -> int:
    """``--jobs``: a number of processes, or ``auto`` (one per CPU)."""
    if value == "auto":
        return max(1, os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--jobs {value}: expected a number of processes (1 or more) or auto")
    return int(value)


def run_shards(config: pytest.Config, jobs: int, target_count: int, formats: tuple[str, ...],
               pending_signal: str | None) -> int:
    """Run the suite as ``jobs`` shard processes and merge their reports into ``--reports-dir``.

    Each shard is this command line again with ``--shard K/N``, ``--jobs 1`` and the reports
    directory ``<reports-dir>/shards/K``, where it writes its ``mtlsgate.json`` only (the merged
    run writes the other reports once) and its pytest output, ``pytest.log``. The exit
    code is pytest's: a shard's usage error, internal error, interruption or untestable target
    (in shard order), else 1 when the merged run failed, else 0. ``pending_signal``: one that
    came during start-up (then no shard is started).
    """
    from .report import ReportsLock  # the rest of report/ loads while the shards run (see _run)

    count = min(jobs, target_count)
    out = Path(config.option.reports_dir)
    if pending_signal is not None:
        print("mtlsgate: interrupted during start-up; no shard was started")
        return int(pytest.ExitCode.INTERRUPTED)
    lock = ReportsLock(out)
    lock.acquire()
    held: tuple[Any, Any] | None = None  # the signal handlers put aside while merging
    try:
        shards = out / "shards"
        shutil.rmtree(shards, ignore_errors=True)  # an earlier run's shards are never merged into this one
        print(f"mtlsgate: {target_count} targets in {count} processes (--jobs); each one's output and reports "
              f"in {shards}/K/", flush=True)
        codes, interrupted = _run(config, shards, count)
        # The shards are done: the merge (well under a second) is not cut short by a signal, which
        # would leave a traceback and no merged report.
        held = signal.signal(signal.SIGINT, signal.SIG_IGN), signal.signal(signal.SIGTERM, signal.SIG_IGN)
        from .report import load_shards, merge_reports, run_status, target_lines, write_reports
        reports = [shards / str(k) / "mtlsgate.json" for k in range(1, count + 1)]
        for k, code in enumerate(codes, start=1):
            log = shards / str(k) / "pytest.log"
            last = _last_line(log)
            print(f"shard {k}/{count}: {last or '(no output)'} (exit {code})")
            if code not in (0, 1) and not interrupted:
                print(_tail(log), end="")
        missing = [str(p) for p in reports if not p.is_file()]
        if missing:
            print(f"mtlsgate: no merged report: {len(missing)} of {count} shards wrote none ({', '.join(missing)})")
            return next((c for c in codes if c not in (0, 1)), int(pytest.ExitCode.INTERNAL_ERROR))
        records, info = merge_reports(load_shards(reports), out.absolute())
        paths = write_reports(out, records, info, formats)
    finally:
        lock.release()
        if held is not None:
            signal.signal(signal.SIGINT, held[0])
            signal.signal(signal.SIGTERM, held[1])
    status = run_status(records, info)
    print(f"mtlsgate: {status}: {len(info.targets)} targets, {len(records)} checks from {count} processes")
    if len(info.targets) > 1:
        for line in target_lines(records, info):
            print(line)
    for name, path in paths.items():
        print(f"{name}: {path}")
    if interrupted:
        return int(pytest.ExitCode.INTERRUPTED)
    worst = next((c for c in codes if c not in (0, 1)), None)
    if worst is not None:
        return worst
    return 0 if status == "PASSED" and not any(codes) else int(pytest.ExitCode.TESTS_FAILED)


def _run(config: pytest.Config, shards: Path, count: int) -> tuple[list[int], bool]:
    """Start the shard processes, wait for them all; (their exit codes, whether this run was interrupted).

    Each runs in its own session, so Ctrl-C reaches this process alone, which passes exactly
    one signal on to each shard (a second one would cut its partial report short) and waits
    for their reports; any shard still running after :data:`STOP_GRACE_S` is killed by pid.
    """
    args = [*config.invocation_params.args]
    procs: list[subprocess.Popen[bytes]] = []
    interrupted: int | None = None
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        try:
            for k in range(1, count + 1):
                directory = shards / str(k)
                directory.mkdir(parents=True)
                with open(directory / "pytest.log", "wb") as log:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", "pytest", *args, "--jobs=1", f"--shard={k}/{count}",
                         f"--reports-dir={directory.absolute()}", "--report-formats=json"],
                        cwd=config.invocation_params.dir, stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, start_new_session=True))
            from . import report  # noqa: F401 - loaded now, while the shards start, not after them
            _wait(procs, MAX_WAIT_S)
        except KeyboardInterrupt as exc:
            interrupted = signal.SIGTERM if "SIGTERM" in str(exc) else signal.SIGINT
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the shards' reports are written before this returns
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(interrupted)
            _wait(procs, STOP_GRACE_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    return [_exit_code(proc.returncode) for proc in procs], interrupted is not None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _wait(procs: list[subprocess.Popen[bytes]], seconds: float) -> None:
    ends = time.monotonic() + seconds
    for _ in range(int(seconds / POLL_S) + 1):
        if all(proc.poll() is not None for proc in procs) or time.monotonic() > ends:
            return
        time.sleep(POLL_S)


def _exit_code(code: int | None) -> int:
    """A shard killed by a signal counts as interrupted (pytest's 2)."""
    if code is None or code < 0:
        return int(pytest.ExitCode.INTERRUPTED)
    return code


def _last_line(log: Path) -> str:
    lines = _tail(log).strip().splitlines()
    return lines[-1].strip("= ") if lines else ""


def _tail(log: Path, size: int = 4000) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


__all__ = ["IndexedList", "target_scheduler", "parse_jobs", "run_shards"]
