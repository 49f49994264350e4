"""Fleet audits: an inventory of targets, each with its own trust material, shards and their merge."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fleet import reference_fleet

from mtlsgate.errors import UsageError
from mtlsgate.pki.keys import KeyPool
from mtlsgate.targets import load_inventory, parse_shard, shard
from mtlsgate.targets.inventory import TargetSpec

ROOT = Path(__file__).resolve().parent.parent


def _inventory(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


GOOD = '[[target]]\nurl = "https://127.0.0.1:8443"\nname = "a"\n\n'


@pytest.mark.parametrize(("entry", "says"), [
    ('url = "https://127.0.0.1:9"\nserver_ca = "nope.pem"', "entry 2 (https://127.0.0.1:9): server_ca "),
    ('url = "ftp://x"', "entry 2 (ftp://x): url ftp://x: expected reference"),
    ('url = "https://127.0.0.1:9"\nclient_cert = "fleet.toml"', "entry 2 (https://127.0.0.1:9): client_cert and "
                                                                 "client_key go together"),
    ('url = "https://127.0.0.1:9"\ncolour = "blue"', "entry 2 (https://127.0.0.1:9): unknown key 'colour'"),
    ('name = "b"', "entry 2: url is missing"),
    ('url = "local:nginx"\nserver_ca = "fleet.toml"', "entry 2 (local:nginx): server_ca applies to https:// "
                                                      "targets only"),
    ('url = "https://127.0.0.1:8443"\nname = "a"', "entry 2 (https://127.0.0.1:8443): target 'a' is already entry 1"),
    ('url = "https://127.0.0.1:9"\nidentity_headers = { "X-DN" = "colour" }', "identity_headers.X-DN must be one of"),
    ('url = "https://127.0.0.1:9"\nprofile = "no-such-profile"', "entry 2 (https://127.0.0.1:9): "),
])
def test_a_bad_entry_is_one_line_naming_its_index(tmp_path: Path, entry: str, says: str) -> None:
    path = _inventory(tmp_path, GOOD + "[[target]]\n" + entry + "\n")
    with pytest.raises(UsageError) as err:
        load_inventory(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"--targets-file {path}: ")
    assert says in message


def test_paths_are_relative_to_the_inventory_and_names_default_to_the_url(tmp_path: Path, lab) -> None:
    (tmp_path / "pki").mkdir()
    ca = lab.client_root.write(tmp_path / "pki", "ca")
    path = _inventory(tmp_path, '[[target]]\nurl = "https://127.0.0.1:8443"\nclient_ca_cert = "pki/ca.crt"\n'
                                'client_ca_key = "pki/ca.key"\nidentity_headers = { "X-Client-DN" = "subject-dn" }\n'
                                '\n[[target]]\nurl = "reference"\nprofile = "reference"\n')
    first, second = load_inventory(path)
    assert first.name == first.url == "https://127.0.0.1:8443"
    assert first.options.client_ca_cert == tmp_path / "pki" / "ca.crt" == Path(ca.cert)
    assert first.identity_headers == (("X-Client-DN", "subject-dn"),)
    assert (second.name, second.profile, second.index) == ("reference", "reference", 2)


def test_shards_split_the_fleet_without_overlap_or_gaps() -> None:
    specs = [TargetSpec(name=f"t{n}", url=f"https://127.0.0.1:{9000 + n}") for n in range(10)]
    parts = [shard(specs, k, 3) for k in (1, 2, 3)]
    names = [s.name for part in parts for s in part]
    assert sorted(names) == sorted(s.name for s in specs) and len(names) == len(set(names))
    assert [len(p) for p in parts] == [4, 3, 3]
    assert shard(list(reversed(specs)), 2, 3) == parts[1]  # the file's order does not move a target
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0"):
        with pytest.raises(UsageError, match="--shard"):
            parse_shard(bad)


def _pytest(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_a_bad_inventory_exits_4_with_one_line_and_probes_nothing(tmp_path: Path) -> None:
    path = _inventory(tmp_path, GOOD + '[[target]]\nurl = "https://127.0.0.1:9"\nclient_key = "missing.key"\n')
    proc = _pytest("--targets-file", str(path), "--reports-dir", str(tmp_path / "reports"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("ERROR:")]
    assert errors == [f"ERROR: --targets-file {path}: entry 2 (https://127.0.0.1:9): client_key "
                      f"{tmp_path / 'missing.key'}: no such file"]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "reports").exists()


def test_targets_file_and_target_do_not_mix(tmp_path: Path) -> None:
    path = _inventory(tmp_path, GOOD)
    proc = _pytest("--targets-file", str(path), "--target", "reference")
    assert proc.returncode == 4
    assert "--targets-file and --target: give one or the other" in proc.stdout + proc.stderr


def test_a_fleet_with_one_broken_listener_reports_that_one_and_passes_the_rest(tmp_path: Path, run_suite) -> None:
    with reference_fleet(tmp_path, KeyPool(), [None, "accept-expired", None]) as entries:
        path = _inventory(tmp_path, "\n\n".join(entries) + "\n")
        run = run_suite("--targets-file", str(path), "-k", "not fuzz")
    assert run.exit_code == 1, run.output
    report = run.report
    assert [t["name"] for t in report["targets"]] == ["t0", "t1", "t2"]
    failing = {(c["target"], c["id"]) for c in report["checks"] if c["verdict"] == "fail"}
    assert failing == {("t1", "reject.expired"), ("t1", "reject.expired-intermediate")}
    for name in ("t0", "t2"):
        rows = [c for c in report["checks"] if c["target"] == name]
        assert rows and {c["verdict"] for c in rows} <= {"pass", "skip"}
        assert sum(c["verdict"] == "pass" for c in rows) > 50
    summary = (run.reports / "summary.md").read_text()
    targets = summary.split("## Targets", 1)[1].split("##", 1)[0].strip().splitlines()
    assert targets[0].startswith("- FAILED t1 (") and targets[0].endswith(": reject.expired, reject.expired-intermediate")
    assert [t.split()[2] for t in targets[1:]] == ["t0", "t2"] and all(" PASSED " in f" {t} " for t in targets[1:])
    assert "FAILED t1 (" in run.output
    assert json.loads((run.reports / "mtlsgate.json").read_text())["targets"][1]["endpoint"].startswith("127.0.0.1:")


def _merge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mtlsgate", "merge", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


def _rows(report: dict) -> list[tuple[str, str, str, str, str]]:
    return sorted((c["target"], c["id"], c["tls_version"], c["verdict"], c["observed"]) for c in report["checks"])


def test_three_shards_merged_equal_the_unsharded_run(tmp_path: Path, run_suite) -> None:
    with reference_fleet(tmp_path, KeyPool(), [None, "no-crl", None, None]) as entries:
        path = _inventory(tmp_path, "\n\n".join(entries) + "\n")
        whole = run_suite("--targets-file", str(path), "-k", "not fuzz")
        shards = [run_suite("--targets-file", str(path), "-k", "not fuzz", "--shard", f"{k}/3") for k in (1, 2, 3)]
        jobs = run_suite("--targets-file", str(path), "-k", "not fuzz", "--jobs", "3")
    assert whole.exit_code == 1 and [s.exit_code for s in shards].count(1) == 1, [s.output for s in shards]
    for k, part in enumerate(shards, start=1):
        assert part.report["shard"] == {"index": k, "count": 3, "targets": ["t0", "t1", "t2", "t3"]}
    assert sorted(len(s.report["targets"]) for s in shards) == [1, 1, 2]
    out = tmp_path / "merged"
    proc = _merge(str(out), *(str(s.reports / "mtlsgate.json") for s in shards))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # t1 (no CRL) fails: so does the merged run
    assert proc.stdout.startswith("mtlsgate merge: FAILED: 4 targets, ")
    from reportschema import validate_report

    merged = validate_report(json.loads((out / "mtlsgate.json").read_text()))
    assert _rows(merged) == _rows(whole.report)
    assert merged["counts"] == whole.report["counts"]
    assert [t["name"] for t in merged["targets"]] == ["t0", "t1", "t2", "t3"]
    assert {p.name for p in out.iterdir()} >= {"mtlsgate.json", "junit.xml", "summary.md", "index.html"}
    assert "- FAILED t1 (" in (out / "summary.md").read_text()
    # A shard given twice, or one left out: no merged report that claims the whole fleet.
    twice = _merge(str(tmp_path / "m2"), *(str(s.reports / "mtlsgate.json") for s in (shards[0], shards[0], shards[1])))
    assert twice.returncode == 2 and twice.stderr.count("\n") == 1
    assert "error: merge: target " in twice.stderr and " is in both " in twice.stderr
    missing = _merge(str(tmp_path / "m3"), *(str(s.reports / "mtlsgate.json") for s in shards[:2]))
    assert missing.returncode == 2 and missing.stderr == "error: merge: shard 3/3 is missing (1 of 3 missing); " \
                                                         "the merged report would not cover the fleet\n"
    assert not (tmp_path / "m2").exists() and not (tmp_path / "m3").exists()
    # --jobs 3: the same shards, run and merged by one command, into its own --reports-dir.
    assert jobs.exit_code == 1, jobs.output  # as the unsharded run
    assert "mtlsgate: 4 targets in 3 processes (--jobs)" in jobs.output
    assert [line.split(":")[0] for line in jobs.output.splitlines() if line.startswith("shard ")] == \
        ["shard 1/3", "shard 2/3", "shard 3/3"]
    assert "mtlsgate: FAILED: 4 targets, " in jobs.output and "FAILED t1 (" in jobs.output
    assert _rows(jobs.report) == _rows(whole.report) and jobs.report["counts"] == whole.report["counts"]
    assert {p.name for p in jobs.reports.iterdir()} == {"mtlsgate.json", "junit.xml", "summary.md", "index.html",
                                                         "shards", ".mtlsgate.lock"}
    for k in (1, 2, 3):  # each shard: its pytest output and its JSON report, the other reports written once
        assert {p.name for p in (jobs.reports / "shards" / str(k)).iterdir()} >= {"pytest.log", "mtlsgate.json"}
        assert not (jobs.reports / "shards" / str(k) / "index.html").exists()
    assert "- FAILED t1 (" in (jobs.reports / "summary.md").read_text()


@pytest.mark.parametrize("mutant", [None, "no-crl", "accept-expired", "trust-any-ca", "ignore-eku"])
def test_checks_run_ahead_in_parallel_give_the_sequential_verdicts(mutant: str | None, tmp_path: Path,
                                                                    pool: KeyPool) -> None:
    from gate_runs import run_suite_in_process

    from mtlsgate.targets import MUTANTS

    policy = MUTANTS[mutant] if mutant else None
    runs = {}
    for connections in (1, 4, 8):
        workdir = tmp_path / f"c{connections}"
        workdir.mkdir()
        records = run_suite_in_process("reference", workdir, pool, connections=connections, reference_policy=policy)
        runs[connections] = sorted((r["id"], r["tls_version"], r["verdict"], r["observed"]) for r in records)
    assert runs[1] == runs[4] == runs[8]
    assert any(v == "pass" for _, _, v, _ in runs[1])
    assert any(v == "fail" for _, _, v, _ in runs[1]) == (mutant is not None)


def test_a_dead_listener_in_a_fleet_is_reported_untestable_and_the_others_are_audited(tmp_path: Path,
                                                                                        run_suite) -> None:
    with socket.socket() as closed:  # a port nothing listens on (bound, never listening: refused)
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        with reference_fleet(tmp_path, KeyPool(), [None, None]) as entries:
            dead = entries[1].replace('name = "t1"', 'name = "dead"')
            dead = "\n".join(f'url = "https://127.0.0.1:{port}"' if line.startswith("url = ") else line
                             for line in dead.splitlines())
            path = _inventory(tmp_path, "\n\n".join([entries[0], dead]) + "\n")
            run = run_suite("--targets-file", str(path), "-k", "not fuzz", "--probe-retries", "0")
    assert run.exit_code == 69, run.output
    report = run.report
    dead_info = next(t for t in report["targets"] if t["name"] == "dead")
    assert "connection refused" in dead_info["untestable"]
    assert report["aborted"].startswith("1 of 2 targets could not be tested (the others were): ")
    rows = {c["target"]: [] for c in report["checks"]}
    for c in report["checks"]:
        rows[c["target"]].append(c)
    assert {c["observed"] for c in rows["dead"]} == {"not run", "not applicable"} and len(rows["dead"]) == len(rows["t0"])
    # rows that never run over their transport (a QUIC-only check over TCP) say so, as on the audited target
    never = {(c["id"], c["tls_version"]) for c in rows["dead"] if c["observed"] == "not applicable"}
    assert never <= {(c["id"], c["tls_version"]) for c in rows["t0"] if c["observed"] == "not applicable"}
    assert {c["verdict"] for c in rows["t0"]} <= {"pass", "skip"} and sum(c["verdict"] == "pass" for c in rows["t0"]) > 50
    summary = (run.reports / "summary.md").read_text()
    assert "- UNTESTABLE dead: " in summary and "- PASSED t0 (" in summary
    assert summary.index("UNTESTABLE dead") < summary.index("PASSED t0")
