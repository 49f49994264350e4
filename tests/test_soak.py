"""Soak: the whole suite 20 times in a row per target, in one process: same verdicts, no leaks.

Runs alternate between one check at a time and checks run ahead on 4 connections
(``--per-target-connections``): a parallel run must give the sequential run's verdicts.

Runs in CI (marker ``soak``; deselect with ``-m "not soak"``). Measured on a shared
2-core machine: about 0.8 s per run on each target (LB start and stop included), 15–17 s
per target, about 50 s for all three.
"""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import pytest
from gate_runs import run_suite_in_process

from mtlsgate.pki.keys import KeyPool
from mtlsgate.targets.local import binary_for

RUNS = 20
WARMUP = 3  # the first runs fill caches (SSL contexts, imports, the key pool)
TARGETS = ["reference", "local:nginx", "local:haproxy"]

pytestmark = pytest.mark.soak


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("spec", TARGETS)
def test_twenty_runs_same_verdicts_no_growth(spec, tmp_path, pool: KeyPool):
    if spec.startswith("local:") and binary_for(spec.split(":")[1]) is None:
        pytest.skip(f"needs {spec.split(':')[1]}")
    verdicts, fds, rss, threads = [], [], [], []
    for n in range(RUNS):
        workdir = tmp_path / f"run{n}"
        workdir.mkdir(mode=0o700)
        # Every other run probes the independent checks 4 at a time: the verdicts must not move.
        records = run_suite_in_process(spec, workdir, pool, connections=1 if n % 2 else 4)
        verdicts.append(sorted((r["id"], r["tls_version"], r["verdict"]) for r in records))
        gc.collect()
        fds.append(open_fds())
        rss.append(rss_kib())
        threads.append(threading.active_count())
    assert all(v == verdicts[0] for v in verdicts), "verdicts changed between runs"
    assert {v for _, _, v in verdicts[0]} <= {"pass", "warn", "skip", "unsupported"}
    steady = slice(WARMUP, None)
    assert max(fds[steady]) - min(fds[steady]) <= 2 and fds[-1] <= fds[WARMUP] + 2, f"open fds: {fds}"
    assert threads[-1] <= threads[WARMUP], f"threads: {threads}"
    # Memory: allow allocator noise, not growth proportional to the runs (a leak of even one
    # SSL context or PKI per run would exceed this over 17 runs).
    assert rss[-1] - rss[WARMUP] < 16 * 1024, f"RSS KiB: {rss}"
