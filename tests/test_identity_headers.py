"""The identity-header matcher over real certificates in each format LBs forward, product
recognition (``--profile auto``) over the answers products give, and where declared header
names come from (variants.toml, ``--identity-header``). No network: pure functions only.
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from test_lb_mutants import NO_IDENTITY_HEADERS

from mtlsgate.checks.identity import cert_der, discover, matches, parse_dn, recognise
from mtlsgate.errors import UsageError
from mtlsgate.judge import available_profiles, detect, load_profile, with_product
from mtlsgate.targets import parse_identity_header
from mtlsgate.targets.local import LBS, variants
from mtlsgate.wire import Accepted, Evidence, Misdirected, RejectedHTTP, RejectedTLS


@pytest.fixture(scope="module")
def awkward():
    """A certificate whose subject needs escaping: a comma in the CN, an e-mail attribute, five RDNs."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Doe, John"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "john@example.test"),
    ])
    issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example CA"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "Example Issuing CA 1")])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(0x00AB_CDEF_0123_4567_89AB).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def _go_hex(value: str) -> str:
    """Go's pkix.Name.String() for an attribute it has no short name for: #hex of the DER (IA5String)."""
    raw = value.encode()
    return "#" + bytes([0x16, len(raw)]).hex() + raw.hex()


def test_subject_dn_in_every_common_order_and_escaping(awkward):
    name = awkward.subject
    forms = {
        "RFC 4514 (cryptography, nginx, Apache 2.4)": name.rfc4514_string(),
        "RFC 2253 with emailAddress": "emailAddress=john@example.test,CN=Doe\\, John,OU=Ops,O=Example\\, Inc.,C=DE",
        "comma and space": "emailAddress=john@example.test, CN=Doe\\, John, OU=Ops, O=Example\\, Inc., C=DE",
        "hex escapes": "E=john@example.test,CN=Doe\\2C John,OU=Ops,O=Example\\2C Inc.,C=DE",
        "forward order (X.500)": "C=DE,O=Example\\, Inc.,OU=Ops,CN=Doe\\, John,emailAddress=john@example.test",
        "OpenSSL one-line (HAProxy ssl_c_s_dn)": "/C=DE/O=Example, Inc./OU=Ops/CN=Doe, John/emailAddress=john@example.test",
        "HAProxy %{+Q} quoted": '"/C=DE/O=Example, Inc./OU=Ops/CN=Doe, John/emailAddress=john@example.test"',
        "OpenSSL printer": 'C = DE, O = "Example, Inc.", OU = Ops, CN = "Doe, John", emailAddress = john@example.test',
        "Go pkix.Name.String()": f"1.2.840.113549.1.9.1={_go_hex('john@example.test')},CN=Doe\\, John,OU=Ops,"
                                 "O=Example\\, Inc.,C=DE",
        "URL-encoded": urllib.parse.quote(name.rfc4514_string()),
    }
    for label, value in forms.items():
        assert matches("subject-dn", value, awkward)[0], label
        assert recognise("X-Whatever", value, awkward) == "subject-dn", label
    assert not matches("subject-dn", "CN=Doe\\, John,OU=Ops,O=Example\\, Inc.,C=DE", awkward)[0]  # no e-mail
    assert not matches("subject-dn", awkward.issuer.rfc4514_string(), awkward)[0]
    assert matches("issuer-dn", "/O=Example CA/CN=Example Issuing CA 1", awkward)[0]
    assert parse_dn("not a dn") is None


def test_serials_in_hex_and_decimal(awkward):
    serial = awkward.serial_number
    hexed = format(serial, "x")
    for value in (hexed, hexed.upper(), "00" + hexed.upper(), ":".join(f"{serial:020X}"[i:i + 2] for i in range(0, 20, 2)),
                  "0x" + hexed):
        assert matches("serial-hex", value, awkward)[0], value
    assert matches("serial-decimal", str(serial), awkward)[0]
    assert not matches("serial-hex", hexed + "0", awkward)[0]
    assert not matches("serial-decimal", str(serial + 1), awkward)[0]


def test_fingerprints_with_and_without_colons_any_case(awkward):
    for kind, algorithm in (("sha1", hashes.SHA1()), ("sha256", hashes.SHA256())):  # noqa: S303 - what LBs send
        digest = awkward.fingerprint(algorithm).hex()
        for value in (digest, digest.upper(), ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)).upper()):
            assert matches(kind, value, awkward)[0], value
            assert recognise("X-Fp", value, awkward) == kind
    assert not matches("sha256", awkward.fingerprint(hashes.SHA1()).hex(), awkward)[0]  # noqa: S303


def test_the_certificate_as_pem_or_base64_der(awkward, lab):
    der = awkward.public_bytes(Encoding.DER)
    pem = awkward.public_bytes(Encoding.PEM).decode()
    b64 = base64.b64encode(der).decode()
    chain = pem + lab.client_root.cert.public_bytes(Encoding.PEM).decode()
    forms = {
        "raw PEM": pem,
        "URL-encoded PEM (nginx $ssl_client_escaped_cert)": urllib.parse.quote(pem),
        "newlines as spaces (Apache SSL_CLIENT_CERT in a header)": pem.replace("\n", " "),
        "newlines as tabs": pem.replace("\n", "\t"),
        "armour and whitespace removed": "".join(pem.splitlines()[1:-1]),
        "base64 DER (HAProxy ssl_c_der,base64)": b64,
        "RFC 9440 :b64:": f":{b64}:",
        "Traefik sanitised and URL-escaped": urllib.parse.quote_plus(b64),
        "chain, leaf first": urllib.parse.quote(chain),
    }
    for label, value in forms.items():
        assert cert_der(value) == der, label
        assert matches("cert", value, awkward)[0], label
        assert recognise("X-Client-Cert", value, awkward) == "cert", label
    assert not matches("cert", lab.client_root.cert.public_bytes(Encoding.PEM).decode(), awkward)[0]
    assert not matches("cert", "MIIBogus", awkward)[0]


def test_verify_status_and_traefik_info(awkward):
    for value in ("SUCCESS", "0", "true", "TRUE"):
        assert matches("verify", value, awkward)[0]
    for value in ("NONE", "FAILED:unable to get issuer certificate", "GENEROUS", "21"):
        assert not matches("verify", value, awkward)[0]
    # Only a name that says "verify" is taken for a verify status: "1" or "0" alone could be anything.
    assert recognise("X-SSL-Client-Verify", "SUCCESS", awkward) == "verify"
    assert recognise("X-SSL-Client-Used", "1", awkward) is None
    info = 'Subject="C=DE,O=Example, Inc.,OU=Ops,CN=Doe, John";Issuer="O=Example CA,CN=Example Issuing CA 1";NB="1"'
    assert matches("cert-info", urllib.parse.quote_plus(info), awkward)[0]
    assert recognise("X-Forwarded-Tls-Client-Cert-Info", urllib.parse.quote_plus(info), awkward) == "cert-info"
    assert not matches("cert-info", urllib.parse.quote('Subject="CN=someone else"'), awkward)[0]


def test_discover_finds_what_each_header_carries_and_ignores_the_rest(lab):
    cert = lab.identity.cert
    received = [
        ("Host", "mtlsgate.test"), ("User-Agent", "mtlsgate"), ("X-Forwarded-For", "127.0.0.1"),
        ("X-SSL-Client-I-DN", cert.issuer.rfc4514_string()),  # a name of the user's choosing
        ("X-Client-Subject", "/" + "/".join(f"{a.rfc4514_attribute_name}={a.value}" for a in cert.subject)),
        ("X-Cert-Serial", format(cert.serial_number, "x")),
        ("X-Cert-Verified", "SUCCESS"),
        ("X-SSL-Client-DN", "CN=someone else"),  # identity-looking, wrong value: not the certificate's
        ("Ssl-Client-Cert", urllib.parse.quote(cert.public_bytes(Encoding.PEM).decode())),
    ]
    assert discover(received, cert) == {"X-SSL-Client-I-DN": "issuer-dn", "X-Client-Subject": "subject-dn",
                                        "X-Cert-Serial": "serial-hex", "X-Cert-Verified": "verify",
                                        "Ssl-Client-Cert": "cert"}
    assert discover([("X-SSL-Client-Verify", "NONE")], cert) == {}


def _ev(server: str | None = None, version: str = "1.3") -> Evidence:
    return Evidence(requested_version=version, server=server)


def test_product_recognition_from_answers():
    profiles = available_profiles()
    echo = Accepted(200, (), _ev("mtlsgate-echo Python/3.11.7"))
    alert = RejectedTLS("certificate_required", "after-handshake", _ev())
    plain = {"no_cert": [alert], "valid": [echo], "bad_cert": [RejectedTLS("unknown_ca", "handshake", _ev())],
             "available": profiles}

    def det(other):
        return detect(other_host=[other], **plain)

    assert det(Misdirected(421, _ev("nginx/1.22.1"))).profile == "nginx"
    assert det(Misdirected(421, _ev("Apache/2.4.71 (Debian) OpenSSL/3.0.22"))).profile == "apache"
    assert det(Misdirected(421, _ev("Caddy"))).profile == "caddy"
    traefik = det(RejectedHTTP(404, "404 page not found", _ev()))
    assert traefik.product == "traefik" and "404 page not found" in traefik.why
    ats = det(RejectedHTTP(404, "Not Found", _ev("ATS/9.2.0")))
    assert ats.product == "trafficserver" and ats.profile == "trafficserver" and "ATS/9.2.0" in ats.why
    assert det(Misdirected(421, _ev("lighttpd/1.4.69"))).profile == "lighttpd"
    assert det(Misdirected(421, _ev("squid/5.7"))).profile == "squid"
    envoy = det(Misdirected(421, _ev("envoy")))  # a product named, but no profile for it: default, and why
    assert envoy.product == "envoy" and envoy.profile == "default" and "no envoy profile" in envoy.why
    unknown = det(Misdirected(421, _ev()))  # HAProxy, stunnel, hitch: nothing names them
    assert unknown.product is None and unknown.profile == "default" and unknown.source == "not recognised"
    assert "using the default profile" in unknown.why
    # nginx's own 400 page, without a Server header (server_tokens / more_clear_headers)
    page = RejectedHTTP(400, "No required SSL certificate was sent", _ev())
    assert detect(no_cert=[page], valid=[echo], bad_cert=[], available=profiles).product == "nginx"
    # Go before 1.24: bad_certificate for a missing certificate over TLS 1.2 and for a self-signed one
    go = detect(no_cert=[RejectedTLS("bad_certificate", "handshake", _ev(version="1.2"))], valid=[echo],
                bad_cert=[RejectedTLS("bad_certificate", "handshake", _ev())], available=profiles)
    assert go.product == "go" and set(load_profile(go.profile).unsupported) == {"reject.revoked",
                                                                                 "reject.ku-no-digital-signature"}


def test_product_behaviour_joins_the_profile_the_user_named():
    merged = with_product(load_profile("default"), load_profile("caddy"))
    assert merged.name == "default" and "reject.ku-no-digital-signature" in merged.unsupported
    assert merged.policy == load_profile("default").policy
    assert with_product(load_profile("strict"), load_profile("nginx")) == load_profile("strict")


def test_declared_identity_headers_come_from_the_template_and_the_command_line():
    for lb in LBS:
        for name, entry in variants(lb).items():
            assert "identity_headers" not in variants(lb), lb  # the shared table is resolved into each variant
            # Every template sets its product's identity headers, but for products that cannot:
            # byte tunnels (stunnel, hitch) and Traffic Server 9.2 (no client-certificate variables).
            assert bool(entry["identity_headers"]) == (lb not in NO_IDENTITY_HEADERS), f"{lb}:{name}"
    assert variants("nginx")["correct"]["identity_headers"]["X-SSL-Client-DN"] == "subject-dn"
    assert parse_identity_header("X-Client-DN=subject-dn") == ("X-Client-DN", "subject-dn")
    assert parse_identity_header("X-Client-Cert") == ("X-Client-Cert", "any")
    for bad in ("X Client=cert", "X-Client=colour", "=cert"):
        with pytest.raises(UsageError, match="--identity-header"):
            parse_identity_header(bad)
