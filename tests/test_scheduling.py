"""The fleet's xdist scheduler decides exactly as xdist's ``loadgroup``: same items, same workers, same order.

It only keeps its bookkeeping cheap (see mtlsgate/scheduling.py). Both schedulers are driven
here through the same run of a fake controller, a worker finishing its tests one at a time,
and the work each hands out is compared step by step, also when a worker crashes mid-group.
"""

from __future__ import annotations

import random

import pytest

from mtlsgate.scheduling import IndexedList, target_scheduler

xdist_scheduler = pytest.importorskip("xdist.scheduler")


class FakeNode:
    """What a scheduler touches of xdist's WorkerController."""

    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.shutting_down = False
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.append(list(indices))

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.gateway.id


class FakeConfig:
    """What a scheduler reads of pytest's config: two workers (``-n 2``) and xdist's default ordering."""

    option = type("Option", (), {"loadscopereorder": True})()

    def getvalue(self, name: str) -> list[str]:
        assert name == "tx"
        return ["2*popen"]


def collection(groups: int, per_group: int) -> list[str]:
    return [f"suites/test_x.py::test_{n}[t{g}-tls1.3]@mtlsgate:t{g}" for n in range(per_group) for g in range(groups)]


def drive(scheduler, items: list[str], seed: int, crash_after: int | None = None) -> list[tuple[str, list[int]]]:
    """Run the scheduler to the end; returns every (worker, indices) it sent, in order."""
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, items)
    scheduler.schedule()
    rng = random.Random(seed)
    queues = {node: [i for batch in node.sent for i in batch] for node in nodes}
    log = [(node.gateway.id, batch) for node in nodes for batch in node.sent]
    seen = {node: len(node.sent) for node in nodes}
    done = 0
    for _ in range(10 * len(items)):  # bounded: every step completes one test or ends the run
        busy = [node for node in nodes if queues[node]]
        if not busy:
            break
        node = rng.choice(busy)
        if crash_after is not None and done >= crash_after and node.gateway.id == "gw1":
            nodes.remove(node)
            scheduler.remove_node(node)
            queues.pop(node)
            crash_after = None
        else:
            scheduler.mark_test_complete(node, queues[node].pop(0))
            done += 1
        for other in nodes:
            for batch in other.sent[seen[other]:]:
                log.append((other.gateway.id, batch))
                queues[other].extend(batch)
            seen[other] = len(other.sent)
    assert crash_after is None, "the worker never crashed"
    assert scheduler.tests_finished and not scheduler.has_pending
    return log


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("crash_after", [None, 7])
def test_the_fleet_scheduler_hands_out_what_loadgroup_hands_out(seed, crash_after):
    items = collection(groups=6, per_group=9)
    ours = target_scheduler(FakeConfig(), None)
    assert ours is not None and isinstance(ours, xdist_scheduler.LoadGroupScheduling)
    theirs = xdist_scheduler.LoadGroupScheduling(FakeConfig(), None)
    assert drive(ours, items, seed, crash_after) == drive(theirs, items, seed, crash_after)


def test_a_group_stays_on_one_worker():
    items = collection(groups=4, per_group=5)
    log = drive(target_scheduler(FakeConfig(), None), items, seed=1)
    workers: dict[str, set[str]] = {}
    for worker, batch in log:
        for index in batch:
            workers.setdefault(items[index].rsplit("@", 1)[1], set()).add(worker)
    assert len(workers) == 4 and all(len(w) == 1 for w in workers.values()), workers


def test_an_indexed_list_answers_as_a_list():
    items = ["a", "b", "a", "c"]
    indexed = IndexedList(items)
    assert indexed == items and [indexed.index(x) for x in items] == [items.index(x) for x in items]
    assert indexed.index("a", 1) == 2
    with pytest.raises(ValueError, match="not in list"):
        indexed.index("z")
