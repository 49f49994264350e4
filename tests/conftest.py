"""Shared fixtures for mtlsgate's own tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from reportschema import validate_report

from mtlsgate.pki.keys import KeyPool
from mtlsgate.targets.base import LabPKI
from mtlsgate.targets.reference import run_reference
from mtlsgate.wire.probe import Endpoint, Prober

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pool() -> KeyPool:
    return KeyPool()


@pytest.fixture(scope="session")
def lab(pool: KeyPool) -> LabPKI:
    return LabPKI.create(pool)


@pytest.fixture(scope="module")
def reference(lab, tmp_path_factory):
    """The embedded reference target, started once per test module, and a prober that trusts its server CA."""
    work = tmp_path_factory.mktemp("ref")
    files = lab.write(work / "pki")
    with run_reference(lab, work) as ref:
        yield Endpoint(ref.host, ref.port), Prober(work, files.server_ca)


@dataclass
class SuiteRun:
    exit_code: int
    output: str
    reports: Path
    tmpdir: Path  # the run's TMPDIR: empty again once the run is over
    seconds: float = 0.0

    @property
    def report(self) -> dict[str, Any]:
        """The run's JSON report, validated against docs/schema/mtlsgate.schema.json."""
        return validate_report(json.loads((self.reports / "mtlsgate.json").read_text()))

    def verdicts(self, verdict: str) -> set[str]:
        return {c["id"] for c in self.report["checks"] if c["verdict"] == verdict}

    @property
    def failed(self) -> set[str]:
        return self.verdicts("fail")


@pytest.fixture
def run_suite(tmp_path: Path):
    """Run ``pytest suites/`` in a subprocess, as a user would, with its own reports dir."""

    def run(*args: str, timeout: float = 300, env: dict[str, str | None] | None = None) -> SuiteRun:
        """``env``: variables to set for this run (``None`` removes one, e.g. ``CI``)."""
        n = len(list(tmp_path.glob("suite-tmp*")))
        reports, tmpdir = tmp_path / f"reports{n}", tmp_path / f"suite-tmp{n}"
        tmpdir.mkdir()
        cmd = [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
               "--reports-dir", str(reports), *args]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        environ["TMPDIR"] = str(tmpdir)
        for name, value in (env or {}).items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        started = time.monotonic()
        proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env=environ)
        run = SuiteRun(proc.returncode, proc.stdout + proc.stderr, reports, tmpdir, time.monotonic() - started)
        if (reports / "mtlsgate.json").exists():  # every report a self-test produces must match the schema
            validate_report(json.loads((reports / "mtlsgate.json").read_text()))
        return run

    return run
