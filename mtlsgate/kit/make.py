"""``mtlsgate kit DIR``: the seed guide's certificates, reproduced (``seed``) or done right (``modern``).

The ``seed`` profile runs the guide's own ``openssl`` commands with its own ``.conf`` files
(``fixtures/seed/``), so that what the operator gets is exactly what the guide makes —
including its dated choices, which are printed as a warning. The ``modern`` profile keeps
the guide's layout (a ``server/`` and a ``client/`` folder, the same console fields) but
makes certificates that today's clients and cloud load balancers accept, plus what the
suite needs to test revocation (a revoked identity and a CRL). Both write ``kit.json`` (the
manifest ``pytest --kit`` reads) and ``UPLOAD.md`` (which file goes into which console field).
"""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import os
import secrets
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..judge import fixtures_dir
from ..pki import CertSpec, Credential, KeyPool, generate_key, issue, make_crl, pem, write_private
from .manifest import Manifest, write_manifest

PROFILES = ("modern", "seed")
MODERN_KEYS = ("p256", "p384", "rsa2048", "rsa3072")
SEED_CONFS = ("ca_cert.conf", "server_cert.conf", "client_cert.conf")
SEED_CN = "www.test.com"
#: Browsers and the CA/B Forum cap a (public) server certificate at 398 days.
SERVER_DAYS = 397
CLIENT_DAYS = 365
CA_DAYS = 3650
CRL_DAYS = 90
PASSWORD_ENV = "MTLSGATE_P12_PASSWORD"

#: What the seed recipe makes that is dated, printed after a seed kit is written.
SEED_DATED = (
    "SHA-1 signatures on server.crt and client.crt (and both ca.crt): OpenSSL 3 at Debian's default "
    "security level refuses them, browsers since 2017, AWS ALB and GCP do not accept them",
    "no subjectAltName: server.crt names the host only in its CN, which browsers (Chrome 58+, Firefox) and Go 1.15+ "
    "ignore (OpenSSL-based clients such as Python and curl still fall back to it)",
    "5000-day validity: browsers refuse server certificates valid longer than 398 days; a leaked "
    "client.key stays usable for 13 years",
    "version 1 certificates: no basicConstraints (the CAs are not marked CA:TRUE), no keyUsage, no EKU "
    "(client.crt lacks clientAuth, which GCP and Azure require)",
    "two different CAs, server/ca.crt and client/ca.crt, share the file names ca.key/ca.crt and the "
    "subject O=ELB: easy to upload the wrong one as the listener's CA certificate",
    "no CRL and no revoked identity: a lost client certificate cannot be revoked, and reject.revoked "
    "cannot be tested",
)


@dataclass(frozen=True)
class KitOptions:
    profile: str = "modern"
    cn: str = SEED_CN
    sans: tuple[str, ...] = ()
    key: str = "p256"
    p12_password: bytes = b""
    password_generated: bool = False  # saved to client/client.p12.password: UPLOAD.md says so


@dataclass(frozen=True)
class KitResult:
    directory: Path
    manifest: Manifest
    warnings: tuple[str, ...]


def make_kit(directory: Path, options: KitOptions) -> KitResult:
    """Write a kit into ``directory`` (which must not hold one already)."""
    if options.profile not in PROFILES:
        raise UsageError(f"--profile {options.profile}: expected one of {', '.join(PROFILES)}")
    if not options.p12_password:
        raise UsageError("client.p12 needs a password")
    directory = Path(directory)
    if (directory / "kit.json").exists() or (directory / "server").exists() or (directory / "client").exists():
        raise UsageError(f"{directory}: already holds a kit (server/, client/ or kit.json); choose an empty directory")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
    except OSError as exc:
        raise UsageError(f"{directory}: cannot create ({exc.strerror})") from None
    if options.profile == "seed":
        manifest = _seed(directory, options)
        warnings = SEED_DATED
    else:
        manifest = _modern(directory, options)
        warnings = ()
    write_manifest(directory, manifest)
    (directory / "UPLOAD.md").write_text(upload_guide(manifest, directory, options.password_generated))
    return KitResult(directory, manifest, warnings)


def p12_password(given: str | None, directory: Path) -> tuple[bytes, Callable[[], None] | None]:
    """The client.p12 password: ``--p12-password``, ``MTLSGATE_P12_PASSWORD``, a prompt, or a generated one.

    Never echoed. A generated password (no terminal to prompt on, or an empty answer) is
    saved 0600 next to the bundle by the returned callback, once the kit exists.
    """
    password = given if given is not None else os.environ.get(PASSWORD_ENV)
    if password is None and sys.stdin.isatty():
        try:
            password = getpass.getpass("password for client.p12 (empty: generate one): ")
            if password and getpass.getpass("again: ") != password:
                raise UsageError("the two client.p12 passwords differ")
        except (EOFError, KeyboardInterrupt):
            raise UsageError("no client.p12 password given") from None
    if password:
        if "\0" in password:
            raise UsageError("the client.p12 password cannot contain NUL")
        return password.encode(), None
    generated = secrets.token_urlsafe(18)
    target = directory / "client" / "client.p12.password"

    def save() -> None:
        write_private(target, (generated + "\n").encode())
        print(f"client.p12 password generated and saved to {target} (0600)", file=sys.stderr)

    return generated.encode(), save


# --------------------------------------------------------------------------- seed


def seed_conf(name: str, cn: str) -> str:
    """The guide's ``.conf`` file, with ``cn`` where the guide says ``www.test.com``."""
    text = (fixtures_dir() / "seed" / name).read_text()
    return text.replace(f"= {SEED_CN}", f"= {cn}")


def _openssl(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise UsageError("the seed profile runs the openssl command line; install it (apt-get install openssl)")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, timeout=60,
                          env=dict(os.environ, **(env or {})))
    if proc.returncode != 0:
        err = " ".join(proc.stderr.decode(errors="replace").split())[:300]
        raise UsageError(f"openssl {' '.join(args[:2])} in {cwd} failed: {err}")


def _seed(directory: Path, options: KitOptions) -> Manifest:
    """The guide's recipe, command for command (the p12 password comes from the environment, not a prompt)."""
    if any(c in options.cn for c in "\n=[]\\\""):
        raise UsageError(f"--cn {options.cn!r}: not usable in an openssl .conf file")
    for side, leaf in (("server", "server"), ("client", "client")):
        d = directory / side
        d.mkdir(mode=0o700)
        (d / "ca_cert.conf").write_text(seed_conf("ca_cert.conf", options.cn))
        (d / f"{leaf}_cert.conf").write_text(seed_conf(f"{leaf}_cert.conf", options.cn))
        _openssl(["genrsa", "-out", "ca.key", "2048"], d)
        _openssl(["genrsa", "-out", f"{leaf}.key", "2048"], d)
        _openssl(["req", "-out", "ca.csr", "-key", "ca.key", "-new", "-config", "./ca_cert.conf"], d)
        _openssl(["req", "-out", f"{leaf}.csr", "-key", f"{leaf}.key", "-new", "-config", f"./{leaf}_cert.conf"], d)
        _openssl(["x509", "-req", "-in", "ca.csr", "-out", "ca.crt", "-sha1", "-days", "5000", "-signkey", "ca.key"], d)
        _openssl(["x509", "-req", "-in", f"{leaf}.csr", "-out", f"{leaf}.crt", "-sha1", "-CAcreateserial",
                  "-days", "5000", "-CA", "ca.crt", "-CAkey", "ca.key"], d)
        for key in ("ca.key", f"{leaf}.key"):
            (d / key).chmod(0o600)
    client = directory / "client"
    _openssl(["pkcs12", "-export", "-clcerts", "-in", "client.crt", "-inkey", "client.key", "-out", "client.p12",
              "-passout", "env:MTLSGATE_KIT_P12_PASSWORD"], client,
             env={"MTLSGATE_KIT_P12_PASSWORD": options.p12_password.decode()})
    (client / "client.p12").chmod(0o600)
    return Manifest(
        profile="seed", server_name=options.cn, dated=SEED_DATED,
        files={"server_ca": "server/ca.crt", "server_ca_key": "server/ca.key",
               "server_cert": "server/server.crt", "server_key": "server/server.key",
               "client_ca": "client/ca.crt", "client_ca_key": "client/ca.key",
               "client_cert": "client/client.crt", "client_key": "client/client.key",
               "client_p12": "client/client.p12"})


# --------------------------------------------------------------------------- modern


def san_entries(cn: str, sans: tuple[str, ...]) -> tuple[str, ...]:
    """``dns:``/``ip:`` entries for the server certificate: the CN first, then ``--san``."""
    out: list[str] = []
    for value in (cn, *sans):
        if ":" in value and value.split(":", 1)[0].lower() in ("dns", "ip"):
            kind, _, name = value.partition(":")
            entry = f"{kind.lower()}:{name}"
        else:
            try:
                ipaddress.ip_address(value)
                entry = f"ip:{value}"
            except ValueError:
                entry = f"dns:{value}"
        kind, _, name = entry.partition(":")
        if not name or any(c.isspace() for c in name):
            raise UsageError(f"--san/--cn {value!r}: not a host name or IP address")
        if kind == "ip":
            try:
                ipaddress.ip_address(name)
            except ValueError:
                raise UsageError(f"--san {value!r}: not an IP address") from None
        if entry not in out:
            out.append(entry)
    return tuple(out)


def _modern(directory: Path, options: KitOptions) -> Manifest:
    if options.key not in MODERN_KEYS:
        raise UsageError(f"--key {options.key}: expected one of {', '.join(MODERN_KEYS)}")
    sans = san_entries(options.cn, options.sans)
    pool = KeyPool(persistent=False)  # a kit's keys are its own: never the cached test keys

    def fresh(spec: CertSpec, issuer: Credential | None) -> Credential:
        return issue(spec, issuer, pool=pool, key=generate_key(options.key))

    org = (("O", "mtlsgate kit"),)
    ku_leaf = frozenset({"digital_signature", "key_encipherment"}) if options.key.startswith("rsa") \
        else frozenset({"digital_signature"})
    ca_days = dt.timedelta(days=CA_DAYS)
    server_ca = fresh(CertSpec.ca_spec("x", key=options.key, path_length=0, not_after=ca_days,
                                       subject=org + (("CN", f"{options.cn} server CA"),)), None)
    server = fresh(CertSpec(subject=org + (("CN", options.cn),), key=options.key, san=sans, eku=("serverAuth",),
                            key_usage=ku_leaf, not_after=dt.timedelta(days=SERVER_DAYS)), server_ca)
    client_ca = fresh(CertSpec.ca_spec("x", key=options.key, path_length=0, not_after=ca_days,
                                       subject=org + (("CN", f"{options.cn} client CA"),)), None)
    client = fresh(CertSpec(subject=org + (("CN", f"{options.cn} client"),), key=options.key, eku=("clientAuth",),
                            key_usage=ku_leaf, not_after=dt.timedelta(days=CLIENT_DAYS)), client_ca)
    revoked = fresh(CertSpec(subject=org + (("CN", f"{options.cn} revoked client"),), key=options.key,
                             eku=("clientAuth",), key_usage=ku_leaf, not_after=dt.timedelta(days=CLIENT_DAYS)),
                    client_ca)
    crl = make_crl(client_ca, [revoked.cert.serial_number], next_update=dt.timedelta(days=CRL_DAYS))
    sdir, cdir = directory / "server", directory / "client"
    server_ca.write(sdir, "server-ca")
    server.write(sdir, "server")
    client_ca.write(cdir, "client-ca")
    client.write(cdir, "client")
    revoked.write(cdir, "revoked")
    (cdir / "client-ca.crl").write_bytes(pem(crl))
    write_private(cdir / "client.p12", client.pkcs12(options.p12_password, name=b"client"))
    return Manifest(
        profile="modern", server_name=options.cn,
        files={"server_ca": "server/server-ca.crt", "server_ca_key": "server/server-ca.key",
               "server_cert": "server/server.crt", "server_key": "server/server.key",
               "client_ca": "client/client-ca.crt", "client_ca_key": "client/client-ca.key",
               "client_cert": "client/client.crt", "client_key": "client/client.key",
               "client_p12": "client/client.p12",
               "revoked_cert": "client/revoked.crt", "revoked_key": "client/revoked.key",
               "crl": "client/client-ca.crl"})


# --------------------------------------------------------------------------- UPLOAD.md


def upload_guide(manifest: Manifest, directory: Path | None = None, password_generated: bool = False) -> str:
    """UPLOAD.md: which file goes into which console field, what stays secret, the command that tests it.

    ``directory``: the kit's directory, written into the command as an absolute path (so it
    runs from anywhere); without it the command names the placeholder ``KIT_DIR``.
    """
    f = manifest.files
    kit_dir = shlex.quote(str(Path(os.path.abspath(directory)))) if directory is not None else "KIT_DIR"
    password_note = (f"its password was generated into `{Path(f['client_p12']).parent / 'client.p12.password'}` "
                     "(0600)" if password_generated else
                     "its password is the one you gave: `--p12-password`, `MTLSGATE_P12_PASSWORD` or the prompt")
    rows = [
        ("Server certificate → Certificate Content", f["server_cert"], "upload (PEM)"),
        ("Server certificate → Private Key", f["server_key"], "upload (PEM); **secret**"),
        ("CA certificate (the client CA, “client” type) → Certificate Content", f["client_ca"], "upload (PEM)"),
    ]
    if "crl" in f:
        rows.append(("Certificate revocation list (where the LB takes one)", f["crl"], "upload (PEM)"))
    if "suite_crls" in f:
        rows.append(("Certificate revocation list: append to the CRL file, to test (the suite's own intermediates, "
                     "`mtlsgate crls`)", f["suite_crls"], "upload (PEM); only where the suite runs"))
    secret = [f["server_ca_key"], f["client_ca_key"], f["client_key"]]
    if "revoked_key" in f:
        secret.append(f["revoked_key"])
    lines = [
        f"# Uploading this kit ({manifest.profile} profile, server name `{manifest.server_name}`)",
        "",
        "Every file is PEM-encoded, as the consoles require. Paste the whole file, including the",
        "`-----BEGIN ...-----` and `-----END ...-----` lines.",
        "",
        "| console field | file | |",
        "| --- | --- | --- |",
        *(f"| {field} | `{path}` | {note} |" for field, path, note in rows),
        "",
        f"The listener's CA certificate is **`{f['client_ca']}`**, the CA that issued the client",
        f"certificates — not `{f['server_ca']}`, which issued the server certificate.",
        "",
        "## Stays with you",
        "",
        *(f"- `{p}` — secret: never upload it, keep it 0600" for p in secret),
        f"- `{f['server_ca']}` — give it to clients so they can verify the listener (`curl --cacert`)",
        f"- `{f['client_p12']}` — the client identity for a browser or OS keychain ({password_note});"
        " hand it only to that client",
        "",
        "## Test the listener",
        "",
        "```sh",
        f"mtlsgate test --kit {kit_dir} --target https://<listener address> --server-name {manifest.server_name}",
        "```",
        "",
    ]
    if manifest.dated:
        lines += ["## Dated (seed profile)", "", *(f"- {d}" for d in manifest.dated), "",
                  "`mtlsgate lint` explains each; `mtlsgate kit DIR` (the modern profile) avoids them.", ""]
    return "\n".join(lines)


__all__ = ["KitOptions", "KitResult", "make_kit", "PROFILES", "MODERN_KEYS", "SEED_DATED", "seed_conf", "san_entries", "upload_guide", "p12_password", "PASSWORD_ENV", "SEED_CONFS", "SEED_CN", "SERVER_DAYS", "CLIENT_DAYS", "CA_DAYS", "CRL_DAYS"]
