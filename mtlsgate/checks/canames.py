"""trust.ca-names: the CA names a listener advertises are the client CAs it is meant to trust.

OpenSSL-based LBs advertise the subjects of the CA file they verify against, so an extra
name in the CertificateRequest is a trust store broader than intended (another root in
the bundle, the system store). Preflight already read the names with pyOpenSSL.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..judge import FAIL, INCONCLUSIVE, PASS, Verdict
from .finding import Attempt, CheckContext, Finding

NO_NAMES = "no CA names advertised"


#: OpenSSL short names where they differ from RFC 4514's (pyOpenSSL reports OpenSSL's).
_SHORT = {NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber", NameOID.GIVEN_NAME: "GN",
          NameOID.SURNAME: "SN", NameOID.TITLE: "title", NameOID.POSTAL_CODE: "postalCode"}


def name_of(cert: x509.Certificate) -> str:
    """A certificate's subject in the form :mod:`mtlsgate.handshake` reports advertised names."""
    return ",".join(f"{_SHORT.get(a.oid, a.rfc4514_attribute_name)}={a.value}" for a in cert.subject)


def ca_names(ctx: CheckContext) -> Finding:
    configured = {name_of(c) for c in ctx.target.client_ca_certs}
    if not configured and ctx.target.client_ca is not None:
        configured = {name_of(ctx.target.client_ca.cert)}
    advertised = set(ctx.ca_names or ())
    shown = "; ".join(sorted(advertised)) or NO_NAMES
    if ctx.ca_names is None:
        verdict = Verdict(INCONCLUSIVE, "accept", "inconclusive", "preflight could not read the CertificateRequest "
                          "(its handshake without a certificate broke off before it): no verdict on the names")
    elif not advertised:
        if ctx.profile.ca_names == "exact-or-none":
            verdict = Verdict(PASS, "accept", "accepted", f"{NO_NAMES} (profile {ctx.profile.name} allows it)")
        else:
            verdict = Verdict(FAIL, "accept", "rejected", f"{NO_NAMES}; profile {ctx.profile.name} expects exactly "
                              f"the configured client CAs ({'; '.join(sorted(configured))}), or set ca_names = "
                              '"exact-or-none"')
    elif advertised - configured:
        verdict = Verdict(FAIL, "accept", "rejected", "the trust store is broader than intended: also advertises "
                          f"{'; '.join(sorted(advertised - configured))}")
    elif configured - advertised:
        verdict = Verdict(FAIL, "accept", "rejected", "configured client CA(s) not advertised: "
                          f"{'; '.join(sorted(configured - advertised))} (advertised: {shown})")
    else:
        verdict = Verdict(PASS, "accept", "accepted", f"advertises exactly the configured client CAs: {shown}")
    attempt = Attempt("CertificateRequest CA names", verdict.status, f"advertised: {shown}", ctx.baseline_none)
    return Finding(verdict=verdict, outcome=ctx.baseline_none, baseline=ctx.baseline_valid, attempts=(attempt,))


__all__ = ["ca_names", "name_of", "NO_NAMES"]
