"""The report set of one run, written into one directory: JSON, JUnit XML, Markdown summary, HTML.

Reports are made from :class:`~mtlsgate.gate.CheckRecord` rows only; they carry outcomes,
certificate summaries and fingerprints, and never key material.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .html import build_html
from .jsonfile import build_json
from .junit import build_junit
from .status import RunInfo, write_atomic
from .summary import build_summary

#: Every report a run writes, by the name ``--report-formats`` gives it.
REPORT_FORMATS = ("json", "junit", "summary", "html")


def write_reports(directory: Path, records: list[dict[str, Any]], info: RunInfo,
                  formats: tuple[str, ...] = REPORT_FORMATS) -> dict[str, Path]:
    """Write the run's reports; ``formats`` (a subset of :data:`REPORT_FORMATS`) leaves the others out.

    A ``--jobs`` shard writes only its JSON: the merged run writes the rest once.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: path for name, path in (
        ("json", directory / "mtlsgate.json"),
        ("junit", directory / "junit.xml"),
        ("summary", directory / "summary.md"),
        ("html", directory / "index.html"),
    ) if name in formats}
    if "json" in paths:
        write_atomic(paths["json"], _json_text(build_json(records, info)).encode())
    if "junit" in paths:
        tree = build_junit(records, info)
        tmp = paths["junit"].with_suffix(".tmp")
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, paths["junit"])
    if "summary" in paths:
        write_atomic(paths["summary"], build_summary(records, info).encode())
    if "html" in paths:
        write_atomic(paths["html"], build_html(records, info).encode())
    return paths


def _json_text(document: dict[str, Any]) -> str:
    """The report indented for people, each check on one line of its own.

    ``indent=2`` makes :mod:`json` use its pure-Python encoder: a fleet's 20 MB of evidence
    took seconds. Rows as single lines go through the C encoder and still diff and grep row by row.
    """
    checks = document.get("checks")
    if not checks:
        return json.dumps(document, indent=2)
    empty = '\n  "checks": []'  # the top level's key: nested keys are indented deeper
    head = json.dumps({**document, "checks": []}, indent=2)
    at = head.index(empty)
    rows = ",\n".join("    " + json.dumps(row) for row in checks)
    return f'{head[:at]}\n  "checks": [\n{rows}\n  ]{head[at + len(empty):]}'


class ReportsLock:
    """One run at a time per reports directory: a second run stops before probing instead of interleaving.

    Two runs writing into the same ``reports/`` used to overwrite each other file by file, so
    the last writer's headline could sit next to the other run's checks. The lock is an
    ``flock`` on ``DIR/.mtlsgate.lock`` (released by the kernel if the process dies), held
    from before the first probe until the reports are written.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / ".mtlsgate.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"--reports-dir {self.directory}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(f"--reports-dir {self.directory}: another mtlsgate run (pid {holder}) is writing its "
                             f"reports there; wait for it or give this run its own --reports-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def clear_stale_reproducers(directory: Path) -> list[str]:
    """Remove ``DIR/repro/`` left by an earlier run: every reproducer there after this run is this run's."""
    repro = directory / "repro"
    if not repro.is_dir():
        return []
    names = sorted(p.name for p in repro.iterdir())
    shutil.rmtree(repro, ignore_errors=True)
    return names


__all__ = ["REPORT_FORMATS", "ReportsLock", "clear_stale_reproducers", "write_reports"]
