"""The ``mtlsgate`` command: small tools around the suite (the suite itself runs under pytest).

Exit codes: 0 fine, 1 findings (or a failed probe), 2 usage error or unreadable input.
Subcommands live in their own modules; each registers its arguments and a ``run``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import CLI_USAGE_ERROR, UsageError

Runner = Callable[[argparse.Namespace], int]


def _echo_backend(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--listen", default="127.0.0.1:9000", help="HOST:PORT to listen on (default 127.0.0.1:9000)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")

    def run(args: argparse.Namespace) -> int:
        from .wire import serve_forever

        host, port = parse_listen(args.listen)
        print(f"mtlsgate echo backend on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
        try:
            serve_forever(host, port, verbose=not args.quiet)
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            raise UsageError(f"--listen {args.listen}: {exc.strerror or exc}") from None
        return 0

    return run


def _serve(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--dir", required=True, help="where to write the lab PKI (server CA, client CA and key, ...)")
    parser.add_argument("--mutant", default=None, help="run with one deliberate mistake (see --help of pytest)")

    def run(args: argparse.Namespace) -> int:
        import threading
        from pathlib import Path

        from .pki import KeyPool, key_pem, write_private
        from .targets import MUTANTS, LabPKI, ReferencePolicy, run_reference

        if args.mutant and args.mutant not in MUTANTS:
            raise UsageError(f"--mutant {args.mutant}: expected one of {', '.join(sorted(MUTANTS))}")
        directory = Path(args.dir)
        pki = LabPKI.create(KeyPool())
        files = pki.write(directory)
        server_ca_key = directory / "server-ca.key"  # reject.server-ca-issued runs against this target too
        write_private(server_ca_key, key_pem(pki.server_ca_credential.key))
        identity = pki.identity.write(directory, "client")
        ca = pki.client_root.write(directory, "client-root-ca")
        # client-ca.crt is the bundle the target trusts (root + intermediate); client-ca.key is
        # the root's key beside it, so the README's example names are the lab's file names.
        ca_key = directory / "client-ca.key"
        write_private(ca_key, ca.key.read_bytes())
        revoked = pki.revoked.write(directory, "revoked")
        policy = MUTANTS[args.mutant] if args.mutant else ReferencePolicy()
        with run_reference(pki, directory, policy) as ref:
            print(f"reference target on https://{ref.host}:{ref.port}/ (server name {ref.server_name})")
            print("test it with:")
            # --client-ca-cert: the bundle the target trusts (root + intermediate), so trust.ca-names
            # compares against what is really configured; the key picks the root out of it to mint.
            q = shlex.quote
            print(f"  pytest --target https://{ref.host}:{ref.port} --server-name {ref.server_name} "
                  f"--server-ca {q(str(files.server_ca))} --server-ca-key {q(str(server_ca_key))} "
                  f"--client-ca-cert {q(str(files.client_ca))} "
                  f"--client-ca-key {q(str(ca_key))} "
                  f"--client-cert {q(str(identity.cert))} --client-key {q(str(identity.key))} "
                  f"--revoked-cert {q(str(revoked.cert))} --revoked-key {q(str(revoked.key))}", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        return 0

    return run


def _probe(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("url", help="https://HOST[:PORT][/path]")
    parser.add_argument("--server-name", help="SNI and Host (default: the URL's host)")
    parser.add_argument("--server-ca", help="PEM file that verifies the server certificate (default: system store)")
    parser.add_argument("--cert", help="client certificate (leaf first, then chain); omit to present none")
    parser.add_argument("--key", help="its private key")
    parser.add_argument("--tls-version", choices=("1.2", "1.3", "quic"), default="1.3",
                        help="1.2, 1.3 (default) or quic (HTTP/3 over UDP on the same port)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds for each step (default 5)")

    def run(args: argparse.Namespace) -> int:
        import tempfile
        from pathlib import Path

        from .pki import load_credential
        from .targets import parse_url
        from .wire import Prober, Transport, Unreachable, describe

        endpoint = parse_url(args.url, flag="probe")
        if bool(args.cert) != bool(args.key):
            raise UsageError("--cert and --key go together")
        if args.server_ca and not Path(args.server_ca).is_file():
            raise UsageError(f"--server-ca {args.server_ca}: no such file")
        if not 0 < args.timeout <= 120:
            raise UsageError("--timeout must be between 0 and 120 seconds")
        credential = load_credential(Path(args.cert), Path(args.key), "client") if args.cert else None
        path = "/" + args.url.split("://", 1)[1].partition("/")[2]
        with tempfile.TemporaryDirectory(prefix="mtlsgate-probe-") as tmp:
            prober = Prober(Path(tmp), Path(args.server_ca) if args.server_ca else None)
            outcome = prober.probe(endpoint, credential, Transport(
                tls_version=args.tls_version, server_name=args.server_name or endpoint.host, path=path,
                timeout=args.timeout))
        print(describe(outcome))
        if outcome.evidence.detail:
            print(f"  detail: {outcome.evidence.detail}")
        return 1 if isinstance(outcome, Unreachable) else 0

    return run


def _kit(parser: argparse.ArgumentParser) -> Runner:
    from .kit import KIT_PROFILES as PROFILES
    from .kit import MODERN_KEYS
    from .targets import LBS

    parser.add_argument("dir", metavar="DIR", help="where to write the kit (empty or new); with --emit-config, the kit")
    parser.add_argument("--profile", default="modern", choices=PROFILES,
                        help="modern (default): today's certificates; seed: the guide's recipe, reproduced exactly")
    parser.add_argument("--cn", default="www.test.com", help="the server's host name or IP (default www.test.com)")
    parser.add_argument("--san", action="append", default=[], metavar="NAME",
                        help="another name for the server certificate (dns:NAME, ip:ADDR, or bare); repeatable (modern)")
    parser.add_argument("--key", default=None, choices=MODERN_KEYS, help="key type (modern; default p256)")
    parser.add_argument("--p12-password", default=None, metavar="PW",
                        help="client.p12 password (visible to other users in ps; prefer MTLSGATE_P12_PASSWORD or the prompt)")
    parser.add_argument("--emit-config", default=None, choices=LBS, metavar="LB",
                        help=f"write the listener configuration for the kit in DIR ({', '.join(LBS)})")
    parser.add_argument("--listen", default="127.0.0.1:8443", help="with --emit-config: HOST:PORT of the listener")
    parser.add_argument("--backend", default="127.0.0.1:9000", help="with --emit-config: HOST:PORT to forward to")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        if args.emit_config:
            from .targets import emit_config

            emitted = emit_config(args.emit_config, Path(args.dir), listen=parse_listen(args.listen),
                                  backend=parse_listen(args.backend))
            for path in emitted.files:
                print(f"wrote {path}")
            print(f"start it with: {emitted.start}")
            return 0
        from .kit import KitOptions, make_kit, p12_password

        if args.profile == "seed" and (args.key or args.san):
            raise UsageError("--key and --san apply to the modern profile; the seed recipe is RSA-2048 with a CN only")
        password, saved = p12_password(args.p12_password, Path(args.dir))
        result = make_kit(Path(args.dir), KitOptions(profile=args.profile, cn=args.cn, sans=tuple(args.san),
                                                     key=args.key or "p256", p12_password=password,
                                                     password_generated=saved is not None))
        if saved is not None:
            saved()
        m = _ship_suite_crls(result.directory, result.manifest)
        print(f"{m.profile} kit for {m.server_name} in {result.directory}: kit.json, UPLOAD.md")
        for role, rel in m.files.items():
            print(f"  {role:14} {rel}")
        if result.warnings:
            print("warning: the seed recipe makes certificates that are dated:", file=sys.stderr)
            for line in result.warnings:
                print(f"  - {line}", file=sys.stderr)
            print("  `mtlsgate lint` explains each; the modern profile (the default) avoids them.", file=sys.stderr)
        return 0

    return run


def _ship_suite_crls(directory: object, manifest: object) -> object:
    """Add the ``mtlsgate crls`` bundle to a new kit (kit/ may not know what the suite mints).

    Written only when the kit's client CA may issue intermediates (not under pathLen 0).
    """
    from pathlib import Path

    from .kit import Manifest, load_kit, upload_guide, write_manifest
    from .pki import KeyPool
    from .targets import suite_crls

    assert isinstance(directory, Path) and isinstance(manifest, Manifest)
    kit = load_kit(directory)
    bundle = suite_crls(kit.client_ca, KeyPool())
    if not bundle.crls:
        return manifest
    rel = "client/suite-crls.pem"
    bundle.write(directory / rel)
    updated = Manifest(profile=manifest.profile, server_name=manifest.server_name,
                       files={**manifest.files, "suite_crls": rel}, dated=manifest.dated)
    write_manifest(directory, updated)
    (directory / "UPLOAD.md").write_text(upload_guide(updated))
    return updated


def _crls(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--client-ca-cert", required=True, metavar="FILE", help="the client CA's certificate (PEM)")
    parser.add_argument("--client-ca-key", required=True, metavar="FILE", help="its private key (PEM)")
    parser.add_argument("--out", required=True, metavar="FILE", help="where to write the PEM bundle of CRLs")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from cryptography import x509

        from .pki import KeyPool, load_ca_credential
        from .targets import SUITE_CRL_DAYS, suite_crls

        ca = load_ca_credential(Path(args.client_ca_cert), Path(args.client_ca_key))
        try:
            is_ca = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise UsageError(f"--client-ca-cert {args.client_ca_cert}: not a CA certificate (no basicConstraints CA:TRUE)")
        bundle = suite_crls(ca, KeyPool())
        if not bundle.crls:
            raise UsageError(f"--client-ca-cert {args.client_ca_cert}: the CA has pathLen 0, so the suite mints no CA "
                             "under it and needs no CRL bundle")
        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {args.out}: is a directory; give a file name")
        try:
            bundle.write(out)
        except OSError as exc:
            raise UsageError(f"--out {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {len(bundle.crls)} empty CRLs (one per CA the suite mints under "
              f"{ca.cert.subject.rfc4514_string()}) to {out}")
        print(f"valid for {SUITE_CRL_DAYS} days, until {bundle.next_update:%Y-%m-%d %H:%M} UTC; append the file to "
              "the CRL file your LB loads (see docs/targets.md)")
        return 0

    return run


def _lint(parser: argparse.ArgumentParser) -> Runner:
    from .kit import SEVERITIES

    parser.add_argument("files", nargs="+", metavar="FILE", help="certificates, keys, chains, PKCS#12, CRLs (PEM or DER)")
    parser.add_argument("--fail-on", default="error", choices=SEVERITIES,
                        help="exit 1 when a finding is at or above this severity (default error)")
    parser.add_argument("--format", default="text", choices=("text", "json"))
    parser.add_argument("--p12-password", default=None, metavar="PW",
                        help="password of PKCS#12 files (or MTLSGATE_P12_PASSWORD)")

    def run(args: argparse.Namespace) -> int:
        import json
        import os
        from pathlib import Path

        from .kit import at_or_above, format_text, lint_paths, to_json

        password = args.p12_password if args.p12_password is not None else os.environ.get("MTLSGATE_P12_PASSWORD")
        paths = [Path(f) for f in args.files]
        findings = lint_paths(paths, p12_password=password.encode() if password else None)
        print(json.dumps(to_json(findings, paths), indent=2) if args.format == "json" else format_text(findings, paths))
        return 1 if at_or_above(findings, args.fail_on) else 0

    return run


def _diff(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("old", metavar="OLD.json", help="the baseline run's mtlsgate.json")
    parser.add_argument("new", metavar="NEW.json", help="the new run's mtlsgate.json")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from .report import compare, load_report

        old, new = load_report(Path(args.old)), load_report(Path(args.new))
        comparison = compare(old, new, args.old)
        print("\n".join(comparison.lines()))
        return 1 if comparison.regressions else 0

    return run


def _merge(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="where the merged reports are written")
    parser.add_argument("reports", metavar="SHARD.json", nargs="+", help="each shard's mtlsgate.json")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from .report import load_shards, merge_reports, run_status, write_reports

        out = Path(args.out_dir)
        records, info = merge_reports(load_shards([Path(p) for p in args.reports]), out.absolute())
        try:
            paths = write_reports(out, records, info)
        except OSError as exc:
            raise UsageError(f"{out}: {exc.strerror or exc}") from None
        status = run_status(records, info)
        print(f"mtlsgate merge: {status}: {len(info.targets)} targets, {len(records)} checks from "
              f"{len(args.reports)} reports")
        for name, path in paths.items():
            print(f"{name}: {path}")
        return 0 if status == "PASSED" else 1

    return run


def _test(parser: argparse.ArgumentParser) -> Runner:
    """Listed in ``mtlsgate --help``; ``main`` hands ``mtlsgate test ...`` to pytest before argparse sees it."""
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="pytest options (--target ..., -k ...)")
    return lambda args: run_tests(args.pytest_args)


def _replay(parser: argparse.ArgumentParser) -> Runner:
    from .replay import setup

    return setup(parser)


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Runner]]] = {
    "echo-backend": ("answer every request with the request's method, path and headers as JSON", _echo_backend),
    "serve": ("run the embedded reference target in the foreground, with its PKI written to --dir", _serve),
    "probe": ("one attempt against a URL with an optional client certificate; prints what happened", _probe),
    "kit": ("make the seed guide's certificates (--profile seed) or today's (modern), with kit.json and UPLOAD.md", _kit),
    "crls": ("write empty CRLs for every CA the suite mints under your client CA, to append to the LB's CRL file",
             _crls),
    "lint": ("find what is wrong with certificates, keys, chains, PKCS#12 and CRLs before you upload them", _lint),
    "diff": ("compare two runs' mtlsgate.json: regressions (pass -> fail), fixes and lost coverage (pass -> skip) "
             "by check id; exit 1 on a "
             "regression", _diff),
    "merge": ("one report set (JSON, HTML, summary.md, JUnit) from the shards' mtlsgate.json of a --shard run; "
              "exit 2 on a duplicate or missing shard or target, 1 unless the merged run passed", _merge),
    "test": ("run the conformance suites under pytest (same options and exit codes as `pytest --pyargs "
             "mtlsgate.suites`)", _test),
    "replay": ("present a fuzz reproducer (reports/repro/<id>) again; exit 0 agrees with the oracle, 1 still not",
               _replay),
}


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {value}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mtlsgate", description="Tools around the mtlsgate conformance suite (the suite itself runs under pytest).")
    parser.add_argument("--version", action="version", version=f"mtlsgate {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (summary, setup) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        p.set_defaults(run=setup(p))
    return parser


def suites_path() -> str:
    """The conformance suites: the installed ``mtlsgate.suites``, else the checkout's ``suites/``."""
    from importlib.util import find_spec
    from pathlib import Path

    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "suites" / "__init__.py").is_file():
        return str(checkout / "suites")
    spec = find_spec("mtlsgate.suites")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("mtlsgate test: the suites are not installed (mtlsgate.suites is missing): reinstall mtlsgate")
    return str(Path(list(spec.submodule_search_locations)[0]))


def run_tests(argv: Sequence[str]) -> int:
    """``mtlsgate test ARGS``: pytest on the installed suites with ARGS; pytest's exit codes (0, 1, 2, 4, 5, 69).

    No cache directory is written (the suites may live in a read-only site-packages).
    """
    from .cmdline import DeferredInterrupt  # Ctrl-C from here on gives exit 2 and a report, not a traceback

    DeferredInterrupt.install()
    import pytest

    if any(a in ("-h", "--help") for a in argv):
        print("usage: mtlsgate test [pytest options: --target ..., --server-ca ..., -k ..., -n ...]\n"
              "runs the conformance suites under pytest; every option of `pytest --help` (group mtlsgate) applies")
    return int(pytest.main(["-p", "mtlsgate.plugin", "-p", "no:cacheprovider", *argv, suites_path()]))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["test"]:  # everything after `test` is pytest's (argparse would reject its options)
        try:
            return run_tests(argv[1:])
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return CLI_USAGE_ERROR
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "run", None):
            raise UsageError("mtlsgate: give a command; see mtlsgate --help")
        return int(args.run(args))
    except UsageError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return CLI_USAGE_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
