"""What a run leaves for CI and people: JSON, JUnit XML, Markdown summary, HTML, waivers, baselines.

``status`` is what every format agrees on (the tally, the headline); ``jsonfile``, ``junit``,
``summary`` and ``html`` each write one format and ``files`` writes the set; ``waivers`` and
``baseline`` review a run against accepted failures and an earlier run; ``progress`` is the
live status line; ``logtail`` cuts a local LB's log for a failed check.

May import: :mod:`mtlsgate.targets` and everything below it.
"""

from __future__ import annotations

from .baseline import BAD, GOOD, Change, Comparison, Key, compare, load_report
from .files import REPORT_FORMATS, ReportsLock, clear_stale_reproducers, write_reports
from .html import build_html
from .jsonfile import SCHEMA_VERSION, build_json
from .junit import build_junit
from .logtail import MAX_BYTES, MAX_LINES, excerpt, log_size, scrub
from .merge import load_shards, merge_reports
from .progress import LiveStatus
from .status import (
    DECISIVE,
    NOT_APPLICABLE,
    VERDICT_ORDER,
    RunInfo,
    counts,
    coverage,
    coverage_line,
    run_status,
    write_atomic,
)
from .summary import build_summary, target_lines
from .waivers import Waiver, today
from .waivers import find as find_waiver
from .waivers import load as load_waivers
from .waivers import review as review_waivers

__all__ = [
    "DECISIVE",
    "NOT_APPLICABLE",
    "VERDICT_ORDER",
    "RunInfo",
    "counts",
    "coverage",
    "coverage_line",
    "run_status",
    "write_atomic",
    "MAX_BYTES",
    "MAX_LINES",
    "log_size",
    "scrub",
    "excerpt",
    "SCHEMA_VERSION",
    "build_json",
    "build_junit",
    "build_summary",
    "target_lines",
    "build_html",
    "ReportsLock",
    "clear_stale_reproducers",
    "write_reports",
    "REPORT_FORMATS",
    "Waiver",
    "today",
    "load_waivers",
    "find_waiver",
    "review_waivers",
    "GOOD",
    "BAD",
    "Key",
    "Change",
    "Comparison",
    "load_report",
    "compare",
    "LiveStatus",
    "load_shards",
    "merge_reports",
]
