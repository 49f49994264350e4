"""What the backend learns about the client (lb-behaviour.md §5, V11–V13), read from the echo backend.

Backends trust identity headers; the LB must (1) forward the verified identity correctly,
(2) never pass a client's own copy of a header it sets itself — canonical name, its ``_``
and ``.`` aliases, lower case, duplicates — and (3) let a backend tell "no certificate"
from "verified". Which headers the LB sets is *found* (a valid client's request, matched
against its certificate by :mod:`mtlsgate.checks.identity`) and may be declared
(``--identity-header``, a site profile's ``[identity_headers]``, a local template's
``variants.toml``). A forged copy of a name the LB sets is a FAIL; a forged identity-looking
name the LB neither sets nor strips is reported (WARN under ``default``, FAIL where the
profile says ``unowned_identity_headers = "fail"``). Every check records what the backend
received, so a leak is visible.
"""

from __future__ import annotations

from dataclasses import replace

from ..judge import FAIL, PASS, SKIP, WARN, Verdict, judge
from ..wire import Accepted, Outcome, describe
from .finding import Attempt, CheckContext, Finding, combine
from .headers import CLIENT_CERT_HEADERS, aliases, is_client_cert_header, normalise
from .identity import discover, matches

SPOOF_MARK = "mtlsgate-spoof-"
BATCH = 8  # canonical names per request: Apache allows 100 request header fields
VALUE_LIMIT = 120  # characters of a header value shown in reports (certificates are long, not secret)


def spoof_batches(extra: tuple[str, ...] = ()) -> list[tuple[tuple[str, str], ...]]:
    """Every identity header name (the catalogue's and ``extra``, the LB's own) in every spelling,
    plus a duplicate, each with its own marker value."""
    names = list(CLIENT_CERT_HEADERS)
    known = {normalise(n) for n in names}
    for name in extra:
        if normalise(name) not in known:
            known.add(normalise(name))
            names.append(name)
    batches, n = [], 0
    for start in range(0, len(names), BATCH):
        batch = []
        for name in names[start:start + BATCH]:
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


def declared_headers(ctx: CheckContext) -> dict[str, str]:
    """Headers the site profile, the target's template or ``--identity-header`` say the LB sets: name -> kind."""
    return {**ctx.profile.identity_headers, **ctx.target.identity_headers}


def lb_sets(ctx: CheckContext) -> tuple[dict[str, str], dict[str, str], Outcome | None]:
    """(discovered, declared, the valid client's outcome): what the LB itself writes for a valid client.

    Discovered from a clean request (no forged headers) of the valid identity; a request
    that does not reach the backend discovers nothing.
    """
    declared = declared_headers(ctx)
    if ctx.valid is None:
        return {}, declared, None
    # The preflight's valid client made this very request (same identity, name and path): its
    # echo says what the LB writes. Three header checks per TLS version asked again each time.
    seen = ctx.baseline_valid
    outcome = seen if isinstance(seen, Accepted) and seen.echoed_headers is not None else ctx.probe(ctx.valid)
    if not isinstance(outcome, Accepted) or outcome.echoed_headers is None:
        return {}, declared, outcome
    return discover(outcome.echoed_headers, ctx.valid.cert), declared, outcome


def _owned_names(discovered: dict[str, str], declared: dict[str, str]) -> set[str]:
    return {normalise(n) for n in (*discovered, *declared)}


def _spoof(ctx: CheckContext, with_cert: bool) -> Finding:
    cred = ctx.valid if with_cert else None
    if with_cert and cred is None:
        return combine(ctx, [Attempt("spoofed headers", SKIP, "needs a valid client identity")])
    discovered, declared, _ = lb_sets(ctx)
    owned = _owned_names(discovered, declared)
    who = "a valid client" if with_cert else "a client without a certificate"
    attempts = []
    unowned: dict[str, str] = {}  # folded name -> the first spelling that got through
    for i, batch in enumerate(spoof_batches(tuple(discovered) + tuple(declared)), 1):
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
        own = [(k, v) for k, v in leaked if normalise(k) in owned]
        other = [(k, v) for k, v in leaked if normalise(k) not in owned]
        for k, _ in other:
            unowned.setdefault(normalise(k), k)
        if own:
            names = ", ".join(f"{k}: {v}" for k, v in own)
            attempts.append(Attempt(label, FAIL, f"{len(own)} forged value(s) reached the backend under a name the "
                                    f"LB itself sets (any spelling, duplicate or alias): {names}", outcome, seen))
        elif other:
            attempts.append(Attempt(label, WARN, f"{len(other)} forged header(s) the LB neither sets nor strips "
                                    f"reached the backend: {', '.join(k for k, _ in other)}", outcome, seen))
        else:
            attempts.append(Attempt(label, PASS, "every forged copy was removed or overwritten", outcome, seen))
    spelled: dict[str, str] = {}
    for name in (*declared, *discovered):  # one spelling per name, the declared one first
        spelled.setdefault(normalise(name), name)
    sets = ", ".join(sorted(spelled.values())) or "none found"
    found = combine(ctx, attempts, pass_reason=f"no forged identity header sent by {who} reached the backend "
                    f"(identity headers the LB sets: {sets})")
    if found.verdict.status == PASS and unowned:
        policy = ctx.profile.unowned_identity_headers
        names = ", ".join(unowned.values())
        reason = (f"no forged value reached the backend under a name the LB sets ({sets}); forged identity-looking "
                  f"headers the LB neither sets nor strips reached it: {names}: strip these or make sure the "
                  f"backend never reads them")
        status = WARN if policy == "warn" else FAIL
        if status == WARN:
            reason += f" (profile {ctx.profile.name}: unowned_identity_headers = warn)"
        warned = next(a for a in attempts if a.verdict == WARN)
        found = replace(found, verdict=Verdict(status, ctx.expect, "accepted", reason), outcome=warned.outcome,
                        backend_headers=warned.backend_headers)
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
    """The headers that carry the client's identity (found, and any declared) carry the presented certificate's."""
    if ctx.valid is None:
        return combine(ctx, [Attempt("identity headers", SKIP, "needs a valid client identity")])
    outcome, seen, missed = _valid_at_backend(ctx)
    if missed is not None:
        return missed
    received_list = tuple(outcome.echoed_headers or ())
    received = {normalise(k): v for k, v in received_list}
    cert = ctx.valid.cert
    discovered = discover(received_list, cert)
    declared = declared_headers(ctx)
    relevant = {normalise(n) for n in (*discovered, *declared)}
    # What the report shows: identity-looking names and every name found or declared.
    shown = tuple((k, _short(v)) for k, v in received_list
                  if is_client_cert_header(k) or normalise(k) in relevant) or seen
    if not discovered and not declared:
        return combine(ctx, [Attempt("identity headers", SKIP, "the LB forwards no identity of the client certificate "
                                     "to the backend (no header carries its subject, issuer, serial, fingerprint, the "
                                     "certificate or a verify status); declare one with --identity-header NAME=FORMAT "
                                     "if it should", outcome, shown)])
    attempts = []
    for header, kind in declared.items():
        value = received.get(normalise(header))
        label = f"{header} ({kind}, declared)"
        if value is None:
            attempts.append(Attempt(label, FAIL, "not received by the backend", outcome, shown))
            continue
        ok, want = matches(kind, value, cert)
        attempts.append(Attempt(label, PASS if ok else FAIL,
                                f"received {_short(value)!r}" + ("" if ok else f", expected {want}"), outcome, shown))
    names = {normalise(h) for h in declared}
    for header, kind in discovered.items():
        if normalise(header) not in names:
            attempts.append(Attempt(f"{header} ({kind}, found)", PASS, f"carries the certificate's {kind}",
                                    outcome, shown))
    return combine(ctx, attempts, pass_reason="the backend received the client's identity: "
                   + "; ".join(a.label for a in attempts))


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
    found = discover(valid.echoed_headers or (), ctx.valid.cert) if isinstance(valid, Accepted) else {}
    named = {normalise(h) for h, kind in {**declared_headers(ctx), **found}.items() if kind == "verify"}
    is_verify = (lambda k: normalise(k) in named) if named else (lambda k: "verif" in normalise(k))
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


__all__ = ["spoof_without_cert", "spoof_with_cert", "forwarded_identity", "verify_distinguishes_none", "spoof_batches", "identity_seen", "declared_headers", "lb_sets", "SPOOF_MARK", "BATCH", "VALUE_LIMIT"]
