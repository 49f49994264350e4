"""A bounded, scrubbed excerpt of a local LB's log: the evidence a failed check points at.

Only what the LB wrote while the check ran is wanted (the offset taken before the probe),
capped in bytes and lines so a chatty LB cannot bloat the report, and with anything that
looks like key material removed: reports must never carry private keys.
"""

from __future__ import annotations

import re
from pathlib import Path

MAX_BYTES = 4096
MAX_LINES = 20
_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL)
_KEY_LINE = re.compile(r"PRIVATE KEY|BEGIN (RSA|EC|ENCRYPTED) ")


def log_size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def scrub(text: str) -> str:
    text = _PEM_KEY.sub("[private key removed]", text)
    return "\n".join("[line removed: key material]" if _KEY_LINE.search(line) else line
                     for line in text.splitlines())


def excerpt(path: Path | None, offset: int = 0) -> str | None:
    """The last ``MAX_LINES`` lines written after ``offset``; else the log's own last lines, labelled."""
    if path is None:
        return None
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            label = ""
            if size <= offset:  # nothing written during the check: the log's tail still helps
                offset, label = 0, "(nothing logged during this check; the log's last lines)\n"
            f.seek(max(offset, size - MAX_BYTES))
            data = f.read(MAX_BYTES)
    except OSError:
        return None
    lines = data.decode("utf-8", errors="replace").splitlines()[-MAX_LINES:]
    if not lines:
        return None
    return label + scrub("\n".join(lines))


__all__ = ["MAX_BYTES", "MAX_LINES", "log_size", "scrub", "excerpt"]
