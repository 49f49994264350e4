"""The commands the README, docs/, UPLOAD.md, `mtlsgate serve` and the CI recipes print, run as written.

Issue 12: pytest fixed its rootdir from the arguments before the plugin's options existed, so
``pytest --server-ca /abs/file`` collected (and imported) ``tests/`` instead of the suites.
Each command here is taken from the document that shows it (the test fails when the document
changes), run in a subprocess from the checkout and from an empty directory, spaced
(``--opt VALUE``) and joined (``--opt=VALUE``), with and without the dev extras importable:
the same checks, the same verdicts, and only suites collected.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from reportschema import validate_report

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SERVE_START_S = 60.0


@dataclass(frozen=True)
class Served:
    url: str
    server_name: str
    directory: Path
    hint: list[str]  # the printed `pytest ...` command, split as a shell would


def _environment(tmp: Path, *, hide_extras: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("CI", None)
    path = [str(ROOT)]
    if hide_extras:  # jsonschema (a dev extra) that cannot be imported, as in a plain `pip install .`
        shadow = tmp / "no-dev-extras"
        (shadow / "jsonschema").mkdir(parents=True, exist_ok=True)
        (shadow / "jsonschema" / "__init__.py").write_text('raise ImportError("jsonschema is hidden by the test")\n')
        path.insert(0, str(shadow))
    env["PYTHONPATH"] = os.pathsep.join(path)
    bindir = tmp / "bin"  # `mtlsgate` and `pytest` as a user's shell finds them, bound to this checkout
    bindir.mkdir(exist_ok=True)
    for name, module in (("mtlsgate", "mtlsgate"), ("pytest", "pytest")):
        script = bindir / name
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m {module} "$@"\n')
        script.chmod(0o755)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    tmpdir = tmp / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmpdir)
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`mtlsgate serve --dir "<tmp>/lab dir"` (a path with a space), and the command it prints."""
    tmp = tmp_path_factory.mktemp("serve")
    directory = tmp / "lab dir"
    proc = subprocess.Popen([sys.executable, "-m", "mtlsgate", "serve", "--dir", str(directory)], cwd=tmp,
                            env=_environment(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        seen = b""  # read from the fd itself: a buffered reader would hide lines from select()
        deadline = time.monotonic() + SERVE_START_S
        while b"\n  pytest " not in seen or not seen.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            assert remaining > 0 and proc.poll() is None, f"mtlsgate serve did not print its command: {seen!r}"
            ready, _, _ = select.select([proc.stdout], [], [], remaining)
            if ready:
                seen += os.read(proc.stdout.fileno(), 65536)
        lines = seen.decode().splitlines(keepends=True)
        match = re.search(r"on (https://[^/]+)/ \(server name ([^)]+)\)", "".join(lines))
        assert match, lines
        hint = shlex.split(next(line for line in lines if line.lstrip().startswith("pytest ")))
        yield Served(match.group(1), match.group(2), directory, hint)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@dataclass(frozen=True)
class Ran:
    code: int
    output: str
    verdicts: dict[tuple[str, str], str]
    collected: list[str]  # junit classnames
    not_applicable: dict[tuple[str, str], str]  # rows observed "not applicable": their reason
    coverage: dict[str, object]


def run(argv: list[str], cwd: Path, tmp: Path, *, hide_extras: bool = False, extra_env: dict[str, str] | None = None,
        shell: bool = False) -> Ran:
    """One documented command in a subprocess; reads back its reports (``--reports-dir`` from the command)."""
    env = _environment(tmp, hide_extras=hide_extras) | (extra_env or {})
    proc = subprocess.run(argv if not shell else ["bash", "-c", argv[0]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    reports = next((cwd / Path(line.split(": ", 1)[1]).parent for line in output.splitlines()
                    if line.startswith("json: ")), None)
    verdicts: dict[tuple[str, str], str] = {}
    collected: list[str] = []
    not_applicable: dict[tuple[str, str], str] = {}
    coverage: dict[str, object] = {}
    if reports is not None:
        report = validate_report(json.loads((reports / "mtlsgate.json").read_text()))
        verdicts = {(c["id"], c["tls_version"]): c["verdict"] for c in report["checks"]}
        not_applicable = {(c["id"], c["tls_version"]): c["reason"] for c in report["checks"]
                          if c["observed"] == "not applicable"}
        coverage = report["coverage"]
        collected = [tc.get("classname", "") for tc in ET.parse(reports / "junit.xml").iter("testcase")]
    return Ran(proc.returncode, output, verdicts, collected, not_applicable, coverage)


# Every documented command here runs against a target without HTTP/3 (the reference target of
# `mtlsgate serve`, local nginx): 36 checks over TLS 1.2 and 1.3 (the 72 rows that count), and
# the QUIC column (38 rows) plus the two QUIC-only checks over TCP (4 rows) as not-applicable skips.
TCP_ROWS = 72
QUIC_ONLY = ("bypass.h3-parity", "bypass.h3-sni-case")
ITEMS = 114


def assert_suite_only(ran: Ran) -> None:
    assert ran.code == 0, ran.output[-3000:]
    assert len(ran.verdicts) == ITEMS, ran.output[-3000:]
    # pytest's own count: the suites' items and nothing from tests/ (whose conftest needs jsonschema)
    assert re.search(rf"collected {ITEMS} items", ran.output), ran.output[:2000]
    assert len(ran.collected) == ITEMS
    assert "tests/" not in ran.output and "conftest" not in ran.output
    # Hypothesis counted out of its start-up even when the right ini's `-p no:hypothesispytest` came late (cmdline.py)
    assert "HypothesisSideeffectWarning" not in ran.output, ran.output[-3000:]
    # Not applicable is exactly the QUIC column, the QUIC-only checks over TCP and, on a target that serves
    # HTTP/1.1 only (the reference), bypass.h2-coalescing over TCP, each a skip that says why; every other
    # row is one of the 72 that count (never hidden as not applicable).
    no_h2 = {k for k in ran.not_applicable if k[0] == "bypass.h2-coalescing" and k[1] != "quic"}
    assert len(no_h2) in (0, 2) and all("does not offer HTTP/2" in ran.not_applicable[k] for k in no_h2)
    expected_na = {k for k in ran.verdicts if k[1] == "quic" or k[0] in QUIC_ONLY} | no_h2
    assert set(ran.not_applicable) == expected_na, sorted(set(ran.not_applicable) ^ expected_na)
    assert {ran.verdicts[k] for k in expected_na} == {"skip"}
    assert all("HTTP/3" in ran.not_applicable[k] for k in expected_na if k[1] == "quic"), ran.not_applicable
    assert len(ran.verdicts) - len(expected_na) == TCP_ROWS - len(no_h2)
    assert ran.coverage["total"] == TCP_ROWS - len(no_h2), ran.coverage
    assert ran.coverage["not_applicable"] == ITEMS - TCP_ROWS + len(no_h2), ran.coverage


def joined(argv: list[str]) -> list[str]:
    """``--opt VALUE`` -> ``--opt=VALUE`` for every option that takes a value."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i].startswith("--") and "=" not in argv[i] and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def test_spaced_path_option_leaves_hypothesis_no_start_up_warning(tmp_path: Path) -> None:
    """``--reports-dir DIR`` (an existing DIR) moved pytest's rootdir until the plugin rerooted it; by then
    Hypothesis' own plugin was imported (counting Hypothesis into its start-up), and the right ini's
    ``-p no:hypothesispytest`` unregistered the hook that counts it out: every strategy the fuzz check drew
    warned ``HypothesisSideeffectWarning ... during pytest plugin or conftest initialization``."""
    reports = tmp_path / "existing reports"
    reports.mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "--target", "reference", "--reports-dir", str(reports),
                           "-k", "fuzz"], cwd=ROOT, env=_environment(tmp_path), capture_output=True, text=True,
                          timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "collected 114 items" in output, output[-3000:]
    report = validate_report(json.loads((reports / "mtlsgate.json").read_text()))
    fuzz = {c["tls_version"]: c["verdict"] for c in report["checks"] if c["id"] == "fuzz.oracle-agreement"}
    assert fuzz == {"1.2": "pass", "1.3": "pass", "quic": "skip"}, fuzz  # the strategies were drawn
    assert "HypothesisSideeffectWarning" not in output and "conftest" not in output, output[-3000:]


def test_serve_hint_runs_verbatim_from_the_checkout_spaced_and_joined(served: Served, tmp_path: Path) -> None:
    assert served.hint[0] == "pytest" and "--server-ca" in served.hint and " " in str(served.directory)
    spaced = run([*served.hint, "--reports-dir", str(tmp_path / "spaced reports")], ROOT, tmp_path)
    assert_suite_only(spaced)
    assert set(spaced.verdicts.values()) <= {"pass", "skip"}
    same = run([*joined(served.hint), f"--reports-dir={tmp_path / 'joined'}"], ROOT, tmp_path)
    assert_suite_only(same)
    assert same.verdicts == spaced.verdicts


def test_serve_hint_without_dev_extras_or_xdist(served: Served, tmp_path: Path) -> None:
    """jsonschema not importable and xdist not loaded: tests/conftest.py would fail to import if it were touched."""
    reference = run([*served.hint, "--reports-dir", str(tmp_path / "r0")], ROOT, tmp_path)
    bare = run([*served.hint, "-p", "no:xdist", "--reports-dir", str(tmp_path / "r1")], ROOT, tmp_path,
               hide_extras=True)
    assert_suite_only(bare)
    assert bare.verdicts == reference.verdicts
    # `-n 2` without xdist: pytest's own one-line usage error, not an ImportError from tests/.
    no_xdist = run([*served.hint, "-p", "no:xdist", "-n", "2"], ROOT, tmp_path, hide_extras=True)
    assert no_xdist.code == 4, no_xdist.output
    assert "unrecognized arguments: -n" in no_xdist.output and "ImportError" not in no_xdist.output


def test_serve_hint_from_an_empty_directory_with_mtlsgate_test(served: Served, tmp_path: Path) -> None:
    empty = tmp_path / "empty dir"
    empty.mkdir()
    checkout = run([*served.hint, "--reports-dir", str(tmp_path / "r0")], ROOT, tmp_path)
    for argv in (["mtlsgate", "test", *served.hint[1:]], ["mtlsgate", "test", *joined(served.hint[1:])]):
        ran = run([*argv, "--reports-dir", "reports"], empty, tmp_path, hide_extras=True)
        assert_suite_only(ran)
        assert ran.verdicts == checkout.verdicts
        assert (empty / "reports" / "mtlsgate.json").is_file()
        shutil.rmtree(empty / "reports")
    assert sorted(p.name for p in empty.iterdir() if p.name not in (".hypothesis", ".benchmarks")) == []


def test_readme_tour_command_with_the_lab_files(served: Served, tmp_path: Path) -> None:
    """The README's step 2 with the files `mtlsgate serve --dir lab` wrote, from that directory."""
    command = ("pytest --target https://lb.example.com \\\n       --server-ca server-ca.crt \\\n"
               "       --client-ca-cert client-ca.crt --client-ca-key client-ca.key")
    assert command in README
    assert "`mtlsgate serve --dir lab` writes exactly these files" in README
    argv = shlex.split(command.replace("\\\n", " ").replace("https://lb.example.com", served.url))  # as sh reads it
    argv = ["mtlsgate", "test", *argv[1:], "--server-name", served.server_name,
            "--reports-dir", str(tmp_path / "tour")]
    ran = run(argv, served.directory, tmp_path)
    assert_suite_only(ran)
    # Without --client-cert and the revoked identity, only their checks may skip; nothing fails.
    assert "fail" not in ran.verdicts.values()


def test_kit_upload_md_and_pytest_kit_spaced(tmp_path: Path) -> None:
    kit = tmp_path / "my kit"
    made = subprocess.run([sys.executable, "-m", "mtlsgate", "kit", str(kit)], cwd=tmp_path, stdin=subprocess.DEVNULL,
                          env=_environment(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    upload = (kit / "UPLOAD.md").read_text()
    assert "{this directory}" not in upload and "client/client.p12.password" in upload
    linted = subprocess.run([sys.executable, "-m", "mtlsgate", "lint", str(kit / "client" / "client.p12")], cwd=tmp_path,
                            env=_environment(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert linted.returncode == 2 and "client.p12.password" in linted.stderr, linted.stderr  # says where it is
    line = next(line for line in upload.splitlines() if line.startswith("mtlsgate test --kit "))
    argv = shlex.split(line)
    assert argv[3] == str(kit)
    # UPLOAD.md's command, pointed at the local nginx the suite provisions with this kit.
    at = argv.index("--target")
    argv = [*argv[:at], "--target", "local:nginx"]
    empty = tmp_path / "empty"
    empty.mkdir()
    from_upload = run([*argv, "--reports-dir", str(tmp_path / "u")], empty, tmp_path)
    if "not installed" in from_upload.output or "skipping local:nginx" in from_upload.output:
        pytest.skip("nginx is not installed")
    assert_suite_only(from_upload)
    spaced = run(["pytest", "--kit", str(kit), "--target", "local:nginx", "--reports-dir", str(tmp_path / "s")],
                 ROOT, tmp_path, hide_extras=True)
    assert_suite_only(spaced)
    joined_form = run(["pytest", f"--kit={kit}", "--target=local:nginx", f"--reports-dir={tmp_path / 'j'}"], ROOT,
                      tmp_path)
    assert_suite_only(joined_form)
    assert from_upload.verdicts == spaced.verdicts == joined_form.verdicts


def _recipe_command(path: Path) -> str:
    """The `mtlsgate test ...` step of a CI recipe, as the CI shell runs it."""
    text = path.read_text()
    if path.name == "github-actions.yml":
        block = re.search(r"\n( +)mtlsgate test \\\n(?:\1 .*\\\n)*\1 .*\n", text)
        assert block, "no `mtlsgate test` step in the GitHub recipe"
        return block.group(0)
    block = re.search(r"- >\n((?: {6}.*\n)+)", text[text.index("mtlsgate test") - 40:])
    assert block and "mtlsgate test" in block.group(1)
    return " ".join(line.strip() for line in block.group(1).splitlines())  # YAML's folded scalar


@pytest.mark.parametrize("recipe", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_recipe_runs_in_a_user_repository(recipe: str, served: Served, tmp_path: Path) -> None:
    """The recipe's step in a directory laid out as the recipe expects (ci/ in the user's repo)."""
    repo = tmp_path / "user repo"
    (repo / "ci").mkdir(parents=True)
    shutil.copy(served.directory / "server-ca.crt", repo / "ci" / "server-ca.pem")
    shutil.copy(served.directory / "client-ca.crt", repo / "ci" / "client-ca.pem")
    (repo / "ci" / "mtls-waivers.toml").write_text("# no waivers yet\n")
    runner_temp = tmp_path / "runner temp"
    runner_temp.mkdir()
    shutil.copy(served.directory / "client-ca.key", runner_temp / "client-ca.key")
    baseline = run([*served.hint, "--reports-dir", str(tmp_path / "baseline")], ROOT, tmp_path)
    shutil.copy(tmp_path / "baseline" / "mtlsgate.json", repo / "ci" / "mtlsgate-baseline.json")
    command = _recipe_command(ROOT / "docs" / "ci" / recipe)
    assert '"https://lb.staging.example.com"' in command
    command = command.replace('"https://lb.staging.example.com"',
                              f'"{served.url}" --server-name {served.server_name}')
    env = {"CI": "true", "RUNNER_TEMP": str(runner_temp), "CLIENT_CA_KEY_FILE": str(runner_temp / "client-ca.key")}
    ran = run([command], repo, tmp_path, shell=True, extra_env=env, hide_extras=True)
    assert_suite_only(ran)
    assert (repo / "reports" / "summary.md").is_file() and (repo / "reports" / "junit.xml").is_file()
    # Without --client-cert/--revoked-*, the checks needing them skip; everything else as the full run.
    assert {k: v for k, v in ran.verdicts.items() if v != "skip"} == \
        {k: v for k, v in baseline.verdicts.items() if k in ran.verdicts and ran.verdicts[k] != "skip"}


def test_installed_wheel_runs_the_suite_from_an_empty_directory(tmp_path: Path) -> None:
    """`pip install <wheel>`, then in an empty directory: `pytest --pyargs mtlsgate.suites` and `mtlsgate test`."""
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env["TMPDIR"] = str(tmp_path)
    for cmd in ([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                 str(ROOT)],
                [sys.executable, "-m", "venv", "--system-site-packages", str(venv)]):
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    wheel = next(wheels.glob("mtlsgate-*.whl"))
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    verdicts = []
    python = str(venv / "bin" / "python")  # the venv's pytest (system-site pytest has no script in the venv)
    for argv in ([python, "-m", "pytest", "--pyargs", "mtlsgate.suites", "--target=local:nginx", "--reports-dir", "r1"],
                 ["mtlsgate", "test", "--target", "local:nginx", "--reports-dir", "r2"]):
        done = subprocess.run(argv, cwd=empty, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        report = json.loads((empty / argv[-1] / "mtlsgate.json").read_text())
        ran = [c for c in report["checks"] if c["verdict"] not in ("skip", "unsupported")]
        assert len(ran) >= 70 and not [c for c in report["checks"] if c["verdict"] == "fail"]
        verdicts.append({(c["id"], c["tls_version"]): c["verdict"] for c in report["checks"]})
    assert verdicts[0] == verdicts[1]
    # h2 is a normal dependency: the HTTP/2 bypass check runs against nginx instead of skipping
    assert {verdicts[0][("bypass.h2-coalescing", v)] for v in ("1.2", "1.3")} == {"pass"}
    import zipfile

    with zipfile.ZipFile(wheel) as whl:
        metadata = next(whl.read(n).decode() for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any(r.startswith("h2") and "extra ==" not in r for r in requires), requires
    assert any(r.startswith("pytest-xdist") and "extra ==" not in r for r in requires), requires
    # the run used the installed copy (not this checkout): its suites live in the venv
    shown = subprocess.run([str(venv / "bin" / "python"), "-c", "import mtlsgate.suites as s; print(s.__file__)"],
                           cwd=empty, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert shown.stdout.startswith(str(venv))
