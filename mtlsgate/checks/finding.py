"""What a probe check (a check that is more than "present one credential") works with and returns.

Catalogue checks present one credential and judge one outcome. The checks beyond the
handshake — SNI/Host, resumption, HTTP/2, proof of possession, headers, CA names — make
several attempts each; every attempt is still judged by :func:`mtlsgate.expect.judge`, and
the attempts travel into the report so a reader sees each variant that was tried.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..judge import FAIL, PASS, SKIP, Profile, Verdict, observe
from ..pki import Credential
from ..wire import Outcome, Prober, Transport, describe, to_dict
from .catalogue import NEEDS_TEXT, Materials

if TYPE_CHECKING:  # targets sit above checks: the annotation only
    from ..targets import Target

#: Needs beyond the catalogue's, with the one-line reason a check is skipped without them.
EXTRA_NEEDS = {
    "echo_backend": "a target that forwards to `mtlsgate echo-backend` (--echo-backend)",
    "client_ca_cert": "the client CA certificate(s) the target is configured with (--client-ca-cert)",
}


@dataclass(frozen=True)
class Attempt:
    """One variant a probe check tried (a Host spelling, a TLS session, a forged signature...)."""

    label: str
    verdict: str  # pass | fail | skip (this variant could not be tried)
    reason: str
    outcome: Outcome | None = None
    backend_headers: tuple[tuple[str, str], ...] | None = None  # identity headers the backend received

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label, "verdict": self.verdict, "reason": self.reason,
                                "summary": describe(self.outcome) if self.outcome is not None else None}
        if self.backend_headers is not None:
            data["backend_headers"] = [list(h) for h in self.backend_headers]
        return data


@dataclass(frozen=True)
class Finding:
    """A probe check's result: the verdict, the outcome that decided it, every attempt made."""

    verdict: Verdict
    outcome: Outcome | None = None
    baseline: Outcome | None = None
    credential: Credential | None = None
    attempts: tuple[Attempt, ...] = ()
    backend_headers: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class CheckContext:
    """Everything a probe check may use for one target and one TLS version."""

    check_id: str
    expect: str
    target: Target
    prober: Prober
    materials: Materials
    profile: Profile
    tls_version: str
    timeout: float
    valid: Credential | None  # the valid identity preflight used
    baseline_valid: Outcome | None  # what that identity got
    baseline_none: Outcome  # what a client without a certificate got
    ca_names: tuple[str, ...] | None  # CertificateRequest CA names seen in preflight (None: not inspected)

    @property
    def no_cert_admitted(self) -> bool:
        """A client without a certificate gets in even with the protected name's own SNI (reject.no-cert fails)."""
        return observe(self.baseline_none, self.baseline_valid).result == "accepted"

    @property
    def protected_name(self) -> str:
        return self.target.server_name or self.target.endpoint.host

    def transport(self, **changes: Any) -> Transport:
        base = Transport(tls_version=self.tls_version, server_name=self.target.server_name, timeout=self.timeout)
        return replace(base, **changes)

    def probe(self, credential: Credential | None, **changes: Any) -> Outcome:
        return self.prober.probe(self.target.endpoint, credential, self.transport(**changes))


@dataclass(frozen=True)
class ProbeCheck:
    """A registry entry: the check id, what it presents, and the function that runs it."""

    id: str
    group: str
    presents: str
    expect: str
    run: Callable[[CheckContext], Finding]
    needs: tuple[str, ...] = ()
    #: Why the check does not run over QUIC ("" : it runs there too, through the same probe).
    not_over_quic: str = ""
    #: A QUIC check (HTTP/3 against TCP): its verdict is in the ``quic`` column only.
    quic_only: bool = False
    #: Work done once on the run's main thread before the check may run ahead on a worker
    #: thread: ``warnings.catch_warnings`` is not thread-safe, so an import that warns (tlslite's
    #: asyncore) is made here, where its warning can be silenced, not in a worker.
    prepare: Callable[[], object] | None = None

    def transport_skip(self, tls_version: str) -> str | None:
        """Why this check has no verdict over ``tls_version`` (None: it runs there)."""
        if tls_version == "quic" and self.not_over_quic:
            return f"not run over QUIC: {self.not_over_quic}"
        if tls_version != "quic" and self.quic_only:
            return "a QUIC check (what HTTP/3 does against what TCP does): its verdict is in the quic column"
        return None

    def missing(self, materials: Materials, target: Target) -> list[str]:
        out = []
        for need in self.needs:
            if need == "echo_backend":
                ok = target.echo_backend
            elif need == "client_ca_cert":
                ok = bool(target.client_ca_certs) or target.client_ca is not None
            else:
                ok = materials.has(need)
            if not ok:
                out.append(EXTRA_NEEDS.get(need) or NEEDS_TEXT[need])
        return out


NO_CERT_ADMITTED = ("a client without a certificate is let in even with the protected name's own SNI "
                    "(reject.no-cert fails): there is no protection to bypass")


def combine(ctx: CheckContext, attempts: list[Attempt], *, pass_reason: str = "") -> Finding:
    """One verdict from several attempts: any failing attempt fails the check; none tried is a skip."""
    tried = [a for a in attempts if a.verdict != SKIP]
    failed = [a for a in tried if a.verdict == FAIL]
    decisive = failed[0] if failed else (tried[0] if tried else None)
    if decisive is None:
        why = "; ".join(f"{a.label}: {a.reason}" for a in attempts) or "nothing could be tried"
        verdict = Verdict(SKIP, ctx.expect, "not run", why)
    elif failed:
        others = f" (and {len(failed) - 1} more failing variant(s))" if len(failed) > 1 else ""
        verdict = Verdict(FAIL, ctx.expect, "accepted", f"{decisive.label}: {decisive.reason}{others}")
    else:
        summary = pass_reason or "; ".join(f"{a.label}: {a.reason}" for a in tried)
        verdict = Verdict(PASS, ctx.expect, "rejected" if ctx.expect == "reject" else "accepted", summary)
    evidence = decisive or next((a for a in attempts if a.outcome is not None), None)  # a skip shows what it saw
    return Finding(verdict=verdict, outcome=evidence.outcome if evidence else None, baseline=ctx.baseline_valid,
                   attempts=tuple(attempts), backend_headers=decisive.backend_headers if decisive else None)


def alt_name(ctx: CheckContext) -> str:
    """The other name to open the connection for: the target's, else one no certificate covers.

    Shared by the SNI/Host and the resumption checks: both need a name on the same listener
    whose TLS options (no client auth) differ from the protected name's.
    """
    return ctx.target.alt_server_name or f"mtlsgate-{secrets.token_hex(4)}.invalid"


def outcome_dict(outcome: Outcome | None) -> dict[str, Any] | None:
    return to_dict(outcome) if outcome is not None else None


__all__ = ["Attempt", "Finding", "CheckContext", "ProbeCheck", "combine", "alt_name", "EXTRA_NEEDS",
           "NO_CERT_ADMITTED"]
