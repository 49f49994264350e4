"""Validate a run's ``mtlsgate.json`` against the schema in docs/schema/ (a test helper).

``run_suite`` calls this after every run, so every report the self-tests produce is
checked; other tests can call :func:`validate_report` on reports they make themselves.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "schema" / "mtlsgate.schema.json"


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(report: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message[:300]}"
            for e in sorted(_validator().iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))]


def validate_report(report: dict[str, Any]) -> dict[str, Any]:
    errors = schema_errors(report)
    assert not errors, "mtlsgate.json does not match docs/schema/mtlsgate.schema.json:\n" + "\n".join(errors[:20])
    return report
