"""``mtlsgate kit --emit-config LB DIR``: the listener configuration for a kit.

It is the very template the suite's local targets run (``fixtures/targets/<lb>/correct.*``),
rendered with the kit's files, so that what the self-tests prove is what the operator deploys.
The templates quote every path the way their product's syntax wants it (a kit directory may
hold a space); a path no product config can spell (a quote, a backslash, ``$``, a line break)
is refused in one line rather than emitted broken.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..kit import load_kit
from .local import LBS, binary_for, render_config
from .provision import kit_lb_files

START_COMMANDS = {
    "nginx": "{bin} -p {dir}/ -c {conf} -g 'daemon off;'",  # each path shell-quoted (a space)
    "haproxy": "{bin} -db -f {conf}",
    "apache": "{bin} -X -d {dir} -f {conf}",
    "caddy": "{bin} run --config {conf} --adapter caddyfile",
    "traefik": "{bin} --configFile={conf}",
    "stunnel": "{bin} {conf}",
    "hitch": "{bin} --config={conf}",
    "lighttpd": "{bin} -D -f {conf}",
    "trafficserver": "{bin} --run-root={conf}",
    "squid": "{bin} -N -d 1 -f {conf}",
}
_DEFAULT_BINARIES = {"nginx": "nginx", "haproxy": "haproxy", "apache": "apache2", "caddy": "caddy", "traefik": "traefik",
                     "stunnel": "stunnel4", "hitch": "hitch", "lighttpd": "lighttpd", "trafficserver": "traffic_server",
                     "squid": "squid"}


#: Characters no template can carry inside a quoted path: the quote itself, the escape, nginx's
#: variable sign (ssl_certificate expands $names), a line break.
_UNSPELLABLE = ('"', "\\", "$", "\n", "\r")


@dataclass(frozen=True)
class Emitted:
    files: list[Path]
    start: str


def emit_config(lb: str, kit_dir: Path, *, listen: tuple[str, int], backend: tuple[str, int],
                out: Path | None = None) -> Emitted:
    """Render ``lb``'s correct configuration for the kit in ``kit_dir`` into ``out`` (default ``DIR/config/<lb>``)."""
    if lb not in LBS:
        raise UsageError(f"--emit-config {lb}: expected one of {', '.join(LBS)}")
    kit = load_kit(kit_dir)
    outdir = (out or kit.directory / "config" / lb).resolve()
    for path in (kit.directory.resolve(), outdir):
        if any(c in str(path) for c in _UNSPELLABLE):
            raise UsageError(f"--emit-config {lb}: {path}: a path with a quote, a backslash, '$' or a line break "
                             f"cannot be written into {lb}'s configuration safely; use a directory without them")
    try:
        outdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in ("run", "tmp", "logs", "data", "conf.d"):
            (outdir / sub).mkdir(exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{outdir}: cannot create ({exc.strerror})") from None
    files = kit_lb_files(kit, outdir, backend_host=backend[0], backend_port=backend[1])
    host, port = listen
    paths = render_config(lb, "correct", files, outdir, host=host, port=port, alt_port=port + 1)
    _remove_unreferenced(outdir, paths)
    binary = binary_for(lb) or _DEFAULT_BINARIES[lb]
    return Emitted(paths, START_COMMANDS[lb].format(bin=shlex.quote(binary), dir=shlex.quote(str(outdir)),
                                                   conf=shlex.quote(str(paths[0]))))


def _remove_unreferenced(outdir: Path, configs: list[Path]) -> None:
    """Drop the helper files rendering wrote that this LB's configuration never names (a bundle, a PEM).

    The renderer prepares every file any template of the suite may use; an operator copying
    ``config/<lb>/`` should find only what the configuration reads.
    """
    text = "".join(p.read_text() for p in configs)
    for path in outdir.iterdir():
        if path.is_file() and path not in configs and path.name not in text:
            path.unlink()


__all__ = ["emit_config", "Emitted", "START_COMMANDS"]
