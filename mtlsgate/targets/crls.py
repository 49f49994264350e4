"""The CRL bundle for the CAs the suite mints under a client CA (``mtlsgate crls``).

Every OpenSSL-based LB with a CRL configured checks a CRL for *every* CA in a client's
chain (``X509_V_FLAG_CRL_CHECK_ALL``): nginx ``ssl_crl``, HAProxy ``crl-file``, Apache
``SSLCARevocationCheck chain``, stunnel ``CRLfile``, lighttpd ``ssl.verifyclient.ca-crl-file``.
The intermediates the catalogue and the fuzz campaign mint have no CRL there, so they
are all refused alike and the intermediate checks prove nothing. Those intermediates are
derived from the client CA's key (:func:`~mtlsgate.pki.issue_derived`), so one bundle of
empty CRLs, made once and appended to the LB's CRL file, holds on every machine and run.
It lives here because it needs both :mod:`mtlsgate.checks` and :mod:`mtlsgate.fuzz`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from ..checks import catalogue
from ..fuzz import published_fuzz_cas
from ..pki import Credential, KeyPool, make_crl, pem

#: How long the bundle's CRLs are valid: an operator loads it once a year.
SUITE_CRL_DAYS = 365


def suite_cas(client_ca: Credential, pool: KeyPool) -> list[Credential]:
    """Every CA certificate the suite mints under ``client_ca`` that a chain it sends may contain.

    None under a CA with pathLen 0 (nothing below it can be a CA). The catalogue's
    "unknown intermediate" is left out on purpose: reject.missing-intermediate needs a CA
    the target knows nothing about.
    """
    if not catalogue.allows_intermediates(client_ca):
        return []
    cas = catalogue.published_intermediates(catalogue.Materials(pool=pool, client_ca=client_ca))
    return cas + published_fuzz_cas(pool, client_ca)


@dataclass(frozen=True)
class SuiteCRLs:
    """The bundle: one empty CRL per suite-minted CA, and until when it holds."""

    crls: tuple[x509.CertificateRevocationList, ...]
    next_update: dt.datetime

    @property
    def pem(self) -> bytes:
        return pem(*self.crls)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem)
        return path


def suite_crls(client_ca: Credential, pool: KeyPool, *, days: int = SUITE_CRL_DAYS) -> SuiteCRLs:
    """Empty CRLs, valid ``days`` days, for every CA of :func:`suite_cas`."""
    crls = tuple(make_crl(ca, [], next_update=dt.timedelta(days=days)) for ca in suite_cas(client_ca, pool))
    until = min((c.next_update_utc for c in crls), default=None)
    return SuiteCRLs(crls, until or (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)))


__all__ = ["SUITE_CRL_DAYS", "suite_cas", "SuiteCRLs", "suite_crls"]
