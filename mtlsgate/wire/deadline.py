"""A hard wall-clock bound for one network attempt, whatever the peer does.

Socket timeouts bound each ``recv``, not an exchange: a server that drips one byte per
second resets the timer on every byte and can stretch a handshake or a response for
hours. A :class:`Deadline` shuts the attempt's sockets down when its time is up, which
wakes any blocked read at once, so the attempt fails promptly and says why.

Every deadline of the process is kept by one watchdog thread. A thread per attempt (a
``threading.Timer``) cost a thread start and a join per probe — a tenth of a millisecond
on a quiet machine, far more when a fleet run's probe threads and the LBs share two busy
cores — and most deadlines never fire.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time

#: A watchdog with nothing to watch for this long ends its thread (the next deadline starts another).
IDLE_EXIT_S = 30.0


class Deadline:
    """``with Deadline(seconds) as d: d.watch(sock); ...``; ``d.expired`` tells whether it fired.

    Watched sockets are duplicated (``dup``): shutting the duplicate down ends the
    connection for every descriptor, and closing it never closes the caller's descriptor.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self.finished = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Deadline:
        self.expires_at = time.monotonic() + self.seconds
        _watchdog().add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.finished = True  # the watchdog skips it from now on
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
            if self.finished:
                return
            self.expired = True
            for sock in self._socks:
                _shutdown(sock)


class _Watchdog:
    """The one thread that fires every :class:`Deadline` of the process, earliest first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.expires_at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mtlsgate-deadline", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()  # an earlier deadline than the one it sleeps for

    def _run(self) -> None:
        due: list[Deadline] = []
        with self._cond:
            while True:  # ends after IDLE_EXIT_S without a deadline to watch
                now = time.monotonic()
                while self._heap and (self._heap[0][2].finished or self._heap[0][0] <= now):
                    _, _, deadline = heapq.heappop(self._heap)
                    if not deadline.finished:
                        due.append(deadline)
                if due:
                    self._cond.release()  # fire outside the lock: shutting sockets down may block briefly
                    try:
                        for deadline in due:
                            deadline._fire()
                    finally:
                        due.clear()
                        self._cond.acquire()
                    continue
                if not self._heap:
                    if not self._cond.wait(IDLE_EXIT_S) and not self._heap:
                        self._thread = None
                        return
                    continue
                self._cond.wait(self._heap[0][0] - now)


class _Process:
    """The process's one watchdog, made on first use; a forked child makes its own (and its own lock)."""

    lock = threading.Lock()
    watchdog: _Watchdog | None = None

    @classmethod
    def forget(cls) -> None:
        cls.lock = threading.Lock()  # another thread may have held it at the fork
        cls.watchdog = None  # the parent's thread does not exist in the child


def _watchdog() -> _Watchdog:
    with _Process.lock:
        if _Process.watchdog is None:
            _Process.watchdog = _Watchdog()
        return _Process.watchdog


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Process.forget)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


__all__ = ["Deadline"]
