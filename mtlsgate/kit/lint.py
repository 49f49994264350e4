"""``mtlsgate lint FILE...``: what is wrong with certificates, keys, chains, PKCS#12 and CRLs before upload.

Each finding says how bad it is, why it matters for mutual TLS on a load balancer, and how
to fix it. Files are read as PEM (any number of blocks) or DER; the files given are linted
together, so a CA in one file is known when its leaf in another is checked (issuer, same
name, key match).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..errors import UsageError
from ..pki import read_file, signature_hash_name

SEVERITIES = ("info", "warning", "error")
_HASH_NAMES = {"sha1": "SHA-1", "md5": "MD5"}
SERVER_MAX_DAYS = 398
CLIENT_MAX_DAYS = 398
EXPIRY_WARNING_DAYS = 30
CRL_WARNING_DAYS = 7
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)
_KEY_LABELS = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"}
#: PKCS#12 algorithms ``openssl pkcs12 -info`` names that no one should use any more.
_WEAK_P12 = ("rc2", "rc4", "des-cbc", "3-keytripledes", "3des", "40bit", "128bit", "md5")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    file: str
    reason: str
    fix: str
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Cert:
    cert: x509.Certificate
    file: Path
    index: int  # position in its file


@dataclass
class _Inputs:
    certs: list[_Cert] = field(default_factory=list)
    keys: list[tuple[Path, Any]] = field(default_factory=list)  # (file, private key or None when encrypted)
    crls: list[tuple[Path, x509.CertificateRevocationList]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _pub(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --------------------------------------------------------------------------- reading


def _read(path: Path, inputs: _Inputs, password: bytes | None, label: str) -> None:
    data = read_file(path, "input")
    if b"-----BEGIN" in data:
        _read_pem(path, data, inputs, label)
    elif path.suffix.lower() in (".p12", ".pfx"):
        _read_p12(path, data, inputs, password, label)
    else:
        _read_der(path, data, inputs, password, label)


def _read_pem(path: Path, data: bytes, inputs: _Inputs, label: str) -> None:
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise UsageError(f"{label}: a PEM header without a complete block")
    if data[:blocks[0].start()].strip() or data[blocks[-1].end():].strip():
        inputs.findings.append(Finding(
            "encoding.pem-extra-text", "warning", label,
            "text outside the PEM blocks (for example `openssl x509 -text` output): some consoles refuse it",
            f"keep only the BEGIN/END blocks: openssl x509 -in {path.name} -out {path.stem}.pem"))
    for n, m in enumerate(blocks):
        kind, blob = m.group(1).decode(), m.group(0)
        try:
            if kind in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
                inputs.certs.append(_Cert(x509.load_pem_x509_certificate(blob), path, n))
            elif kind == "X509 CRL":
                inputs.crls.append((path, x509.load_pem_x509_crl(blob)))
            elif kind in _KEY_LABELS:
                try:
                    inputs.keys.append((path, serialization.load_pem_private_key(blob, password=None)))
                except TypeError:
                    inputs.keys.append((path, None))
            elif kind in ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"):
                x509.load_pem_x509_csr(blob)
            else:
                raise UsageError(f"{label}: PEM block {kind!r} is not a certificate, key, CRL or request")
        except ValueError:
            raise UsageError(f"{label}: PEM block {n + 1} ({kind}) cannot be parsed") from None


def _read_der(path: Path, data: bytes, inputs: _Inputs, password: bytes | None, label: str) -> None:
    fix_cmd = {"certificate": f"openssl x509 -inform der -in {path.name} -out {path.stem}.pem",
               "CRL": f"openssl crl -inform der -in {path.name} -out {path.stem}.pem",
               "private key": f"openssl pkey -inform der -in {path.name} -out {path.stem}.pem"}
    parsed: tuple[str, Any] | None = None
    for what, loader in (("certificate", x509.load_der_x509_certificate), ("CRL", x509.load_der_x509_crl),
                         ("private key", lambda b: serialization.load_der_private_key(b, password=None))):
        try:
            parsed = (what, loader(data))
            break
        except (ValueError, TypeError):
            continue
    if parsed is None:
        try:
            _read_p12(path, data, inputs, password, label)
            return
        except UsageError as exc:
            if "password" in str(exc):
                raise
        raise UsageError(f"{label}: not a certificate, key, CRL or PKCS#12 (PEM or DER)") from None
    what, obj = parsed
    inputs.findings.append(Finding(
        "encoding.der", "warning", label,
        f"a DER (binary) {what}: cloud consoles (Huawei ELB, AWS, Azure) take PEM text",
        f"convert it: {fix_cmd[what]}"))
    if what == "certificate":
        inputs.certs.append(_Cert(obj, path, 0))
    elif what == "CRL":
        inputs.crls.append((path, obj))
    else:
        inputs.keys.append((path, obj))


def _read_p12(path: Path, data: bytes, inputs: _Inputs, password: bytes | None, label: str) -> None:
    bundle = None
    for candidate in ([password] if password else [b"", None]):
        try:
            bundle = pkcs12.load_pkcs12(data, candidate)
            break
        except ValueError:
            continue
    if bundle is None:
        hint = "wrong password" if password else "needs its password: give --p12-password or MTLSGATE_P12_PASSWORD"
        saved = path.with_name(path.name + ".password")  # where `mtlsgate kit` saves a generated one
        if saved.is_file():
            hint += f"; `mtlsgate kit` saved a generated one in {saved}"
        raise UsageError(f"{label}: cannot open the PKCS#12 ({hint})")
    if not password:
        inputs.findings.append(Finding(
            "p12.no-password", "error", label, "the PKCS#12 opens without a password: anyone with the file has the key",
            f"re-export with a password: openssl pkcs12 -export -in client.crt -inkey client.key -out {path.name}"))
    if bundle.cert is not None:
        inputs.certs.append(_Cert(bundle.cert.certificate, path, 0))
    for n, extra in enumerate(bundle.additional_certs, start=1):
        inputs.certs.append(_Cert(extra.certificate, path, n))
    if bundle.key is not None:
        inputs.keys.append((path, bundle.key))
    inputs.findings.extend(_p12_algorithms(path, password or b"", label))


def _p12_algorithms(path: Path, password: bytes, label: str) -> list[Finding]:
    """The bag encryption, read from ``openssl pkcs12 -info`` (``cryptography`` does not expose it)."""
    exe = shutil.which("openssl")
    if exe is None:
        return [Finding("p12.not-inspected", "info", label, "its encryption was not inspected (no openssl command line)",
                        "install openssl to have the PKCS#12 ciphers checked")]
    env = dict(os.environ, MTLSGATE_LINT_P12=password.decode(errors="replace"))
    out = ""
    for extra in ([], ["-legacy"]):
        proc = subprocess.run([exe, "pkcs12", "-info", "-noout", "-in", str(path), "-passin", "env:MTLSGATE_LINT_P12",
                               *extra], capture_output=True, timeout=30, env=env)
        if proc.returncode == 0:
            out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
            break
    if not out:
        return [Finding("p12.not-inspected", "info", label, "openssl could not read its encryption parameters",
                        "check it by hand: openssl pkcs12 -info -noout -in " + path.name)]
    findings = []
    if re.search(r"^Key bag", out, re.M):
        findings.append(Finding(
            "p12.key-unencrypted", "error", label, "the private key is stored unencrypted inside the PKCS#12",
            f"re-export it with an encrypted key: openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC "
            f"-in client.crt -inkey client.key -out {path.name}"))
    for line in out.splitlines():
        what = ("private key" if line.startswith("Shrouded Keybag") else
                "certificates" if line.startswith("PKCS7 Encrypted data") else None)
        if what and any(w in line.lower().replace(" ", "") for w in _WEAK_P12):
            findings.append(Finding(
                "p12.weak-cipher", "error" if what == "private key" else "warning", label,
                f"the {what} are encrypted with a weak legacy cipher ({line.split(':', 1)[1].strip()}); "
                "OpenSSL 3 needs -legacy to open it",
                f"re-export with AES: openssl pkcs12 -export -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 "
                f"-in client.crt -inkey client.key -out {path.name}"))
    return findings


# --------------------------------------------------------------------------- checks


def _ext(cert: x509.Certificate, cls: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls)
    except x509.ExtensionNotFound:
        return None


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return _legacy_verify(cert, issuer)


def _legacy_verify(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``verify_directly_issued_by`` refuses SHA-1/MD5 signatures; check those by hand."""
    key = issuer.public_key()
    algo = cert.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algo is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algo)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey) and algo is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algo))
            return True
    except (InvalidSignature, ValueError, TypeError):
        return False
    return False


def _self_signed(cert: x509.Certificate) -> bool:
    return _signed_by(cert, cert)


def _role(c: _Cert, all_certs: list[_Cert]) -> str:
    bc = _ext(c.cert, x509.BasicConstraints)
    if bc is not None:
        if bc.value.ca:
            return "ca"
    elif _self_signed(c.cert) or any(o.cert is not c.cert and _signed_by(o.cert, c.cert) for o in all_certs):
        return "ca"
    eku = _ext(c.cert, x509.ExtendedKeyUsage)
    usages = set(eku.value) if eku else set()
    if ExtendedKeyUsageOID.SERVER_AUTH in usages and ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "server"
    if ExtendedKeyUsageOID.CLIENT_AUTH in usages and ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        return "client"
    name = c.file.name.lower()
    if "server" in name or c.file.parent.name.lower() == "server":
        return "server"
    if "client" in name or c.file.parent.name.lower() == "client":
        return "client"
    return "leaf"


def _days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400


def _cert_findings(c: _Cert, role: str, label: str, now: dt.datetime) -> Iterable[Finding]:
    cert, subj = c.cert, _subject(c.cert)

    def f(fid: str, sev: str, reason: str, fix: str) -> Finding:
        return Finding(fid, sev, label, reason, fix, subj)

    digest = signature_hash_name(cert)
    if digest in ("sha1", "md5"):
        if _self_signed(cert):
            yield f(f"signature.{digest}", "warning", f"self-signed with {_HASH_NAMES[digest]}: a root's own signature is "
                    "not checked by most verifiers, but consoles and scanners reject it and it marks a dated recipe",
                    "re-issue the CA with SHA-256 (openssl x509 -req -sha256 ..., or mtlsgate kit)")
        else:
            yield f(f"signature.{digest}", "error", f"signed with {_HASH_NAMES[digest]}: OpenSSL 3 at the default security "
                    "level (Debian: 2), Go, browsers, AWS ALB and GCP refuse it; a listener will reject this "
                    "certificate or fail to load it", "re-sign with SHA-256: openssl x509 -req -sha256 ... (or mtlsgate kit)")
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < 2048:
        yield f("key.rsa-small", "error", f"RSA-{pub.key_size} key: below the 2048 bits every current policy requires",
                "make a new key: openssl genrsa -out NAME.key 2048 (or use ECDSA P-256)")
    if cert.not_valid_after_utc < now:
        yield f("validity.expired", "error", f"expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                "issue a new certificate")
    elif cert.not_valid_after_utc < now + dt.timedelta(days=EXPIRY_WARNING_DAYS):
        yield f("validity.expiring", "warning", f"expires on {cert.not_valid_after_utc:%Y-%m-%d}, "
                f"within {EXPIRY_WARNING_DAYS} days", "issue its successor now and upload it before that date")
    if cert.not_valid_before_utc > now:
        yield f("validity.not-yet-valid", "error", f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                "check the clock of the machine that issued it")
    if role == "ca":
        bc = _ext(cert, x509.BasicConstraints)
        if bc is None:
            yield f("ca.no-basic-constraints", "error", "a CA certificate without basicConstraints"
                    + (" (a version 1 certificate)" if cert.version == x509.Version.v1 else "")
                    + ": RFC 5280 verifiers may not treat it as a CA, and Azure Application Gateway requires CA:TRUE "
                    "on the uploaded root", "re-issue it with -extfile holding "
                    "'basicConstraints=critical,CA:TRUE,pathlen:0' and 'keyUsage=critical,keyCertSign,cRLSign'")
        elif not bc.critical:
            yield f("ca.basic-constraints-not-critical", "error", "basicConstraints is not marked critical "
                    "(RFC 5280 §4.2.1.9 requires it for a CA)", "re-issue it with 'basicConstraints=critical,CA:TRUE'")
        return
    san = _ext(cert, x509.SubjectAlternativeName)
    if role == "server":
        if san is None:
            yield f("server.no-san", "error", "no subjectAltName: the host name is only in the CN, which browsers "
                    "(Chrome 58+, Firefox) and Go 1.15+ ignore (RFC 6125, CA/B Forum): they report a host name "
                    "mismatch; only OpenSSL-based clients such as Python and curl still fall back to the CN",
                    "re-issue with -extfile holding 'subjectAltName=DNS:<host>' (mtlsgate kit --cn <host>)")
        if _days(cert) > SERVER_MAX_DAYS:
            yield f("server.validity-too-long", "error", f"valid for {_days(cert):.0f} days: browsers refuse server "
                    f"certificates valid longer than {SERVER_MAX_DAYS} days", f"re-issue with -days {SERVER_MAX_DAYS - 1} or less")
    elif role == "leaf" and san is None:
        yield f("leaf.no-san", "warning", "no subjectAltName; if this is a server certificate, clients ignore its CN",
                "add 'subjectAltName=DNS:<host>' when it serves a host name")
    if role == "client":
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if eku is None:
            yield f("client.no-eku", "error", "no extendedKeyUsage: GCP requires clientAuth on client certificates, "
                    "Azure Application Gateway lists a missing EKU as a cause of rejection",
                    "re-issue with -extfile holding 'extendedKeyUsage=clientAuth'")
        elif ExtendedKeyUsageOID.CLIENT_AUTH not in eku.value:
            yield f("client.eku-without-client-auth", "error", "extendedKeyUsage does not include clientAuth: "
                    "OpenSSL- and Go-based listeners reject it as a client certificate",
                    "re-issue with 'extendedKeyUsage=clientAuth'")
        if _days(cert) > CLIENT_MAX_DAYS:
            yield f("client.validity-long", "warning", f"valid for {_days(cert):.0f} days: a leaked client key stays "
                    "usable that long unless a CRL revokes it", "issue client certificates for a year or less")


def _chain_findings(certs: list[_Cert], label: str) -> Iterable[Finding]:
    """A file with several certificates must run leaf -> issuer -> issuer, without gaps."""
    for i, c in enumerate(certs[:-1]):
        nxt = certs[i + 1].cert
        if _signed_by(c.cert, nxt):
            continue
        if _self_signed(c.cert):
            continue  # a root followed by something else: the following is checked on its own turn
        elsewhere = [o for o in certs if o is not c and _signed_by(c.cert, o.cert)]
        if elsewhere:
            yield Finding("chain.out-of-order", "error", label,
                          f"certificate {i + 1} ({_subject(c.cert)}) is not followed by its issuer "
                          f"({_subject(elsewhere[0].cert)} is certificate {certs.index(elsewhere[0]) + 1})",
                          "order the file leaf first, then each issuer in turn", _subject(c.cert))
        else:
            yield Finding("chain.incomplete", "error", label,
                          f"certificate {i + 1} ({_subject(c.cert)}) is followed by a certificate that did not "
                          f"issue it; its issuer ({c.cert.issuer.rfc4514_string()}) is missing from the file",
                          "insert the missing intermediate after it", _subject(c.cert))


def _key_findings(inputs: _Inputs, labels: dict[Path, str]) -> Iterable[Finding]:
    for path, key in inputs.keys:
        label = labels[path]
        if key is None:
            yield Finding("key.encrypted", "info", label, "an encrypted private key: not checked further; consoles "
                          "want the unencrypted PEM key in their Private Key field", "openssl pkey -in KEY -out KEY.plain")
            continue
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
            yield Finding("key.rsa-small", "error", label, f"RSA-{key.key_size} private key: below 2048 bits",
                          "make a new key: openssl genrsa -out NAME.key 2048")
        mates = [c for c in inputs.certs if c.file == path and c.index == 0]
        if not mates:
            mates = [c for c in inputs.certs if c.file.parent == path.parent and c.file.stem == path.stem]
        if not mates:
            sibling = next((path.with_suffix(s) for s in (".crt", ".pem", ".cer") if path.with_suffix(s).is_file()
                            and path.with_suffix(s) != path), None)
            if sibling is not None:
                try:
                    text = sibling.read_bytes()
                    cert = (x509.load_pem_x509_certificates(text)[0] if b"-----BEGIN" in text
                            else x509.load_der_x509_certificate(text))
                    mates = [_Cert(cert, sibling, 0)]
                except (OSError, ValueError, IndexError):
                    mates = []
        for mate in mates[:1]:
            if _pub(key.public_key()) != _pub(mate.cert.public_key()):
                yield Finding("key.mismatch", "error", label,
                              f"this key does not belong to {mate.file.name} ({_subject(mate.cert)}): a console "
                              "refuses the pair, or the listener fails to start",
                              "upload the key that was used to make the certificate's CSR", _subject(mate.cert))


def _crl_findings(inputs: _Inputs, labels: dict[Path, str], now: dt.datetime) -> Iterable[Finding]:
    for path, crl in inputs.crls:
        label = labels[path]
        algo = crl.signature_hash_algorithm
        if algo is not None and algo.name in ("sha1", "md5"):
            yield Finding(f"signature.{algo.name}", "error", label, f"the CRL is signed with {algo.name.upper()}",
                          "re-sign it with SHA-256 (openssl ca -gencrl -md sha256)")
        nxt = crl.next_update_utc
        if nxt is not None and nxt < now:
            yield Finding("crl.stale", "error", label, f"the CRL's nextUpdate ({nxt:%Y-%m-%d}) has passed: nginx, "
                          "HAProxy and Apache then reject every client", "publish a fresh CRL")
        elif nxt is not None and nxt < now + dt.timedelta(days=CRL_WARNING_DAYS):
            yield Finding("crl.expiring", "warning", label, f"the CRL's nextUpdate is {nxt:%Y-%m-%d}, within "
                          f"{CRL_WARNING_DAYS} days", "publish a fresh CRL before then")
        issuers = [c for c in inputs.certs if c.cert.subject == crl.issuer]
        if issuers and not any(_crl_signed_by(crl, c.cert) for c in issuers):
            yield Finding("crl.bad-signature", "error", label, f"no given CA named {crl.issuer.rfc4514_string()} "
                          "signed this CRL", "sign the CRL with the client CA's key")


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _same_name_cas(cas: list[_Cert], labels: dict[Path, str]) -> Iterable[Finding]:
    seen: dict[x509.Name, _Cert] = {}
    for c in cas:
        first = seen.setdefault(c.cert.subject, c)
        if first is not c and _pub(first.cert.public_key()) != _pub(c.cert.public_key()):
            same_file_name = " and the same file name" if first.file.name == c.file.name else ""
            yield Finding("ca.same-name", "warning", labels[c.file],
                          f"a different CA than {labels[first.file]} with the same subject{same_file_name} "
                          f"({_subject(c.cert)}): easy to upload the wrong one as the listener's client CA, and "
                          "logs cannot tell them apart", "give each CA its own subject (e.g. CN=<site> client CA) "
                          "and file name", _subject(c.cert))


def lint_paths(paths: list[Path], *, p12_password: bytes | None = None, now: dt.datetime | None = None) -> list[Finding]:
    """Every finding for ``paths``, linted together; a file that cannot be read is a UsageError."""
    if not paths:
        raise UsageError("mtlsgate lint: give at least one file")
    now = now or dt.datetime.now(dt.UTC)
    inputs = _Inputs()
    labels = {p: str(p) for p in paths}
    for p in paths:
        if p.is_dir():
            raise UsageError(f"{p}: a directory; give files (e.g. {p}/*/*.crt)")
        _read(p, inputs, p12_password, labels[p])
    findings = list(inputs.findings)
    roles = {id(c): _role(c, inputs.certs) for c in inputs.certs}
    for c in inputs.certs:
        findings.extend(_cert_findings(c, roles[id(c)], labels[c.file], now))
    for p in paths:
        in_file = [c for c in inputs.certs if c.file == p]
        if len(in_file) > 1 and p.suffix.lower() not in (".p12", ".pfx"):
            findings.extend(_chain_findings(in_file, labels[p]))
    findings.extend(_key_findings(inputs, labels))
    findings.extend(_crl_findings(inputs, labels, now))
    findings.extend(_same_name_cas([c for c in inputs.certs if roles[id(c)] == "ca"], labels))
    rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return sorted(findings, key=lambda f: (paths.index(Path(f.file)) if Path(f.file) in paths else 0,
                                           rank[f.severity], f.id))


def at_or_above(findings: list[Finding], threshold: str) -> list[Finding]:
    level = SEVERITIES.index(threshold)
    return [f for f in findings if SEVERITIES.index(f.severity) >= level]


def format_text(findings: list[Finding], paths: list[Path]) -> str:
    lines = []
    for f in findings:
        subject = f" {f.subject}:" if f.subject else ""
        lines.append(f"{f.file}: {f.severity} [{f.id}]{subject} {f.reason}")
        lines.append(f"    fix: {f.fix}")
    tally = {s: sum(1 for f in findings if f.severity == s) for s in reversed(SEVERITIES)}
    if findings:
        lines.append(f"{len(findings)} finding(s) in {len(paths)} file(s): "
                     + ", ".join(f"{n} {s}" for s, n in tally.items() if n))
    else:
        lines.append(f"no findings in {len(paths)} file(s)")
    return "\n".join(lines)


def to_json(findings: list[Finding], paths: list[Path]) -> dict[str, Any]:
    return {"files": [str(p) for p in paths], "findings": [f.to_dict() for f in findings],
            "counts": {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}}


__all__ = ["Finding", "SEVERITIES", "lint_paths", "at_or_above", "format_text", "to_json", "SERVER_MAX_DAYS", "CLIENT_MAX_DAYS", "EXPIRY_WARNING_DAYS", "CRL_WARNING_DAYS"]
