"""What the backend learns about the client (lb-behaviour.md §5, V11–V13), read from the echo backend.

Backends trust identity headers; the LB must (1) forward the verified identity correctly,
(2) never pass a client's own copy of any identity header — canonical names, their ``_``
and ``.`` aliases, lower case, duplicates — and (3) let a backend tell "no certificate"
from "verified". Every check records what the backend received, so a leak is visible.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import urllib.parse
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..judge import FAIL, PASS, SKIP, judge
from ..wire import Accepted, Outcome, describe
from .finding import Attempt, CheckContext, Finding, combine
from .headers import CLIENT_CERT_HEADERS, aliases, is_client_cert_header, normalise

SPOOF_MARK = "mtlsgate-spoof-"
BATCH = 8  # canonical names per request: Apache allows 100 request header fields
VALUE_LIMIT = 120  # characters of a header value shown in reports (certificates are long, not secret)


def spoof_batches() -> list[tuple[tuple[str, str], ...]]:
    """Every identity header name in every spelling, plus a duplicate, each with its own marker value."""
    batches, n = [], 0
    for start in range(0, len(CLIENT_CERT_HEADERS), BATCH):
        batch = []
        for name in CLIENT_CERT_HEADERS[start:start + BATCH]:
            for spelling in (*aliases(name), name):  # the last one duplicates the canonical name
                n += 1
                batch.append((spelling, f"{SPOOF_MARK}{n:03d}"))
        batches.append(tuple(batch))
    return batches


def identity_seen(outcome: Outcome) -> tuple[tuple[str, str], ...] | None:
    """The identity-looking headers the echo backend received (values cut short for the report)."""
    if not isinstance(outcome, Accepted) or outcome.echoed_headers is None:
        return None
    return tuple((k, _short(v)) for k, v in outcome.echoed_headers if is_client_cert_header(k) or SPOOF_MARK in v)


def _short(value: str) -> str:
    return value if len(value) <= VALUE_LIMIT else value[:VALUE_LIMIT] + f"... ({len(value)} chars)"


def _spoof(ctx: CheckContext, with_cert: bool) -> Finding:
    cred = ctx.valid if with_cert else None
    if with_cert and cred is None:
        return combine(ctx, [Attempt("spoofed headers", SKIP, "needs a valid client identity")])
    who = "a valid client" if with_cert else "a client without a certificate"
    attempts = []
    for i, batch in enumerate(spoof_batches(), 1):
        outcome = ctx.probe(cred, headers=batch)
        label = f"{who} sends {len(batch)} forged identity headers (batch {i}: {batch[0][0]} ...)"
        seen = identity_seen(outcome)
        if seen is None:
            verdict = judge(ctx.check_id, "accept" if with_cert else "reject", outcome, ctx.baseline_valid,
                            ctx.profile)
            if with_cert:
                reason = (f"the request did not reach the echo backend ({describe(outcome)}): "
                          "cannot see what the backend receives")
                attempts.append(Attempt(label, FAIL, reason, outcome))
            else:
                status = PASS if verdict.status == PASS else FAIL
                attempts.append(Attempt(label, status, f"never reached the backend: {verdict.reason}", outcome))
            continue
        leaked = [(k, v) for k, v in seen if SPOOF_MARK in v]
        if leaked:
            names = ", ".join(f"{k}: {v}" for k, v in leaked)
            attempts.append(Attempt(label, FAIL, f"{len(leaked)} forged header(s) reached the backend as sent: {names}",
                                    outcome, seen))
        else:
            attempts.append(Attempt(label, PASS, "every forged copy was removed or overwritten", outcome, seen))
    found = combine(ctx, attempts, pass_reason=f"no forged identity header sent by {who} reached the backend as sent")
    merged: dict[tuple[str, str], None] = {}
    for attempt in attempts:  # every batch's view: a leak in any batch must be visible in the report
        merged.update(dict.fromkeys(attempt.backend_headers or ()))
    return replace(found, backend_headers=tuple(merged) if merged else found.backend_headers)


def spoof_without_cert(ctx: CheckContext) -> Finding:
    return _spoof(ctx, with_cert=False)


def spoof_with_cert(ctx: CheckContext) -> Finding:
    return _spoof(ctx, with_cert=True)


def _valid_at_backend(ctx: CheckContext) -> tuple[Outcome, tuple[tuple[str, str], ...] | None, Finding | None]:
    """A valid client's request and what the backend saw of it; a FAIL finding if it never got there.

    Both header checks compare against this answer, so they share the one way it can go wrong.
    """
    assert ctx.valid is not None
    outcome = ctx.probe(ctx.valid)
    seen = identity_seen(outcome)
    if seen is None:
        return outcome, None, combine(ctx, [Attempt("a valid client", FAIL,
                                                    f"did not reach the echo backend: {describe(outcome)}", outcome)])
    return outcome, seen, None


def forwarded_identity(ctx: CheckContext) -> Finding:
    """The identity headers the profile names carry the presented certificate's identity, in its format."""
    expected = dict(ctx.profile.identity_headers)
    if not expected:
        return combine(ctx, [Attempt("identity headers", SKIP, f"profile {ctx.profile.name} names no identity "
                                     "headers ([identity_headers]: header = what it carries)")])
    if ctx.valid is None:
        return combine(ctx, [Attempt("identity headers", SKIP, "needs a valid client identity")])
    outcome, seen, missed = _valid_at_backend(ctx)
    if missed is not None:
        return missed
    received = {normalise(k): v for k, v in outcome.echoed_headers or ()}
    cert = ctx.valid.cert
    attempts = []
    for header, kind in expected.items():
        value = received.get(normalise(header))
        if value is None:
            attempts.append(Attempt(f"{header} ({kind})", FAIL, "not received by the backend", outcome, seen))
            continue
        ok, want = matches(kind, value, cert)
        attempts.append(Attempt(f"{header} ({kind})", PASS if ok else FAIL,
                                f"received {_short(value)!r}" + ("" if ok else f", expected {want}"), outcome, seen))
    found = combine(ctx, attempts, pass_reason="the backend received the client's identity: "
                    + "; ".join(f"{a.label}" for a in attempts))
    return found


def verify_distinguishes_none(ctx: CheckContext) -> Finding:
    """A backend reading the verify header must not mistake "no certificate" for "verified" (V13)."""
    none = ctx.probe(None)
    none_seen = identity_seen(none)
    if none_seen is None:
        verdict = judge(ctx.check_id, "reject", none, ctx.baseline_valid, ctx.profile)
        status = PASS if verdict.status == PASS else FAIL
        return combine(ctx, [Attempt("a client without a certificate", status,
                                     f"never reaches the backend: {verdict.reason}", none)])
    if ctx.valid is None:
        return combine(ctx, [Attempt("verify header", SKIP, "needs a valid client identity to compare with")])
    valid, valid_seen, missed = _valid_at_backend(ctx)
    if missed is not None:
        return missed
    named = {normalise(h) for h, kind in ctx.profile.identity_headers.items() if kind == "verify"}
    is_verify = (lambda k: normalise(k) in named) if named else (lambda k: "verify" in normalise(k))
    valid_verify = {normalise(k): v for k, v in valid_seen if is_verify(k)}
    none_verify = {normalise(k): v for k, v in none_seen if is_verify(k)}
    if not valid_verify:
        return combine(ctx, [Attempt("verify header", PASS, "the backend gets no verify header to be fooled by",
                                     none, none_seen)])
    attempts = []
    for name, good in valid_verify.items():
        bad = none_verify.get(name)
        label = f"{name} without a certificate vs with a valid one"
        if bad is not None and bad == good:
            attempts.append(Attempt(label, FAIL, f"both say {bad!r}: a backend checking it admits clients that "
                                    "sent no certificate", none, none_seen))
        else:
            attempts.append(Attempt(label, PASS, f"{bad!r} vs {good!r}", none, none_seen))
    return combine(ctx, attempts)


# -- value formats --------------------------------------------------------------------------

def matches(kind: str, value: str, cert: x509.Certificate) -> tuple[bool, str]:
    """Does ``value`` carry what ``kind`` says about ``cert``? Returns (ok, what was expected)."""
    value = value.strip().strip('"')
    if kind == "verify":
        return value.upper() in ("SUCCESS", "0", "TRUE", "1"), "SUCCESS (or 0)"
    if kind in ("subject-dn", "issuer-dn"):
        name = cert.subject if kind == "subject-dn" else cert.issuer
        want = {(a.rfc4514_attribute_name.upper(), str(a.value)) for a in name}
        return _dn_pairs(urllib.parse.unquote(value)) == want, name.rfc4514_string()
    if kind == "subject-cn":
        cns = [str(a.value) for a in cert.subject if a.rfc4514_attribute_name == "CN"]
        texts = (urllib.parse.unquote(value), urllib.parse.unquote_plus(value))  # Go's QueryEscape writes + for space
        return any(cn in text for cn in cns for text in texts), f"a value containing CN {cns}"
    if kind == "serial-hex":
        digits = value.replace(":", "").lower().lstrip("0")
        return digits == format(cert.serial_number, "x"), format(cert.serial_number, "X")
    if kind == "serial-decimal":
        return value == str(cert.serial_number), str(cert.serial_number)
    if kind in ("sha1", "sha256"):
        der = cert.public_bytes(Encoding.DER)
        want = hashlib.new(kind, der).hexdigest()
        return value.replace(":", "").lower() == want, want
    if kind == "cert":
        return cert_der(value) == cert.public_bytes(Encoding.DER), "the certificate (PEM, URL-encoded PEM or base64 DER)"
    raise ValueError(f"unknown identity header kind {kind!r}")


def cert_der(value: str) -> bytes | None:
    """The first certificate in a header value: PEM, URL-encoded PEM, bare base64 DER, or RFC 9440 ``:b64:``."""
    text = urllib.parse.unquote(value).strip().strip(":")
    text = text.split(",")[0]
    text = re.sub(r"-----(BEGIN|END) CERTIFICATE-----", "", text)
    text = re.sub(r"\s+", "", text)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _dn_pairs(text: str) -> set[tuple[str, str]]:
    """Attribute pairs of a DN in RFC 2253/4514 (``CN=a,O=b``) or OpenSSL one-line (``/O=b/CN=a``) form."""
    aliases_ = {"EMAILADDRESS": "E", "E": "E"}
    if text.startswith("/"):
        parts = [p for p in re.split(r"(?<!\\)/", text) if p]
    else:
        parts = [p for p in re.split(r"(?<!\\)[,+]", text) if p]
    pairs = set()
    for part in parts:
        key, sep, val = part.partition("=")
        if sep:
            k = key.strip().upper()
            pairs.add((aliases_.get(k, k), val.strip().replace("\\,", ",").replace("\\/", "/")))
    return pairs


__all__ = ["spoof_without_cert", "spoof_with_cert", "forwarded_identity", "verify_distinguishes_none", "spoof_batches", "matches", "cert_der", "identity_seen", "SPOOF_MARK", "BATCH", "VALUE_LIMIT"]
