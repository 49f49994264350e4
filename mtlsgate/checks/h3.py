"""QUIC against TCP: what the target refuses over TCP, it must refuse over HTTP/3 too.

LBs run client authentication over QUIC through other code than over TCP: Traefik's
HTTP/3 SNI lookup fell back to the default TLS options for mixed-case names
(GHSA-9cr8-q42q-g8m7), Go's QUIC resumption did not re-check ``ClientCAs``
(GO-2026-4530), and an operator can give the UDP listener another policy than the TCP one
on the same port. ``bypass.h3-parity`` presents every client the target turns away over
TCP again over QUIC; ``bypass.h3-sni-case`` spells the protected name's SNI the ways a
case-sensitive lookup misses. Both run in the ``quic`` column only.
"""

from __future__ import annotations

from ..judge import FAIL, PASS, SKIP, judge, observe
from ..wire import Outcome, RejectedTLS, describe
from . import catalogue
from .finding import NO_CERT_ADMITTED, Attempt, CheckContext, Finding, combine

#: The TCP side of the comparison: QUIC always runs TLS 1.3, so TCP does too.
TCP_VERSION = "1.3"


def _not_sent(outcome: Outcome, presented: bool) -> bool:
    """The QUIC client never sent the certificate (certificate_required, or aioquic says so)."""
    if not presented:
        return False
    return outcome.evidence.certificate_sent is False or (
        isinstance(outcome, RejectedTLS) and outcome.alert == "certificate_required")


def h3_parity(ctx: CheckContext) -> Finding:
    """Each rejection over TCP (TLS 1.3) checked again over QUIC: the finding is the difference."""
    tcp_valid = ctx.probe(ctx.valid, tls_version=TCP_VERSION) if ctx.valid is not None else None
    cases = [c for c in catalogue.CASES if c.expect == "reject" and c.requests == 1 and not c.missing(ctx.materials)]
    attempts: list[Attempt] = []
    for case in cases:
        credential = case.build(ctx.materials)
        tcp = ctx.probe(credential, tls_version=TCP_VERSION)
        seen = observe(tcp, tcp_valid)
        if credential is not None and isinstance(tcp, RejectedTLS) and tcp.alert == "certificate_required":
            attempts.append(Attempt(f"{case.id}: over TCP", SKIP,
                                    "the TCP client (OpenSSL) never sent this certificate (certificate_required): "
                                    "no rejection of it to compare", tcp))
            continue
        if seen.result != "rejected":
            attempts.append(Attempt(f"{case.id}: over TCP", SKIP,
                                    f"TLS {TCP_VERSION} over TCP does not reject it ({describe(tcp)}): no rejection "
                                    f"to compare (the check's own row judges that)", tcp))
            continue
        quic = ctx.probe(credential)
        label = f"{case.id}: TCP {seen.why}; over QUIC"
        if _not_sent(quic, credential is not None):
            attempts.append(Attempt(label, SKIP, f"the QUIC client did not send this certificate ({describe(quic)})",
                                    quic))
            continue
        verdict = judge(ctx.check_id, "reject", quic, ctx.baseline_valid, ctx.profile)
        if verdict.status == PASS:
            attempts.append(Attempt(label, PASS, verdict.reason, quic))
        else:
            attempts.append(Attempt(label, FAIL, f"rejected over TCP ({describe(tcp)}) but over QUIC: {verdict.reason}",
                                    quic))
    tried = [a for a in attempts if a.verdict != SKIP]
    return combine(ctx, attempts, pass_reason=f"all {len(tried)} clients rejected over TCP TLS {TCP_VERSION} are "
                                              "rejected over QUIC too" if tried else "")


def sni_spellings(name: str) -> list[tuple[str, str]]:
    """The protected name as SNI, spelled the ways a case- or dot-sensitive lookup misses."""
    mixed = "".join(ch.upper() if i % 2 == 0 else ch.lower() for i, ch in enumerate(name))
    out = [("SNI upper case", name.upper()), ("SNI mixed case", mixed), ("SNI trailing dot", f"{name}.")]
    seen: set[str] = set()
    return [(label, sni) for label, sni in out if sni != name and not (sni in seen or seen.add(sni))]  # type: ignore[func-returns-value]


def h3_sni_case(ctx: CheckContext) -> Finding:
    """QUIC, no certificate, the protected name's SNI spelled otherwise, Host/:authority exact."""
    if ctx.no_cert_admitted:
        return combine(ctx, [Attempt("SNI spellings over QUIC", SKIP, NO_CERT_ADMITTED)])
    name = ctx.protected_name
    spellings = sni_spellings(name)
    if not spellings:
        return combine(ctx, [Attempt("SNI spellings over QUIC", SKIP,
                                     f"the protected name {name!r} has no other spelling (an IP address?)")])
    attempts = []
    for label, sni in spellings:
        outcome = ctx.probe(None, server_name=sni, host_header=name, check_hostname=False)
        verdict = judge(ctx.check_id, "reject", outcome, ctx.baseline_valid, ctx.profile)
        attempts.append(Attempt(f"no certificate, {label} ({sni}), :authority {name}",
                                PASS if verdict.status == PASS else FAIL, verdict.reason, outcome))
    return combine(ctx, attempts)


__all__ = ["h3_parity", "h3_sni_case", "sni_spellings", "TCP_VERSION"]
