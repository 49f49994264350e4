"""``mtlsgate replay DIR --target ...``: present a fuzz reproducer again and re-judge it.

The oracle judges the chain afresh (at replay time, against the target's client CA, or
the reproducer's ``ca.pem`` when the target's CA is not given), and the target is probed
as the fuzz run probed it. Exit 0: the target now agrees with the oracle; 1: it still
disagrees; 2: usage error; 69: the target cannot be tested.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import UNTESTABLE_TARGET, UntestableTarget, UsageError
from .fuzz import AGREE, Oracle, classify
from .gate import Gate
from .judge import load_profile, observe
from .pki import KeyPool, load_certificates, load_credential
from .targets import MUTANTS, TargetOptions, TargetUnavailable, validate_spec
from .wire import TLS_VERSIONS, TRANSPORTS, describe

Runner = Callable[[argparse.Namespace], int]


def setup(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("dir", metavar="DIR", help="a reproducer directory (reports/repro/<id>)")
    parser.add_argument("--target", default="reference", help="reference, local:<lb>[:variant] or an https:// URL")
    parser.add_argument("--server-name", default=None)
    parser.add_argument("--server-ca", type=Path, default=None)
    parser.add_argument("--client-ca-cert", type=Path, default=None)
    parser.add_argument("--client-ca-key", type=Path, default=None)
    parser.add_argument("--client-cert", type=Path, default=None)
    parser.add_argument("--client-key", type=Path, default=None)
    parser.add_argument("--profile", default=None, help="expectation profile (default, or auto: the target's own or its recognised product's)")
    parser.add_argument("--tls-version", action="append", choices=TRANSPORTS, default=None,
                        help="TLS version(s) (default: the reproducer's)")
    parser.add_argument("--reference-mutant", default=None, choices=sorted(MUTANTS))
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    return run


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    chain_pem, key_pem = directory / "chain.pem", directory / "key.pem"
    if not directory.is_dir() or not chain_pem.is_file() or not key_pem.is_file():
        raise UsageError(f"{directory}: not a reproducer directory (needs chain.pem and key.pem)")
    if not 0 < args.probe_timeout <= 120:
        raise UsageError("--probe-timeout must be between 0 and 120 seconds")
    credential = load_credential(chain_pem, key_pem, "reproducer")
    recorded = _recorded(directory)
    if args.tls_version:
        versions = tuple(sorted(set(args.tls_version)))
    elif recorded.get("tls_version") in TRANSPORTS:
        versions = (recorded["tls_version"],)
    else:
        versions = TLS_VERSIONS
    spec = validate_spec(args.target)
    options = TargetOptions(server_name=args.server_name, server_ca=args.server_ca,
                            client_ca_cert=args.client_ca_cert, client_ca_key=args.client_ca_key,
                            client_cert=args.client_cert, client_key=args.client_key)
    workdir = Path(tempfile.mkdtemp(prefix="mtlsgate-replay-"))
    named = args.profile if args.profile and args.profile != "auto" else None  # auto: recognise the product again
    gate = Gate(target_specs=[spec], options=options, profile=load_profile(named) if named else None,
                workdir=workdir, pool=KeyPool(), tls_versions=versions, probe_timeout=args.probe_timeout,
                reference_policy=MUTANTS[args.reference_mutant] if args.reference_mutant else None)
    try:
        try:
            state = gate.start(spec)
        except (UntestableTarget, TargetUnavailable) as exc:
            print(f"error: {exc}")
            return UNTESTABLE_TARGET
        anchors = ((state.target.client_ca.cert,) if state.target.client_ca is not None
                   else tuple(load_certificates(directory / "ca.pem", "reproducer CA")) if (directory / "ca.pem").is_file()
                   else ())
        if not anchors:
            raise UsageError("the oracle needs the client CA: give --client-ca-cert, or keep ca.pem in the reproducer")
        oracle = Oracle(anchors, max_intermediates=state.profile.max_intermediates)
        disagree = False
        for version in versions:
            baseline = state.baselines[version]
            if baseline.unsupported:
                print(f"TLS {version}: not tested: {baseline.unsupported}")
                continue
            outcome = state.prober.probe(state.target.endpoint, credential, gate.transport(state, version))
            verdict = oracle.judge(credential.cert, credential.chain)
            kind = classify(verdict, observe(outcome, baseline.valid))
            disagree |= kind != AGREE
            was = f" (recorded: {recorded['kind']})" if recorded.get("kind") else ""
            print(f"TLS {version}: {kind}{was}: oracle {verdict.summary()}; target {describe(outcome)}")
        return 1 if disagree else 0
    finally:
        gate.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _recorded(directory: Path) -> dict[str, str]:
    path = directory / "outcome.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UsageError(f"{path}: not valid JSON") from None
    return data if isinstance(data, dict) else {}


__all__ = ["setup", "run"]
