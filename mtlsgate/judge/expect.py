"""From an outcome to a verdict, under a profile, against the valid client's answer.

The baseline matters: a backend that answers 404 on ``/`` answers 404 to a valid client
too, so "got a 4xx" alone would turn every reject check into a false PASS. A bad client is
*accepted* when it gets what a valid client gets (the same status, or the echo backend saw
its request), *rejected* when it gets an alert, an EOF, a 421 or a different 4xx, and the
attempt is *inconclusive* when the target could not be reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire import Accepted, Misdirected, Outcome, RejectedEOF, RejectedHTTP, RejectedTLS, Unreachable
from .profiles import Profile

PASS, FAIL, WARN, SKIP, UNSUPPORTED = "pass", "fail", "warn", "skip", "unsupported"
#: ``observed`` of a skip the target's transport decides: it does not offer it (no HTTP/3, no
#: TLS 1.2, no HTTP/2 for the coalescing check), or the check has no verdict over it (a
#: QUIC-only check over TCP). Not lost coverage: left out of the coverage count, never fails
#: ``--require-all`` (mtlsgate.report re-exports it).
NOT_APPLICABLE = "not applicable"
#: The check ran but its answer says nothing about what it names: the certificate was never
#: sent, or the valid sibling (the same client without the fault) was refused too. Never a
#: pass, never a failure of the run.
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Observation:
    result: str  # "accepted" | "rejected" | "inconclusive"
    signal: str | None  # the rejection signal: tls-alert | eof | http-4xx | misdirected
    why: str


def observe(outcome: Outcome, baseline: Outcome | None) -> Observation:
    """Did the target treat this client like the valid one?"""
    if isinstance(outcome, Unreachable):
        return Observation("inconclusive", None, outcome.reason)
    if isinstance(outcome, RejectedTLS):
        return Observation("rejected", "tls-alert", f"TLS alert {outcome.alert} ({outcome.phase})")
    if isinstance(outcome, RejectedEOF):
        return Observation("rejected", "eof", f"connection closed without an answer ({outcome.phase})")
    if isinstance(outcome, Misdirected):
        return Observation("rejected", "misdirected", "HTTP 421 Misdirected Request")
    if isinstance(outcome, Accepted) and outcome.reached_backend:
        return Observation("accepted", None, f"HTTP {outcome.status} and the request reached the backend")
    base_status = baseline.status if isinstance(baseline, (Accepted, RejectedHTTP)) else None
    base_reached = isinstance(baseline, Accepted) and baseline.reached_backend
    if isinstance(outcome, RejectedHTTP):
        if base_status == outcome.status and not base_reached:
            return Observation("accepted", None, f"HTTP {outcome.status}, the same answer a valid client gets")
        return Observation("rejected", "http-4xx", f"HTTP {outcome.status}" + (f' "{outcome.marker}"' if outcome.marker else ""))
    assert isinstance(outcome, Accepted)
    if base_reached:
        # The LB answered by itself where a valid client reaches the backend (a login
        # redirect, an error page): the protected backend was not exposed.
        return Observation("rejected", "http-other", f"HTTP {outcome.status} from the LB itself; the backend was not reached")
    return Observation("accepted", None, f"HTTP {outcome.status}")


@dataclass(frozen=True)
class Verdict:
    status: str  # pass | fail | warn | inconclusive | skip | unsupported
    expected: str  # accept | reject
    observed: str  # accepted | rejected | inconclusive | not run
    reason: str


def judge(check_id: str, expected: str, outcome: Outcome, baseline: Outcome | None, profile: Profile) -> Verdict:
    """The verdict for one check; every reason names the outcome that decided it."""
    seen = observe(outcome, baseline)
    verdict = _judge(check_id, expected, seen, profile)
    if verdict.status == FAIL and check_id in profile.unsupported:
        return Verdict(UNSUPPORTED, expected, seen.result,
                       f"not supported by target: {profile.unsupported[check_id]} ({seen.why})")
    return verdict


def _judge(check_id: str, expected: str, seen: Observation, profile: Profile) -> Verdict:
    if seen.result == "inconclusive":
        return Verdict(FAIL, expected, seen.result, f"no verdict possible: {seen.why}")
    if expected == "accept":
        if seen.result == "accepted":
            return Verdict(PASS, expected, seen.result, f"accepted: {seen.why}")
        return Verdict(FAIL, expected, seen.result, f"a valid client was rejected: {seen.why}")
    if seen.result == "rejected":
        signal = "http-4xx" if seen.signal == "http-other" else seen.signal
        if signal in profile.rejection_signals:
            return Verdict(PASS, expected, seen.result, f"rejected: {seen.why}")
        return Verdict(FAIL, expected, seen.result,
                       f"rejected by {seen.why}, but profile {profile.name} accepts only "
                       f"{', '.join(sorted(profile.rejection_signals))}")
    if profile.policy_for(check_id) == "warn":
        return Verdict(WARN, expected, seen.result,
                       f"accepted ({seen.why}); profile {profile.name} leaves this to the operator's policy")
    return Verdict(FAIL, expected, seen.result, f"should be rejected but was accepted: {seen.why}")


def not_sent(verdict: Verdict, tls_version: str, signature_hash: str | None, sigalgs: tuple[str, ...] | None,
             presents: str) -> Verdict:
    """The client never sent the check's certificate: the target judged a client without one.

    OpenSSL withholds a certificate whose signature the server's CertificateRequest does
    not allow (TLS 1.3 signature_algorithms_cert, TLS 1.2 supported_signature_algorithms).
    """
    why = f"TLS {tls_version}: the client did not send this certificate ({presents})"
    if signature_hash and sigalgs is not None and not any(signature_hash in a.replace("_", "") for a in sigalgs):
        field = "signature_algorithms_cert" if tls_version == "1.3" else "supported_signature_algorithms"
        why = (f"TLS {tls_version}: the server's {field} excludes {signature_hash.upper()}; "
               f"the client could not present this certificate ({presents})")
    return Verdict(INCONCLUSIVE, verdict.expected, "not sent",
                   f"{why}, so the target judged a client without one ({verdict.observed}); this says nothing "
                   "about the property under test")


def against_sibling(verdict: Verdict, sibling: str, sibling_outcome: Outcome, baseline: Outcome | None) -> Verdict:
    """A rejection only counts if the sibling (the same client without the fault) gets in.

    Otherwise the target refuses both for some other reason (a missing CRL for an
    intermediate, a verify depth, a key type it does not take) and the rejection proves
    nothing about the fault: ``inconclusive``, naming the sibling and its outcome.
    """
    if verdict.expected != "reject" or verdict.observed != "rejected":
        return verdict
    seen = observe(sibling_outcome, baseline)
    if seen.result == "accepted":
        return verdict
    what = "was refused too" if seen.result == "rejected" else "could not be judged"
    return Verdict(INCONCLUSIVE, verdict.expected, verdict.observed,
                   f"{verdict.reason}; but its valid sibling {sibling} {what} ({seen.why}), so the rejection "
                   "proves nothing about the fault under test")


#: Why a valid chain through an intermediate is refused while a leaf directly under the CA gets in.
INTERMEDIATE_CAUSES = (
    "either the target checks a CRL for every CA in the chain (CRL_CHECK_ALL: nginx ssl_crl, HAProxy crl-file, "
    "Apache SSLCARevocationCheck chain, stunnel CRLfile, lighttpd) and has none for the suite's intermediates "
    "- fix: append the bundle `mtlsgate crls --client-ca-cert CA.crt --client-ca-key CA.key --out suite-crls.pem` "
    "writes to the LB's CRL file (docs/targets.md) - or its verify depth is too small for a leaf, an intermediate "
    "and the root (e.g. nginx ssl_verify_depth 0/1): raise it; both look the same from outside (unknown_ca)"
)


def intermediate_refused(verdict: Verdict, direct: Outcome, baseline: Outcome | None) -> Verdict:
    """accept.valid-intermediate refused while accept.valid-direct gets in: still a FAIL, with both causes named."""
    if verdict.status != FAIL or verdict.observed != "rejected" or observe(direct, baseline).result != "accepted":
        return verdict
    return Verdict(FAIL, verdict.expected, verdict.observed,
                   f"{verdict.reason}, while a leaf directly under the client CA is accepted: {INTERMEDIATE_CAUSES}")


__all__ = ["PASS", "NOT_APPLICABLE", "INTERMEDIATE_CAUSES", "intermediate_refused", "FAIL", "WARN", "SKIP", "UNSUPPORTED", "INCONCLUSIVE", "not_sent", "against_sibling", "Observation", "observe", "Verdict", "judge"]
