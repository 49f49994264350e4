"""What a header value says about a client certificate: the formats LBs forward identity in.

LBs forward the presented certificate's facts under names of their operator's choosing and
in their product's format: nginx writes the subject as RFC 2253/4514 (``CN=a,O=b``),
HAProxy as OpenSSL's one-line form (``/O=b/CN=a``), Go as ``pkix.Name.String()`` (reversed,
``#hex`` for unknown attributes), OpenSSL's printer as ``O = b, CN = a``; serials in hex
(any case, colons, leading zeros) or decimal; fingerprints with or without colons; the
certificate as PEM (raw, URL-encoded, newlines folded into spaces or tabs), base64 DER,
RFC 9440 ``:b64:`` or Traefik's sanitised PEM body. So the header checks *find* which
received header carries which fact (:func:`discover`) instead of assuming our own
templates' names, and judge a declared header by the same matchers (:func:`matches`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import urllib.parse
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ..judge import IDENTITY_KINDS
from .headers import normalise

#: What a forwarded identity header can carry (judge.IDENTITY_KINDS, which profiles validate
#: against); ``any`` (a declared header without a format) passes when it carries any of them.
KINDS = IDENTITY_KINDS
#: The kinds :func:`discover` looks for, most specific first (one kind per header).
DISCOVERABLE = ("cert", "sha256", "sha1", "serial-hex", "serial-decimal", "subject-dn", "issuer-dn", "cert-info",
                "verify")
#: What a verify-status header says for a verified certificate (nginx/Apache SUCCESS, HAProxy 0, ...).
VERIFY_OK = ("SUCCESS", "0", "TRUE", "1", "OK", "VERIFIED", "YES")

_ATTR = {
    NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C", NameOID.LOCALITY_NAME: "L", NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.STREET_ADDRESS: "STREET", NameOID.DOMAIN_COMPONENT: "DC", NameOID.USER_ID: "UID",
    NameOID.EMAIL_ADDRESS: "E", NameOID.SERIAL_NUMBER: "SERIALNUMBER", NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN", NameOID.TITLE: "TITLE",
}
_KEY_ALIASES = {"COMMONNAME": "CN", "EMAILADDRESS": "E", "EMAIL": "E", "S": "ST", "STATEORPROVINCENAME": "ST",
                "LOCALITYNAME": "L", "COUNTRYNAME": "C", "ORGANIZATIONNAME": "O", "ORGANIZATIONALUNITNAME": "OU",
                "GIVENNAME": "GN", "SURNAME": "SN", "USERID": "UID", "STREETADDRESS": "STREET",
                **{oid.dotted_string: short for oid, short in _ATTR.items()}}


def _plain(value: str) -> list[str]:
    """The value as sent and URL-decoded, outer quotes and whitespace removed (each distinct form once)."""
    forms = []
    for text in (value, urllib.parse.unquote(value), urllib.parse.unquote_plus(value)):
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        if text not in forms:
            forms.append(text)
    return forms


# -- distinguished names ---------------------------------------------------------------------

def name_pairs(name: x509.Name) -> list[tuple[str, str]]:
    """A certificate name as sorted (attribute, value) pairs, attributes by their short names."""
    return sorted((_ATTR.get(a.oid, a.oid.dotted_string), str(a.value)) for a in name)


def _hex_value(text: str) -> str:
    """Go and RFC 4514 write unknown attributes as ``#`` + the DER of the value: its string."""
    try:
        der = bytes.fromhex(text[1:])
    except ValueError:
        return text
    if len(der) < 2:
        return text
    length, body = der[1], der[2:]
    if length & 0x80:
        n = length & 0x7F
        length, body = int.from_bytes(body[:n], "big"), body[n:]
    return body[:length].decode("utf-8", errors="replace")


def _unescape(text: str) -> str:
    """RFC 4514 escapes: ``\\,`` and ``\\2C`` both mean a comma."""
    return re.sub(r"\\([0-9A-Fa-f]{2}|.)", lambda m: chr(int(m.group(1), 16)) if len(m.group(1)) == 2
                  else m.group(1), text)


def parse_dn(text: str) -> list[tuple[str, str]] | None:
    """(attribute, value) pairs of a DN in any common form, sorted; None if it is not a DN.

    Forms: RFC 2253/4514 (``CN=a,O=b``, with or without spaces after commas, ``+`` for
    multi-valued RDNs), OpenSSL one-line (``/O=b/CN=a``), OpenSSL's printer (``O = b, CN = a``),
    Go's ``pkix.Name.String()`` (``#hex`` values), in either order.
    """
    text = text.strip()
    if "=" not in text:
        return None
    parts = _split(text[1:], "/") if text.startswith("/") else _split(text, ",+;")
    pairs = []
    for part in parts:
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        if not sep:
            if not pairs:
                return None
            # An unescaped separator inside a value (Traefik writes O=Example, Inc. as is).
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + "," + part)
            continue
        key = key.strip().upper()
        key = _KEY_ALIASES.get(key, key)
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        val = _hex_value(val) if val.startswith("#") else _unescape(val)
        pairs.append((key, val))
    return sorted((k, v.strip()) for k, v in pairs) or None


def _split(text: str, separators: str) -> list[str]:
    """Split at unescaped, unquoted separators (``CN="Doe, John",O=x`` is two parts)."""
    parts, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch in separators and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _dn_matches(value: str, name: x509.Name) -> bool:
    want = name_pairs(name)
    return any(parse_dn(text) == want for text in _plain(value))


# -- serials, fingerprints, certificates ------------------------------------------------------

def _serial_hex(value: str, serial: int) -> bool:
    for text in _plain(value):
        digits = text.replace(":", "").replace(" ", "").lower()
        digits = digits[2:] if digits.startswith("0x") else digits
        if digits and re.fullmatch(r"[0-9a-f]+", digits) and int(digits, 16) == serial:
            return True
    return False


def _fingerprint(value: str, want: str) -> bool:
    return any(re.sub(r"[:\s]", "", text).lower() == want for text in _plain(value))


def cert_der(value: str) -> bytes | None:
    """The first certificate in a header value: PEM (raw, URL-encoded, newlines as spaces or
    tabs), bare base64 DER, RFC 9440 ``:b64:``, or Traefik's sanitised PEM body."""
    for text in _plain(value):
        text = text.strip().strip(":")
        text = re.split(r"-----END CERTIFICATE-----|,", text)[0]
        text = re.sub(r"-----BEGIN CERTIFICATE-----", "", text)
        text = re.sub(r"\s+", "", text)
        if not text:
            continue
        try:
            der = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        return der
    return None


def _cert_info(value: str, cert: x509.Certificate) -> bool:
    """Traefik's ``X-Forwarded-Tls-Client-Cert-Info``: ``Subject="...";Issuer="...";...`` (URL-escaped)."""
    for text in _plain(value):
        fields = dict(re.findall(r'(\w+)="([^"]*)"', text))
        subject = fields.get("Subject")
        if subject is None:
            continue
        want = name_pairs(cert.subject)
        got = parse_dn(subject)
        if got == want:
            return True
        # Traefik lists only the configured fields: every one it lists must be the certificate's.
        if got and set(got) <= set(want):
            return True
    return False


def matches(kind: str, value: str, cert: x509.Certificate) -> tuple[bool, str]:
    """Does ``value`` carry what ``kind`` says about ``cert``? Returns (ok, what was expected)."""
    if kind == "verify":
        return any(text.upper() in VERIFY_OK for text in _plain(value)), "SUCCESS (or 0 / true)"
    if kind in ("subject-dn", "issuer-dn"):
        name = cert.subject if kind == "subject-dn" else cert.issuer
        return _dn_matches(value, name), name.rfc4514_string()
    if kind == "subject-cn":
        cns = [str(a.value) for a in cert.subject if a.oid == NameOID.COMMON_NAME]
        return any(cn in text for cn in cns for text in _plain(value)), f"a value containing CN {cns}"
    if kind == "cert-info":
        return _cert_info(value, cert), f"Subject=\"{cert.subject.rfc4514_string()}\";..."
    if kind == "serial-hex":
        return _serial_hex(value, cert.serial_number), format(cert.serial_number, "X")
    if kind == "serial-decimal":
        return any(text == str(cert.serial_number) for text in _plain(value)), str(cert.serial_number)
    if kind in ("sha1", "sha256"):
        want = hashlib.new(kind, cert.public_bytes(Encoding.DER)).hexdigest()
        return _fingerprint(value, want), want
    if kind == "cert":
        return cert_der(value) == cert.public_bytes(Encoding.DER), "the certificate (PEM, URL-encoded PEM or base64 DER)"
    if kind == "any":
        found = recognise("", value, cert)
        return found is not None, "any fact of the certificate (DN, serial, fingerprint, the certificate)"
    raise ValueError(f"unknown identity header kind {kind!r}")


def recognise(name: str, value: str, cert: x509.Certificate) -> str | None:
    """The kind of fact ``value`` carries about ``cert``, or None.

    A verify status is recognised only under a name that says so (``verif``): ``0`` or
    ``1`` alone could be anything.
    """
    for kind in DISCOVERABLE:
        if kind == "verify" and "verif" not in normalise(name):
            continue
        if matches(kind, value, cert)[0]:
            return kind
    return None


def discover(headers: Iterable[tuple[str, str]], cert: x509.Certificate) -> dict[str, str]:
    """The received headers that carry a fact of ``cert``: name (as received) -> kind."""
    found: dict[str, str] = {}
    for name, value in headers:
        kind = recognise(name, value, cert)
        if kind is not None and name not in found:
            found[name] = kind
    return found


__all__ = ["KINDS", "DISCOVERABLE", "VERIFY_OK", "name_pairs", "parse_dn", "cert_der", "matches", "recognise",
           "discover"]
