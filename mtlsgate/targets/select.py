"""Target drivers: any URL (``external``), the embedded ``reference``, and local real LBs.

``open_target`` is a context manager: what it starts (threads, LB processes) it stops,
also when the run fails or is interrupted.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography import x509

from ..errors import UsageError
from ..judge import IDENTITY_KINDS
from ..kit import Kit
from ..pki import KeyPool, load_ca_credential, load_certificates, load_credential
from ..wire import Endpoint
from .base import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabPKI, Target
from .reference import ReferencePolicy, run_reference

LOCAL_PREFIX = "local:"
#: What the reference target forwards (mtlsgate/targets/reference.py).
REFERENCE_IDENTITY_HEADERS = {"X-SSL-Client-Verify": "verify", "X-SSL-Client-S-DN": "subject-dn",
                              "X-SSL-Client-I-DN": "issuer-dn", "X-SSL-Client-Serial": "serial-hex",
                              "X-SSL-Client-Fingerprint": "sha256"}


@dataclass(frozen=True)
class TargetOptions:
    """The user's command-line description of an external target's trust material."""

    server_name: str | None = None
    server_ca: Path | None = None
    server_ca_key: Path | None = None  # the server CA's key: reject.server-ca-issued mints a client under it
    client_ca_cert: Path | None = None
    client_ca_key: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    revoked_cert: Path | None = None
    revoked_key: Path | None = None
    alt_server_name: str | None = None
    echo_backend: bool = False
    kit: Kit | None = None  # --kit: trust material from a kit; explicit options above win
    #: --identity-header NAME[=FORMAT]: headers the user says the LB sets (name, kind; "any" without a format)
    identity_headers: tuple[tuple[str, str], ...] = ()


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_identity_header(text: str) -> tuple[str, str]:
    """``--identity-header NAME[=FORMAT]`` -> (name, kind); FORMAT one of judge.IDENTITY_KINDS, default ``any``."""
    name, sep, kind = text.partition("=")
    name, kind = name.strip(), (kind.strip() if sep else "any")
    if not _TOKEN.match(name):
        raise UsageError(f"--identity-header {text}: {name!r} is not a header name")
    if kind not in IDENTITY_KINDS:
        raise UsageError(f"--identity-header {text}: format must be one of {', '.join(IDENTITY_KINDS)}")
    return name, kind


def validate_spec(spec: str) -> str:
    """Reject a malformed ``--target`` before anything starts."""
    if spec == "reference":
        return spec
    if spec.startswith(LOCAL_PREFIX):
        from .provision import parse_local

        parse_local(spec[len(LOCAL_PREFIX):])
        return spec
    parse_url(spec)
    return spec


def parse_url(spec: str, flag: str = "--target") -> Endpoint:
    expected = "expected reference, local:<lb> or an https:// URL" if flag == "--target" else "expected an https:// URL"
    try:
        url = urllib.parse.urlsplit(spec)
        port = 443 if url.port is None else url.port
    except ValueError as exc:
        raise UsageError(f"{flag} {spec}: {exc}") from None
    if url.scheme != "https" or not url.hostname:
        raise UsageError(f"{flag} {spec}: {expected}")
    if not 0 < port < 65536:
        raise UsageError(f"{flag} {spec}: port out of range")
    return Endpoint(url.hostname, port)


def _pair(cert: Path | None, key: Path | None, what: str, flags: str):  # type: ignore[no-untyped-def]
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError(f"{flags} go together: give both or neither")
    return load_credential(cert, key, what)


def external_target(spec: str, options: TargetOptions, profile: str) -> Target:
    endpoint = parse_url(spec)
    if options.server_ca is not None and not options.server_ca.is_file():
        raise UsageError(f"--server-ca {options.server_ca}: no such file")
    if options.server_ca is not None:  # parsed now: a README given by mistake is one line, not a wall of errors
        load_certificates(options.server_ca, "--server-ca")
    # --client-ca-cert alone (no key) cannot mint, but still says which CAs the LB should advertise.
    if options.client_ca_key is not None and options.client_ca_cert is None:
        raise UsageError("--client-ca-cert and --client-ca-key go together: give both or neither")
    client_ca = (load_ca_credential(options.client_ca_cert, options.client_ca_key)
                 if options.client_ca_cert is not None and options.client_ca_key is not None else None)
    identity = _pair(options.client_cert, options.client_key, "client", "--client-cert and --client-key")
    revoked = _pair(options.revoked_cert, options.revoked_key, "revoked client", "--revoked-cert and --revoked-key")
    kit, server_ca_key = options.kit, None
    if options.server_ca_key is not None:
        if options.server_ca is None:
            raise UsageError("--server-ca-key needs --server-ca (the CA certificate the key belongs to)")
        server_ca_key = load_ca_credential(options.server_ca, options.server_ca_key, "server CA")
    if kit is not None:
        client_ca = client_ca or kit.client_ca
        identity = identity or kit.identity
        revoked = revoked or kit.revoked
        server_ca_key = server_ca_key or kit.server_ca
    # An IP address as server name sends no SNI but is still checked against the certificate.
    server_name = options.server_name or (kit.server_name if kit else None) or endpoint.host
    ca_certs: tuple[x509.Certificate, ...] = ()
    if options.client_ca_cert is not None:
        try:
            ca_certs = tuple(x509.load_pem_x509_certificates(options.client_ca_cert.read_bytes()))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--client-ca-cert {options.client_ca_cert}: {exc}") from None
    return Target(
        name=spec,
        kind="external",
        endpoint=endpoint,
        server_name=server_name,
        server_ca=options.server_ca or (kit.server_ca_cert if kit else None),
        client_ca=client_ca,
        client_ca_certs=ca_certs,
        identity=identity,
        revoked=revoked,
        server_ca_key=server_ca_key,
        alt_server_name=options.alt_server_name,
        echo_backend=options.echo_backend,
        profile=profile,
        identity_headers=dict(options.identity_headers),
        description=f"external endpoint {endpoint.host}:{endpoint.port}"
                    + (f", kit {kit.directory} ({kit.manifest.profile})" if kit else ""),
    )


@contextlib.contextmanager
def open_target(spec: str, options: TargetOptions, *, pool: KeyPool, workdir: Path, profile: str | None,
                reference_policy: ReferencePolicy | None = None) -> Iterator[Target]:
    """Start (if the suite runs it) and describe the target named by ``spec``."""
    if spec == "reference":
        pki = LabPKI.create(pool)
        files = pki.write(workdir / "reference-pki")
        with run_reference(pki, workdir, reference_policy or ReferencePolicy()) as ref:
            target = lab_target("reference", "reference", Endpoint(ref.host, ref.port), pki, files.server_ca,
                                profile=profile or "reference",
                                description="embedded reference target (strict mTLS proxy, pure Python)")
            yield replace(target, identity_headers={**REFERENCE_IDENTITY_HEADERS, **dict(options.identity_headers)},
                          product="reference")
        return
    if spec.startswith(LOCAL_PREFIX):
        from .provision import run_local  # local LBs pull in subprocess management only when asked

        with run_local(spec[len(LOCAL_PREFIX):], pool=pool, workdir=workdir, profile=profile,
                       kit=options.kit) as target:
            if options.identity_headers:
                target = replace(target, identity_headers={**target.identity_headers, **dict(options.identity_headers)})
            yield target
        return
    yield external_target(spec, options, profile or "auto")


def lab_target(name: str, kind: str, endpoint: Endpoint, pki: LabPKI, server_ca: Path, *, profile: str,
               description: str, log_path: Path | None = None) -> Target:
    """A target whose PKI the suite made: it holds every key, so every check can run."""
    return Target(
        name=name,
        kind=kind,
        endpoint=endpoint,
        server_name=LAB_SERVER_NAME,
        server_ca=server_ca,
        client_ca=pki.client_root,
        client_ca_certs=(pki.client_root.cert, pki.client_intermediate.cert),
        identity=pki.identity,
        revoked=pki.revoked,
        server_ca_key=pki.server_ca_credential,
        alt_server_name=LAB_ALT_SERVER_NAME,
        echo_backend=True,
        profile=profile,
        log_path=log_path,
        description=description,
    )


__all__ = ["TargetOptions", "parse_identity_header", "REFERENCE_IDENTITY_HEADERS", "open_target", "validate_spec", "parse_url", "lab_target", "external_target"]
