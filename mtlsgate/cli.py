"""The ``mtlsgate`` command: small tools around the suite (the suite itself runs under pytest).

Exit codes: 0 fine, 1 findings (or a failed probe), 2 usage error or unreadable input.
Subcommands live in their own modules; each registers its arguments and a ``run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import CLI_USAGE_ERROR, UsageError

Runner = Callable[[argparse.Namespace], int]


def _echo_backend(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument("--listen", default="127.0.0.1:9000", help="HOST:PORT to listen on (default 127.0.0.1:9000)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")

    def run(args: argparse.Namespace) -> int:
        from .echo import serve_forever

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

        from .keypool import KeyPool
        from .targets.base import LabPKI
        from .targets.reference import MUTANTS, ReferencePolicy, run_reference

        if args.mutant and args.mutant not in MUTANTS:
            raise UsageError(f"--mutant {args.mutant}: expected one of {', '.join(sorted(MUTANTS))}")
        directory = Path(args.dir)
        pki = LabPKI.create(KeyPool())
        files = pki.write(directory)
        identity = pki.identity.write(directory, "client")
        ca = pki.client_root.write(directory, "client-root-ca")
        revoked = pki.revoked.write(directory, "revoked")
        policy = MUTANTS[args.mutant] if args.mutant else ReferencePolicy()
        with run_reference(pki, directory, policy) as ref:
            print(f"reference target on https://{ref.host}:{ref.port}/ (server name {ref.server_name})")
            print("test it with:")
            print(f"  pytest --target https://{ref.host}:{ref.port} --server-name {ref.server_name} "
                  f"--server-ca {files.server_ca} --client-ca-cert {ca.cert} --client-ca-key {ca.key} "
                  f"--client-cert {identity.cert} --client-key {identity.key} "
                  f"--revoked-cert {revoked.cert} --revoked-key {revoked.key}", flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        return 0

    return run


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Runner]]] = {
    "echo-backend": ("answer every request with the request's method, path and headers as JSON", _echo_backend),
    "serve": ("run the embedded reference target in the foreground, with its PKI written to --dir", _serve),
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
