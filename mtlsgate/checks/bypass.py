"""Reaching the protected name without the handshake that protects it (lb-behaviour.md V08, V09).

TLS options are chosen by SNI, routing by Host (or ``:authority``): a listener that serves
another name without client auth, or no SNI at all, must not route a request for the
protected name through that unauthenticated connection. The correct answers are a
rejection (alert, EOF, 4xx) or 421 Misdirected Request — never the protected backend.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from dataclasses import replace

from ..judge import FAIL, NOT_APPLICABLE, PASS, SKIP, judge
from ..wire import MAX_BODY, Accepted, Evidence, Outcome, Unreachable, classify_error, classify_response, describe
from .finding import NO_CERT_ADMITTED, Attempt, CheckContext, Finding, alt_name, combine
from .resume import exchange


def host_variants(ctx: CheckContext) -> list[tuple[str, str]]:
    """The protected name as a Host header, spelled the ways past bypasses slipped through."""
    name = ctx.protected_name
    return [("Host exact", name), ("Host trailing dot", f"{name}."), ("Host upper case", name.upper()),
            ("Host with :port", f"{name}:{ctx.target.endpoint.port}")]


def _rejected_attempt(ctx: CheckContext, label: str, outcome: Outcome) -> Attempt:
    verdict = judge(ctx.check_id, "reject", outcome, ctx.baseline_valid, ctx.profile)
    return Attempt(label, PASS if verdict.status == PASS else FAIL, verdict.reason, outcome)


def sni_host_mismatch(ctx: CheckContext) -> Finding:
    """No certificate, SNI of another name, Host of the protected one (and its spellings)."""
    if ctx.no_cert_admitted:
        return combine(ctx, [Attempt("SNI/Host mismatch", SKIP, NO_CERT_ADMITTED)])
    other = alt_name(ctx)
    attempts = [_rejected_attempt(ctx, f"SNI {other}, {label} ({host})",
                                  ctx.probe(None, server_name=other, host_header=host, check_hostname=False))
                for label, host in host_variants(ctx)]
    return combine(ctx, attempts)


def no_sni(ctx: CheckContext) -> Finding:
    """No certificate and no SNI at all (the default server's TLS options), Host of the protected name."""
    if ctx.no_cert_admitted:
        return combine(ctx, [Attempt("no SNI", SKIP, NO_CERT_ADMITTED)])
    # The raw probe of resume.py: httpx would send the URL's host name as SNI when it is not an IP.
    tls = ctx.prober.fresh_context(None, ctx.tls_version, check_hostname=False)
    attempts = [_rejected_attempt(ctx, f"no SNI, {label} ({host})", exchange(ctx, tls, None, host).outcome)
                for label, host in host_variants(ctx)[:2]]
    return combine(ctx, attempts)


def h2_coalescing(ctx: CheckContext) -> Finding:
    """HTTP/2: a second stream for the protected name on a connection opened for another name.

    A valid client first shows whether the protected name offers h2 (ALPN), then a client
    without a certificate opens an h2 connection for another name and asks for the protected
    one. Only when neither connection negotiates h2 is there nothing to coalesce: the row is
    ``not applicable`` with that reason (out of the coverage, as QUIC rows of a target without
    HTTP/3), not a lost check. A listener may offer h2 for some names only (HAProxy crt-list
    ``alpn``), so the protected name's answer alone does not decide it.
    """
    if ctx.valid is None:
        return combine(ctx, [Attempt("h2 support", SKIP, "needs a valid client identity to see whether h2 is offered")])
    if importlib.util.find_spec("h2") is None:
        return combine(ctx, [Attempt("h2 support", SKIP, "needs the h2 package (a dependency of mtlsgate: pip install h2)")])
    offered, control = _h2_exchange(ctx, ctx.valid, ctx.protected_name, [ctx.protected_name])
    if not offered and not isinstance(control[0][1], Accepted):  # h2 may be offered: a real skip, lost coverage
        why = f"could not see whether h2 is offered: a valid client offering h2 got {describe(control[0][1])}"
        return combine(ctx, [Attempt("h2 support", SKIP, why, control[0][1])])
    if ctx.no_cert_admitted:
        return combine(ctx, [Attempt("h2 stream for the protected name", SKIP, NO_CERT_ADMITTED)])
    other = alt_name(ctx)
    opened, streams = _h2_exchange(ctx, None, other, [other, ctx.protected_name])
    if not offered and not opened:
        why = (f"the target does not offer HTTP/2 via ALPN, so there is no connection to coalesce: a valid client "
               f"of {ctx.protected_name} is served over http/1.1, and a client without a certificate opening "
               f"{other} got no h2 connection ({describe(streams[0][1])})")
        found = combine(ctx, [Attempt("h2 support", SKIP, why, control[0][1])])
        return replace(found, verdict=replace(found.verdict, observed=NOT_APPLICABLE))
    served = ("h2 negotiated; a valid client is served over h2" if offered else
              f"a valid client is served over http/1.1, but {other} offers h2 to a client without a certificate")
    attempts = [Attempt("h2 with a valid certificate, :authority " + ctx.protected_name, PASS, served, control[0][1])]
    for authority, outcome in streams:
        if authority == other:
            attempts.append(Attempt(f"no certificate, SNI {other}, stream :authority {other}", PASS,
                                    "connection opener (not judged)", outcome))
            continue
        attempts.append(_rejected_attempt(ctx, f"no certificate, SNI {other}, stream :authority {authority}", outcome))
    return combine(ctx, attempts)


def _h2_exchange(ctx: CheckContext, credential, sni: str, authorities: list[str]) -> tuple[bool, list[tuple[str, Outcome]]]:  # type: ignore[no-untyped-def]
    """Streams on one HTTP/2 connection (httpx pools by origin), one per ``:authority``.

    Returns whether h2 was negotiated and each stream's outcome; once the connection
    fails, the remaining streams share that outcome (they could not be sent on it).
    """
    import httpx

    tls_ctx = ctx.prober.fresh_context(credential, ctx.tls_version, check_hostname=False)
    # httpcore offers ALPN "http/1.1, h2" in that order, and a server that honours the client's
    # order (lighttpd) then answers http/1.1 although it offers h2: offer h2 first, and keep it so.
    tls_ctx.set_alpn_protocols(["h2", "http/1.1"])
    tls_ctx.set_alpn_protocols = lambda _protocols: None  # type: ignore[method-assign]
    results: list[tuple[str, Outcome]] = []
    negotiated = False
    started = time.monotonic()
    timeout = httpx.Timeout(ctx.timeout)
    try:
        with httpx.Client(verify=tls_ctx, http2=True, timeout=timeout, trust_env=False,
                          follow_redirects=False) as client:
            for authority in authorities:
                base = Evidence(requested_version=ctx.tls_version, server_name=sni, host_header=authority)
                try:
                    request = client.build_request("GET", ctx.target.endpoint.url("/"),
                                                   headers=[("Host", authority), ("User-Agent", "mtlsgate")],
                                                   extensions={"sni_hostname": sni})
                    response = client.send(request, stream=True)
                    try:
                        body = _read_bounded(response.iter_bytes(), started + ctx.timeout * 2)
                    finally:
                        response.close()
                    negotiated = negotiated or response.http_version == "HTTP/2"
                    stream = response.extensions.get("network_stream")
                    ssl_obj = stream.get_extra_info("ssl_object") if stream is not None else None
                    evidence = replace(base, tls_version=ssl_obj.version() if ssl_obj else None,
                                       elapsed_ms=round((time.monotonic() - started) * 1000, 2),
                                       detail=f"{response.http_version}, stream for :authority {authority}")
                    results.append((authority, classify_response(response.status_code, body, evidence)))
                except httpx.TimeoutException as exc:
                    results.append((authority, Unreachable(f"no answer within {ctx.timeout:g}s ({exc})", base)))
                except (httpx.HTTPError, OSError) as exc:
                    results.append((authority, classify_error(exc, base, "handshake" if not negotiated
                                                              else "after-handshake")))
    except Exception as exc:  # noqa: BLE001 - h2 state-machine errors must become outcomes, not tracebacks
        base = Evidence(requested_version=ctx.tls_version, server_name=sni)
        while len(results) < len(authorities):
            results.append((authorities[len(results)], classify_error(exc, base, "after-handshake")))
    return negotiated, results


def _read_bounded(chunks: Iterator[bytes], deadline: float) -> bytes:
    """At most ``MAX_BODY`` bytes of a response body, and no later than ``deadline``."""
    import httpx

    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) >= MAX_BODY:
            break
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the response body did not arrive in time")
    return bytes(out[:MAX_BODY])


__all__ = ["sni_host_mismatch", "no_sni", "h2_coalescing", "host_variants"]
