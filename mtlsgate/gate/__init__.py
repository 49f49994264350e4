"""One run: the targets' lifecycle, and checks run, judged and recorded against them.

``lifecycle`` opens, preflights and stops targets and trips the circuit breaker; ``runner``
runs one check and records it (``records``). The pytest plugin and ``mtlsgate replay`` drive it.

May import: every layer below (:mod:`mtlsgate.report` and down).
"""

from __future__ import annotations

from .lifecycle import DETECT_HOST, Targets, TargetState, VersionBaseline
from .records import MODE_CHECK, CheckRecord, certificate_summary, describe_check
from .runner import SERIAL_CHECKS, Gate

__all__ = [
    "MODE_CHECK",
    "CheckRecord",
    "certificate_summary",
    "describe_check",
    "Targets",
    "TargetState",
    "VersionBaseline",
    "DETECT_HOST",
    "SERIAL_CHECKS",
    "Gate",
]
