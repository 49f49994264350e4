"""The checks beyond the handshake against real LBs: correct configurations pass, mutants are caught.

For each local LB (skipped with a one-line reason when its binary is missing) the correct
configuration must *pass* — not skip — every bypass, header, proof-of-possession and CA-names
check over TCP, but for what the product cannot do: a forged identity-looking name the LB
neither sets nor strips is a WARN under default (the templates strip only their own names, as
production configs do); an LB that offers no HTTP/2 skips bypass.h2-coalescing, and one that
sets no identity header (byte tunnels, Traffic Server 9.2) skips headers.forwarded-identity,
each with that reason (``allowed_skip``). Every variant whose ``fails`` (variants.toml) names
one of those checks must fail it, and one whose ``warns`` names one must WARN it (neither pass
nor fail). Only the suites of these checks run (``-k``), to keep the runs short.
"""

from __future__ import annotations

import pytest
from test_lb_mutants import NO_IDENTITY_HEADERS, allowed_skip

from mtlsgate.checks.registry import PROBE_CHECKS
from mtlsgate.errors import UNTESTABLE_TARGET
from mtlsgate.targets.local import LBS, binary_for, variants

NEW_IDS = set(PROBE_CHECKS)
#: The LBs whose correct templates serve HTTP/3 (Alt-Svc h3) on the same port.
SERVES_H3 = ("caddy", "traefik")
SELECT = ("-k", "test_bypass or test_headers or advertised_ca_names or proof_of_possession")


def _need(lb: str) -> None:
    if binary_for(lb) is None:
        pytest.skip(f"{lb} is not installed")


def _mutants() -> list[tuple[str, str, set[str]]]:
    """(lb, variant, the new checks its ``fails`` or ``warns`` name) for every mutant naming one."""
    out = []
    for lb in LBS:
        for name, entry in variants(lb).items():
            named = (set(entry["fails"]) | set(entry.get("warns", ()))) & NEW_IDS
            if name != "correct" and named:
                out.append((lb, name, named))
    return out


@pytest.mark.parametrize("lb", LBS)
def test_correct_configuration_passes_every_check_beyond_the_handshake(run_suite, lb):
    _need(lb)
    run = run_suite("--target", f"local:{lb}", *SELECT)
    assert run.exit_code == 0, run.output
    verdicts = {(c["id"], c["tls_version"]): c["verdict"] for c in run.report["checks"]}
    assert {i for i, _ in verdicts} == NEW_IDS
    # Over TCP every check passes, but for forged names the LB neither sets nor strips (the templates
    # set and strip only their own identity headers, as production configs do): reported (WARN),
    # never failed, under default; and for what the product cannot do (no HTTP/2 to coalesce, no
    # identity header to find): skipped with that reason. QUIC-only checks skip over TCP.
    def acceptable(check: dict) -> bool:
        return (check["verdict"] == "pass" or (check["verdict"] == "warn" and check["id"] == "headers.spoof-with-cert")
                or (check["verdict"] == "skip" and allowed_skip(lb, check)))

    by_row = {(c["id"], c["tls_version"]): c for c in run.report["checks"]}
    tcp = {k: c for k, c in by_row.items() if k[1] != "quic" and not PROBE_CHECKS[k[0]].quic_only}
    assert all(acceptable(c) for c in tcp.values()), {k: (c["verdict"], c["reason"]) for k, c in tcp.items()
                                                      if not acceptable(c)}
    for (check_id, version), c in by_row.items():
        check = PROBE_CHECKS[check_id]
        if version != "quic":
            assert check.quic_only or acceptable(c)
        elif lb not in SERVES_H3:  # no Alt-Svc h3: no QUIC attempt at all
            assert c["verdict"] == "skip" and c["reason"].startswith("the target does not offer HTTP/3"), check_id
        elif check.not_over_quic:  # a TCP-only client: skipped over QUIC with that reason
            assert c["verdict"] == "skip" and c["reason"].startswith("not run over QUIC"), check_id
        else:  # everything that can run over QUIC passes there, as over TCP
            assert acceptable(c), (check_id, run.report["checks"])
    forwarded = [c for k, c in tcp.items() if k[0] == "headers.forwarded-identity"]
    if lb in NO_IDENTITY_HEADERS:  # nothing set, nothing declared: skipped, and the reason says so
        assert all(c["verdict"] == "skip" and "forwards no identity" in c["reason"] for c in forwarded), forwarded
    else:
        assert all(c["verdict"] == "pass" and ("found" in c["reason"] or "declared" in c["reason"])
                   for c in forwarded), forwarded


def test_a_forged_name_the_lb_neither_sets_nor_strips_is_a_warning_not_a_failure(run_suite):
    """nginx sets X-SSL-Client-DN; a client's X-SSL-Client-S-DN reaches the backend: WARN (strict: FAIL)."""
    _need("nginx")
    run = run_suite("--target", "local:nginx", "-k", "test_headers")
    assert run.exit_code == 0, run.output
    spoof = [c for c in run.report["checks"] if c["id"] == "headers.spoof-with-cert" and c["tls_version"] != "quic"]
    assert {c["tls_version"] for c in spoof} == {"1.2", "1.3"} and {c["verdict"] for c in spoof} == {"warn"}
    quic = next(c for c in run.report["checks"] if c["id"] == "headers.spoof-with-cert" and c["tls_version"] == "quic")
    assert quic["verdict"] == "skip" and quic["reason"].startswith("the target does not offer HTTP/3")  # nginx: TCP only
    for c in spoof:
        assert "X-SSL-Client-S-DN" in c["reason"] and "strip these or make sure the backend never reads them" in c["reason"]
        assert "X-SSL-Client-DN," in c["reason"]  # named among the headers nginx sets, not among the leaks
        assert any(v.startswith("mtlsgate-spoof-") for k, v in c["backend_headers"] if k == "X-SSL-Client-S-DN")
    strict = run_suite("--target", "local:nginx", "--profile", "strict", "-k", "test_headers")
    spoof = [c for c in strict.report["checks"] if c["id"] == "headers.spoof-with-cert" and c["tls_version"] != "quic"]
    assert {c["tls_version"] for c in spoof} == {"1.2", "1.3"} and {c["verdict"] for c in spoof} == {"fail"}
    assert all("X-SSL-Client-S-DN" in c["reason"] for c in spoof)


def test_declared_identity_header_that_is_missing_fails(run_suite):
    """--identity-header names a header the LB does not set: forwarded-identity fails and says so."""
    _need("nginx")
    run = run_suite("--target", "local:nginx", "--identity-header", "X-Client-Subject=subject-dn",
                    "-k", "test_backend_receives")
    check = next(c for c in run.report["checks"] if c["id"] == "headers.forwarded-identity")
    assert check["verdict"] == "fail" and "X-Client-Subject (subject-dn, declared): not received" in check["reason"]



@pytest.mark.parametrize("lb,variant,named", _mutants(), ids=[f"{lb}:{v}" for lb, v, _ in _mutants()])
def test_each_mutant_fails_the_new_checks_that_name_it(run_suite, lb, variant, named):
    _need(lb)
    run = run_suite("--target", f"local:{lb}:{variant}", *SELECT)
    if run.exit_code == UNTESTABLE_TARGET:
        # A listener that does not even request a certificate is stopped by preflight,
        # which is the only correct answer; its variant must say so.
        assert "mode.client-auth-required" in variants(lb)[variant]["fails"], run.output
        return
    entry = variants(lb)[variant]
    fails, warns = named & set(entry["fails"]), named & set(entry.get("warns", ()))
    # Only these checks run: a variant they can only warn about (a byte tunnel letting a client
    # without a certificate in: reject.no-cert fails it, outside this selection) exits 0.
    assert run.exit_code == (1 if fails else 0), run.output
    assert fails <= run.failed, run.output
    tcp = {(c["id"], c["tls_version"]): c["verdict"] for c in run.report["checks"]
           if c["id"] in warns and c["tls_version"] != "quic"}
    assert {i for i, _ in tcp} == warns and all(v == "warn" for v in tcp.values()), tcp  # reported, not passed, not failed
    if variant == "sni-host-bypass":  # the variants this issue added: nothing beyond what they name
        assert run.failed <= named, run.failed - named


def test_header_checks_show_what_the_backend_received(run_suite):
    if binary_for("nginx") is None:
        pytest.skip("nginx is not installed")
    run = run_suite("--target", "local:nginx:headers-not-sanitised", "-k", "test_headers")
    leak = next(c for c in run.report["checks"] if c["id"] == "headers.spoof-with-cert" and c["verdict"] == "fail")
    received = {name.lower() for name, _ in leak["backend_headers"]}
    assert "client-cert" in received and "x-ssl-client-verify" in received
    assert "X-SSL-Client-Verify: mtlsgate-spoof-" in leak["reason"]  # a name nginx was meant to set
    assert "Client-Cert" in run.output and "mtlsgate-spoof-" in (run.reports / "summary.md").read_text()


def test_reference_target_passes_and_skips_h2_with_the_reason(run_suite):
    run = run_suite(*SELECT)
    assert run.exit_code == 0, run.output
    by_verdict: dict[str, set[str]] = {}
    tcp = [c for c in run.report["checks"] if c["tls_version"] != "quic" and not PROBE_CHECKS[c["id"]].quic_only]
    for c in tcp:
        by_verdict.setdefault(c["verdict"], set()).add(c["id"])
    assert by_verdict["skip"] == {"bypass.h2-coalescing"}
    assert {i for i in NEW_IDS if not PROBE_CHECKS[i].quic_only} - {"bypass.h2-coalescing"} == by_verdict["pass"]
    reasons = {c["reason"] for c in tcp if c["verdict"] == "skip"}
    assert all("does not offer HTTP/2" in r for r in reasons)
    quic = [c for c in run.report["checks"] if c["tls_version"] == "quic"]
    assert quic and all(c["verdict"] == "skip" and "TCP-only" in c["reason"] for c in quic)
