"""How pytest-xdist hands a fleet's targets to its workers: xdist's ``loadgroup``, with cheap bookkeeping.

``loadgroup`` already keeps a group (here: one target) on one worker, which is what a
fleet needs. Its bookkeeping, though, grows with the square of a run's items: after every
test it recounts the pending tests of every group the worker was ever given, and it finds
each item it hands out by a linear search of the collection. A 50-listener fleet has 5550
items; that was about 0.7 s of the controller's CPU, on the two cores the workers and the
load balancers share. :class:`TargetScheduling` decides exactly as ``loadgroup`` does and
only keeps two answers at hand: a group whose tests are all done stays done, and an item's
index does not change. With an xdist whose scheduler is laid out differently, xdist's own
is used.
"""

from __future__ import annotations

from typing import Any

import pytest


class IndexedList(list):  # type: ignore[type-arg]
    """A list that is never changed after it is made, whose ``index()`` is a dict lookup."""

    def __init__(self, items: Any) -> None:
        super().__init__(items)
        self._at: dict[Any, int] = {}
        for at, item in enumerate(self):
            self._at.setdefault(item, at)

    def index(self, value: Any, *bounds: Any) -> int:  # type: ignore[override]
        if bounds:
            return super().index(value, *bounds)
        try:
            return self._at[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not in list") from None


def target_scheduler(config: pytest.Config, log: Any) -> Any | None:
    """A ``loadgroup`` scheduler with cheap bookkeeping; None where xdist's is not laid out as expected."""
    try:
        from xdist.scheduler import LoadGroupScheduling
    except ImportError:
        return None
    if not all(hasattr(LoadGroupScheduling, name) for name in ("_pending_of", "add_node_collection",
                                                               "_assign_work_unit")):
        return None

    class TargetScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            self._done_units: dict[int, dict[str, bool]] = {}  # id -> the unit (kept, so the id stays its own)

        def add_node_collection(self, node: Any, collection: Any) -> None:
            super().add_node_collection(node, collection)
            registered = getattr(self, "registered_collections", {})
            if node in registered and not isinstance(registered[node], IndexedList):
                registered[node] = IndexedList(registered[node])

        def _pending_of(self, workload: dict[str, dict[str, bool]]) -> int:
            # A unit's tests are only ever marked done, never pending again (a crashed worker's
            # units go back to the queue as they are), so a finished unit stays finished.
            pending = 0
            for unit in workload.values():
                if id(unit) in self._done_units:
                    continue
                left = list(unit.values()).count(False)
                if not left:
                    self._done_units[id(unit)] = unit
                pending += left
            return pending

    return TargetScheduling(config, log)


__all__ = ["IndexedList", "target_scheduler"]
