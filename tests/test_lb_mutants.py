"""The suite run as users run it against real load balancers: each correct configuration
passes, and each realistic misconfiguration is caught.

Every variant in ``fixtures/targets/<lb>/variants.toml`` is a mistake from
lb-behaviour.md §3, rendered from a template and started as the real binary on loopback by
``--target local:<lb>:<variant>``. Its ``fails`` list names the checks that must catch it.
A mistake the suite cannot catch is a bug in the suite: the test fails rather than the
mutant being dropped.

Ids that no suite implements yet (``trust.ca-names``, ``headers.*``, ``bypass.*``: issue 4)
stay in ``fails`` and are reported here as not yet checkable; the set of implemented ids is
derived from the catalogue, so this file tightens by itself when those checks land. A
variant whose mistake only such a check can see is a strict xfail naming that check.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from mtlsgate.checks import catalogue, registry
from mtlsgate.errors import UNTESTABLE_TARGET
from mtlsgate.gate.runner import FUZZ_CHECK, MODE_CHECK
from mtlsgate.judge.profiles import load as load_profile
from mtlsgate.targets import local
from mtlsgate.targets.local import LBS, binary_for, variants
from mtlsgate.targets.provision import in_ci

ROOT = Path(__file__).resolve().parent.parent
TLS_VERSIONS = ("1.2", "1.3")
TRANSPORTS = (*TLS_VERSIONS, "quic")
#: The LBs whose correct templates serve HTTP/3 on the same port (and announce it with Alt-Svc).
SERVES_H3 = ("caddy", "traefik")
NO_H3 = "the target does not offer HTTP/3"
NOT_OVER_QUIC = "not run over QUIC"
QUIC_ONLY = "a QUIC check"

#: The check ids the suites implement today: every catalogue case, the preflight, the fuzz
#: campaign, and the probe checks of the registry (bypass, headers, proof of possession, CA names).
IMPLEMENTED = frozenset({case.id for case in catalogue.CASES} | {MODE_CHECK, FUZZ_CHECK} | set(registry.PROBE_CHECKS))
#: Ids of checks a later issue adds (issue 4); a variant may name them before they exist.
LATER_ISSUE = re.compile(r"^(trust\.ca-names|headers\.[a-z-]+|bypass\.[a-z-]+)$")
#: The one inconclusive a correct local target may produce: a certificate the client library
#: would not send (observed "not sent", read from the client's Certificate message).
NOT_SENT = "not sent"
#: Skips a correct configuration may produce: a product that offers no HTTP/2 has no
#: connection to coalesce (byte tunnels in front of an HTTP/1.1 backend: stunnel, hitch; Squid's
#: https_port: HTTP/1.1 only), and one that cannot set identity headers has none to find (byte
#: tunnels: stunnel, hitch; Traffic Server 9.2: no client-certificate variables). Any other LB
#: skipping them has lost coverage (lighttpd offers h2, but honours the client's ALPN order).
NO_H2 = ("bypass.h2-coalescing", "the target does not offer HTTP/2")
NO_HTTP2 = frozenset({"stunnel", "hitch", "squid"})
NO_IDENTITY_HEADERS = frozenset({"stunnel", "hitch", "trafficserver"})


def allowed_skip(lb: str, check: dict) -> bool:
    reason = check["reason"]
    return ((check["id"] == NO_H2[0] and NO_H2[1] in reason and lb in NO_HTTP2)
            or (check["id"] == "headers.forwarded-identity" and lb in NO_IDENTITY_HEADERS
                and "forwards no identity" in reason))


class NotYetCheckable(UserWarning):
    """A variant names a check id that no suite implements yet."""


class MutantNotCaught(AssertionError):
    """The suite did not catch a mistake (the only failure a strict xfail may absorb)."""


def require_lb(lb: str) -> None:
    """Skip with one line when the binary is missing; under ``CI=true`` every LB is required."""
    if binary_for(lb) is None:
        message = f"{lb} is not installed; install it with: {local._INSTALL_HINT[lb]}"
        if in_ci():
            pytest.fail(f"{message}; every load balancer is required under CI=true", pytrace=False)
        pytest.skip(message)


def assert_no_false_pass(report: dict) -> None:
    """A check whose certificate never reached the target is never judged: inconclusive, never pass or fail."""
    for check in report["checks"]:
        evidence = (check.get("outcome") or {}).get("evidence") or {}
        if check["certificate"] is not None and evidence.get("certificate_sent") is False:
            assert check["verdict"] == "inconclusive" and check["observed"] == NOT_SENT, check


def _mutants() -> list:
    params = []
    for lb in LBS:
        for name, entry in variants(lb).items():
            if name == "correct":
                continue
            checkable = set(entry["fails"]) & IMPLEMENTED
            marks = ()
            if not checkable:
                later = ", ".join(sorted(entry["fails"]))
                marks = pytest.mark.xfail(strict=True, raises=MutantNotCaught,
                                          reason=f"only {later} (issue 4, not implemented yet) can catch this mistake")
            params.append(pytest.param(lb, name, marks=marks, id=f"{lb}:{name}"))
    return params


@pytest.mark.parametrize("lb", LBS)
def test_correct_configuration_passes_over_tls12_tls13_and_quic(run_suite, lb):
    require_lb(lb)
    run = run_suite("--target", f"local:{lb}")
    assert run.exit_code == 0, run.output[-3000:]
    report = run.report
    verdicts = {(c["id"], c["tls_version"]): c["verdict"] for c in report["checks"]}
    assert set(verdicts) == {(i, v) for i in IMPLEMENTED for v in TRANSPORTS}
    for check in report["checks"]:
        negotiated = (check["outcome"] or {}).get("evidence", {}).get("tls_version")
        expected = "TLSv1.3 (QUIC)" if check["tls_version"] == "quic" else f"TLSv{check['tls_version']}"
        assert negotiated in (None, expected), check  # None: rejected before a version was known
    unsupported = {i for (i, _), v in verdicts.items() if v == "unsupported"}
    assert unsupported == set(load_profile(lb).unsupported)  # what the profile says, and nothing else
    skipped = [c for c in report["checks"] if c["verdict"] == "skip"]
    allowed = (NOT_OVER_QUIC, QUIC_ONLY) + ((NO_H3,) if lb not in SERVES_H3 else ())
    assert all(allowed_skip(lb, c) or c["reason"].startswith(allowed) for c in skipped), skipped
    inconclusive = [c for c in report["checks"] if c["verdict"] == "inconclusive"]
    assert all(c["observed"] == NOT_SENT for c in inconclusive), inconclusive  # never a refused sibling here
    assert verdicts[(MODE_CHECK, "1.2")] == verdicts[(MODE_CHECK, "1.3")] == "pass"
    if lb in SERVES_H3:  # every check that can run over QUIC ran there, and passed like over TCP
        assert verdicts[(MODE_CHECK, "quic")] == verdicts[("bypass.h3-parity", "quic")] == "pass"
        assert verdicts[("bypass.h3-sni-case", "quic")] == "pass"
        quic = [c for c in report["checks"] if c["tls_version"] == "quic" and c["id"].startswith("reject.")
                and (c["outcome"] or {}).get("kind") == "rejected-tls"]
        assert quic and all("CRYPTO_ERROR 0x1" in c["outcome"]["evidence"]["detail"] for c in quic), quic
    else:  # no Alt-Svc h3: not one QUIC attempt, every QUIC case skipped with the reason
        assert all(c["verdict"] == "skip" and c["reason"].startswith(NO_H3) for c in report["checks"]
                   if c["tls_version"] == "quic")
    assert_no_false_pass(report)


@pytest.mark.parametrize(("lb", "variant"), _mutants())
def test_suite_catches_the_misconfiguration(run_suite, lb, variant):
    require_lb(lb)
    entry = variants(lb)[variant]
    declared = set(entry["fails"])
    checkable = declared & IMPLEMENTED
    later = sorted(declared - IMPLEMENTED)
    if later:
        warnings.warn(NotYetCheckable(f"{lb}:{variant}: {', '.join(later)} not yet checkable (issue 4)"), stacklevel=1)

    run = run_suite("--target", f"local:{lb}:{variant}")
    if entry.get("stops_run"):
        # Not an mTLS listener at all: the preflight (mode.client-auth-required) stops the run.
        assert run.exit_code == UNTESTABLE_TARGET, run.output[-3000:]
        lines = [line for line in run.output.splitlines() if line.startswith("mtlsgate:")]
        assert len(lines) == 1 and entry["stops_run"] in lines[0], run.output[-3000:]
        assert entry["stops_run"] in run.report["aborted"] and not run.report["checks"]
        caught = {MODE_CHECK}
        checkable &= {MODE_CHECK}  # the run stops before any other named check (e.g. trust.ca-names) can run
    else:
        assert run.exit_code in (0, 1) and run.report["checks"], run.output[-3000:]  # it ran: no false xfail
        assert_no_false_pass(run.report)
        if run.exit_code == 0:
            raise MutantNotCaught(f"{lb}:{variant}: the suite passed a misconfigured target")
        caught = run.failed
    missed = checkable - caught
    if missed:
        raise MutantNotCaught(f"{lb}:{variant}: {sorted(missed)} did not fail; failed: {sorted(caught)}")
    # What the variant makes WARN (a forged name the LB neither sets nor strips) is reported, neither
    # hidden as a pass nor failed.
    warned = {(c["id"], c["tls_version"]): c["verdict"] for c in run.report["checks"] if c["id"] in entry.get("warns", ())}
    assert {i for i, _ in warned} == set(entry.get("warns", ())), warned
    assert all(v == "warn" for (_, t), v in warned.items() if t != "quic"), warned
    # A too-permissive mistake must not also turn away valid clients, unless that is the mistake.
    assert {c for c in caught if c.startswith("accept.")} <= declared


def test_every_declared_id_is_a_check_id():
    """A typo in ``fails`` would otherwise read as "not yet checkable" and relax the test."""
    for lb in LBS:
        for name, entry in variants(lb).items():
            unknown = {i for i in entry["fails"] if i not in IMPLEMENTED and not LATER_ISSUE.match(i)}
            assert not unknown, f"{lb}:{name}: unknown check ids {sorted(unknown)}"
            warns = set(entry.get("warns", ()))
            assert warns <= IMPLEMENTED and not warns & set(entry["fails"]), f"{lb}:{name}: warns {sorted(warns)}"
            if name == "correct":
                assert not entry["fails"], f"{lb}: the correct configuration must fail nothing"
            else:
                assert entry["fails"], f"{lb}:{name}: a mutant must name the checks that catch it"


def test_implemented_ids_are_exactly_what_the_suites_check():
    """IMPLEMENTED is derived from the catalogue; the suites must run every one of those ids."""
    checked = set()
    for path in (ROOT / "suites").glob("test_*.py"):
        checked |= set(re.findall(r"gate\.check\(\"([^\"]+)\"\)", path.read_text()))
    assert checked == IMPLEMENTED


def test_each_lb_has_at_least_three_mutants_caught_by_checks_that_exist_today():
    for lb in LBS:
        caught_now = [n for n, e in variants(lb).items() if n != "correct" and set(e["fails"]) & IMPLEMENTED]
        assert len(caught_now) >= 3, f"{lb}: {caught_now}"
