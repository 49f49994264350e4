"""A one-line live status of a long run: checks done / remaining per target.

pytest's own progress counts tests; a run over several targets (or a fuzz run) also wants
to know *which* target is behind. The line is written only on a terminal (or with
``--live-status on``) and at most every few seconds, so CI logs are not flooded. It lives
on the controller: under xdist the checks' reports arrive there too.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import pytest

_PARAM = re.compile(r"\[(.*)\]$")


class LiveStatus:
    """Counts checks per target from node ids (``...[tls1.3]``, ``...[quic]`` or ``...[local:nginx-tls1.3]``)."""

    def __init__(self, config: pytest.Config, targets: Sequence[str], versions: Sequence[str]) -> None:
        self.config = config
        self.targets = list(targets)
        # The gate fixture's parameter ids, exactly as plugin.pytest_generate_tests makes them.
        names = {v: v if v == "quic" else f"tls{v}" for v in versions}  # QUIC's id is plain "quic"
        self._ids = sorted(((names[v] if len(targets) == 1 else f"{t}-{names[v]}", t) for t in targets
                            for v in versions), key=lambda pair: -len(pair[0]))
        self._exact = dict(self._ids)  # the usual node id ends in exactly one of them: one lookup (fleets)
        self.total: dict[str, int] = {}
        self.done: dict[str, int] = {t: 0 for t in targets}
        self.failed: dict[str, int] = {t: 0 for t in targets}
        self._last = 0.0
        self._seen: set[str] = set()
        mode = config.getoption("live_status", "auto")
        terminal = getattr(sys.stdout, "isatty", lambda: False)()
        self.enabled = mode == "on" or (mode == "auto" and terminal)
        self.interval = 2.0 if terminal else 10.0

    def target_of(self, nodeid: str) -> str | None:
        m = _PARAM.search(nodeid.split("@mtlsgate:", 1)[0])  # xdist's loadgroup suffix names the group
        if not m:
            return None
        if m.group(1) in self._exact:
            return self._exact[m.group(1)]
        params = m.group(1).split("-")
        for pid, target in self._ids:
            n = pid.count("-") + 1
            if any("-".join(params[i:i + n]) == pid for i in range(len(params) - n + 1)):
                return target
        return None

    def _count(self, nodeids: Sequence[str]) -> None:
        self._last = time.monotonic()  # the first line comes one interval in: short runs stay quiet
        self.total = {t: 0 for t in self.targets}
        for nodeid in nodeids:
            target = self.target_of(nodeid)
            if target is not None:
                self.total[target] += 1

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._count([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        if not any(self.total.values()):
            self._count(ids)  # every worker collects the same items

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if (report.when != "call" and not (report.when == "setup" and report.outcome != "passed")) \
                or report.nodeid in self._seen:
            return
        target = self.target_of(report.nodeid)
        if target is None:
            return
        self._seen.add(report.nodeid)
        self.done[target] += 1
        if report.failed:
            self.failed[target] += 1
        now = time.monotonic()
        finished = self.done[target] == self.total.get(target)  # a finished target is always worth its line
        if self.enabled and (now - self._last >= self.interval or finished):
            self._last = now
            self.write(self.line())

    def line(self) -> str:
        parts = []
        for t in self.targets:
            total = self.total.get(t, 0)
            if not total:
                continue
            fail = f", {self.failed[t]} failed" if self.failed[t] else ""
            parts.append(f"{t} {self.done[t]}/{total} ({total - self.done[t]} left{fail})")
        return "mtlsgate: " + (" · ".join(parts) or "no checks")

    def write(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
            reporter.write("\n")  # pytest's progress dots are mid-line (under xdist too)
        reporter.write_line(line, cyan=True)


__all__ = ["LiveStatus"]
