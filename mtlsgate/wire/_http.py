"""httpx and httpcore under the probe's deadline: imported with the first probe, not with the suite.

Every pytest session loads the plugin and its layers for their options; the HTTP client
stack (httpx, httpcore, h11, h2) is only needed once something is probed.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import httpcore
import httpx

from .deadline import Deadline

if TYPE_CHECKING:
    from .probe import _Progress


class _WatchedStream(httpcore.NetworkStream):
    """httpcore's stream, noting when the TLS handshake completed."""

    def __init__(self, inner: httpcore.NetworkStream, progress: _Progress) -> None:
        self._inner = inner
        self._progress = progress

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self._inner.start_tls(ssl_context, server_hostname, timeout)
        self._progress.handshake_done = True
        return _WatchedStream(stream, self._progress)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _WatchedBackend(httpcore.SyncBackend):
    """httpcore's own socket backend, with every connection put under the probe's deadline."""

    def __init__(self, deadline: Deadline, progress: _Progress) -> None:
        self._deadline = deadline
        self._progress = progress

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: object = None) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)  # type: ignore[arg-type]
        self._deadline.watch(stream.get_extra_info("socket"))
        return _WatchedStream(stream, self._progress)


def client(ctx: ssl.SSLContext, timeout: httpx.Timeout, deadline: Deadline, progress: _Progress) -> httpx.Client:
    transport = httpx.HTTPTransport(verify=ctx, http1=True, http2=False, retries=0)
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):  # pragma: no cover
        raise RuntimeError("httpx.HTTPTransport changed: cannot bound probes by a deadline")
    transport._pool = httpcore.ConnectionPool(ssl_context=ctx, http1=True, http2=False, retries=0,
                                              network_backend=_WatchedBackend(deadline, progress))
    return httpx.Client(transport=transport, timeout=timeout, trust_env=False, follow_redirects=False)


__all__ = ["client"]
