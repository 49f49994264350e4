"""Errors that end a run with one line, and the exit codes that go with them."""

from __future__ import annotations

#: pytest's own code for a usage error; ``mtlsgate`` subcommands use 2.
PYTEST_USAGE_ERROR = 4
CLI_USAGE_ERROR = 2
#: The target cannot be tested at all (unreachable, not TLS, no client-certificate request,
#: a valid client refused). Distinct from pytest's 0-5; it is sysexits' EX_UNAVAILABLE.
UNTESTABLE_TARGET = 69


class UsageError(Exception):
    """Bad input from the user: a missing or malformed file, an unknown profile, a bad URL."""


class UntestableTarget(Exception):
    """Preflight found that no verdict about this target could be trusted."""
