"""A hard wall-clock bound for one network attempt, whatever the peer does.

Socket timeouts bound each ``recv``, not an exchange: a server that drips one byte per
second resets the timer on every byte and can stretch a handshake or a response for
hours. A :class:`Deadline` shuts the attempt's sockets down when its time is up, which
wakes any blocked read at once, so the attempt fails promptly and says why.
"""

from __future__ import annotations

import socket
import threading
import time


class Deadline:
    """``with Deadline(seconds) as d: d.watch(sock); ...``; ``d.expired`` tells whether it fired.

    Watched sockets are duplicated (``dup``): shutting the duplicate down ends the
    connection for every descriptor, and closing it never closes the caller's descriptor.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.name = "mtlsgate-deadline"

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join(1.0)
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()

    def watch(self, sock: socket.socket) -> None:
        try:
            dup = sock.dup()
        except OSError:
            return
        with self._lock:
            self._socks.append(dup)
            if self.expired:
                _shutdown(dup)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


__all__ = ["Deadline"]
