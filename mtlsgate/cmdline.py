"""Where pytest looks for tests and its ini file, decided again once mtlsgate's options are known.

pytest fixes its rootdir, ini file and ``testpaths`` from the command line *before* any
installed plugin has added its options: in ``pytest --server-ca /abs/ca.crt`` the value
``/abs/ca.crt`` is still an unknown positional then, so the rootdir leaves the checkout,
``testpaths = ["suites"]`` is lost and pytest collects (and imports) the working directory:
mtlsgate's own ``tests/``. ``--server-ca=/abs/ca.crt`` never had the problem.

The plugin is loaded from its entry point before ``pytest_load_initial_conftests``; there,
:func:`reroot` decides the setup again from the positional arguments pytest now knows to be
paths, and when it differs, puts the right rootdir and ini file (with its ``addopts``) in
place before any conftest is imported or any path collected. :func:`misrooted` is the safety
net for a plugin loaded too late for that (from a ``conftest.py`` only): one line with the
``--opt=VALUE`` form that works, before any probe.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["DeferredInterrupt", "misrooted", "reroot", "stray_option"]


class DeferredInterrupt:
    """SIGINT/SIGTERM while pytest starts up: remembered, then raised once the session can report it.

    Python's own SIGINT handler raises KeyboardInterrupt wherever the main thread is: during
    start-up that is an import or pytest's config parsing, outside the session, so the run
    ended with a raw traceback, exit 130 and no report. Importing this module (the plugin
    imports it first; ``mtlsgate test`` before it imports pytest) installs this handler when
    the defaults are in place; the plugin releases it once collection is over (it knows
    then whether the session runs mtlsgate checks) and raises the remembered signal as
    KeyboardInterrupt before the first check: exit 2 and an INCOMPLETE report listing every
    check as not run. A session without mtlsgate checks gets what the default would have
    done (KeyboardInterrupt; death by SIGTERM). A second signal while deferred is not held.
    The state lives in the handler object itself (no module global).
    """

    def __init__(self) -> None:
        self.signal: str | None = None
        self.at: float | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signal is None:
            self.signal, self.at = signal.Signals(signum).name, time.monotonic()
            return
        # A second signal while still deferred: a start-up that hangs (a blocking conftest) must
        # stay stoppable from the keyboard. The defaults come back and Python's own answer follows.
        DeferredInterrupt.release()
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name} (the second, during start-up)")

    @classmethod
    def install(cls) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        handler = cls()
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, handler)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, handler)

    @staticmethod
    def release() -> str | None:
        """Put the defaults back; the name of a signal that came while deferred, else None."""
        if threading.current_thread() is not threading.main_thread():
            return None
        pending = None
        for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
            handler = signal.getsignal(signum)
            if isinstance(handler, DeferredInterrupt):
                signal.signal(signum, default)
                pending = pending or handler.signal
        return pending


DeferredInterrupt.install()


def _wanted(config: Any, positional: list[str]) -> tuple[Path, Path | None, Any, Any] | None:
    """What ``determine_setup`` decides from the true positional args (None: pytest's internals moved)."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # pragma: no cover - another pytest layout
        return None
    ns = config.known_args_namespace
    try:
        return determine_setup(inifile=getattr(ns, "inifilename", None), override_ini=getattr(ns, "override_ini", None),
                               args=positional, rootdir_cmd_arg=getattr(ns, "rootdir", None) or None,
                               invocation_dir=config.invocation_params.dir)
    except TypeError:  # pragma: no cover - a pytest whose determine_setup takes other arguments
        return None


def reroot(config: Any, args: list[str]) -> bool:
    """Put the rootdir/ini pytest would have chosen had it known mtlsgate's options; True if it changed.

    ``args`` is the list pytest parses next (changed in place: the right ini's ``addopts``
    are prepended, as pytest itself does).
    """
    ns = config.known_args_namespace
    wanted = _wanted(config, list(getattr(ns, "file_or_dir", None) or []))
    needed = ("_rootpath", "_inipath", "_inicfg", "_inicache", "_parser")
    if wanted is None or not all(hasattr(config, name) for name in needed):
        return False
    rootpath, inipath, inicfg, ignored = wanted
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return False
    old_cut = str(config.inipath.parent) if config.inipath is not None else str(config.rootpath)
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    if hasattr(config, "_ignored_config_files"):
        config._ignored_config_files = ignored
    config._inicache.clear()
    config._parser.extra_info["rootdir"] = str(rootpath)
    config._parser.extra_info["inifile"] = str(inipath)
    if getattr(ns, "confcutdir", None) == old_cut:  # pytest's own default, not the user's --confcutdir
        ns.confcutdir = str(inipath.parent) if inipath is not None else str(rootpath)
    addopts = [str(a) for a in config.getini("addopts")]
    if addopts:
        loaded = {name for name, plugin in config.pluginmanager.list_name_plugin() if plugin is not None}
        args[:0] = addopts
        config.pluginmanager.consider_preparse(addopts, exclude_only=False)
        config._parser.parse_known_args(args, namespace=ns)
        _close_hypothesis_start_up(config, loaded)
    return True


def _close_hypothesis_start_up(config: Any, loaded: set[str]) -> None:
    """Hypothesis' pytest plugin, blocked by the right ini's ``-p no:hypothesispytest`` after it was imported.

    Importing ``_hypothesis_pytestplugin`` counts Hypothesis into its start-up phase
    (``_hypothesis_globals.in_initialization``); the plugin's ``pytest_sessionstart`` counts it
    out. pytest loaded the plugin from its entry point while the wrong ini (without our
    ``addopts``) was in place; blocking it now unregisters the hook that would count out, so
    Hypothesis believed the whole run was still starting up and every strategy the fuzz check
    drew warned ``HypothesisSideeffectWarning: Slow code in plugin``. The decrement that
    ``pytest_sessionstart`` would have made is made here, once.
    """
    name = "hypothesispytest"
    if name in loaded and config.pluginmanager.is_blocked(name):
        import _hypothesis_globals  # stdlib-only module of Hypothesis' distribution: does not import Hypothesis

        _hypothesis_globals.in_initialization -= 1


def misrooted(config: Any) -> str | None:
    """A usage line when pytest's rootdir came from an option's value (the plugin loaded too late to fix it)."""
    positional = [str(a) for a in (getattr(config.option, "file_or_dir", None) or [])]
    wanted = _wanted(config, positional)
    if wanted is None or (wanted[0], wanted[1]) == (config.rootpath, config.inipath):
        return None
    return (f"pytest took an option's value for a test path and chose the rootdir {config.rootpath} instead of "
            f"{wanted[0]} (the mtlsgate plugin was loaded from a conftest.py, too late to prevent it): write path "
            f"options as --opt=VALUE (e.g. --server-ca=FILE), or install mtlsgate (pip install .)")


def stray_option(config: Any, args: list[str]) -> str | None:
    """A usage line for a test path that does not exist (often an unknown option's value), before conftests load.

    ``pytest -n 2`` without pytest-xdist: ``2`` is a positional that names no file, and
    pytest's first step with such an argument is to import the conftest.py of every ``test*``
    directory (our ``tests/``) before it says ``unrecognized arguments``. Said here, first.
    """
    ns = config.known_args_namespace
    if getattr(ns, "pyargs", False) or getattr(ns, "help", False):
        return None
    try:
        _, unknown = config._parser.parse_known_and_unknown_args(list(args))
    except Exception:  # pytest's own parse reports it later, in its words
        return None
    flags = [a for a in unknown if a.startswith("-")]
    here = config.invocation_params.dir
    missing = [p for p in (getattr(ns, "file_or_dir", None) or [])
               if not (Path(here) / str(p).split("::")[0]).exists()]
    if not missing:
        return None
    if not flags:  # pytest's own words, said before it imports conftest.py files to look for the path
        return f"file or directory not found: {missing[0]}"
    hint = " (-n needs pytest-xdist: pip install pytest-xdist)" if any(f.startswith("-n") for f in flags) else ""
    return f"unrecognized arguments: {' '.join(flags)}{hint}"
