"""The report set of one run, written into one directory: JSON, JUnit XML, Markdown summary, HTML.

Reports are made from :class:`~mtlsgate.gate.CheckRecord` rows only; they carry outcomes,
certificate summaries and fingerprints, and never key material.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .html import build_html
from .jsonfile import build_json
from .junit import build_junit
from .status import RunInfo, write_atomic
from .summary import build_summary


def write_reports(directory: Path, records: list[dict[str, Any]], info: RunInfo) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "mtlsgate.json",
        "junit": directory / "junit.xml",
        "summary": directory / "summary.md",
        "html": directory / "index.html",
    }
    write_atomic(paths["json"], json.dumps(build_json(records, info), indent=2).encode())
    tree = build_junit(records, info)
    tmp = paths["junit"].with_suffix(".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, paths["junit"])
    write_atomic(paths["summary"], build_summary(records, info).encode())
    write_atomic(paths["html"], build_html(records, info).encode())
    return paths


__all__ = ["write_reports"]
