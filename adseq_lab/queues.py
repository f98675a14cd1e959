"""Registry of queue kinds by stable snake_case name, for dashboards, sweeps and the CLI.

>>> from adseq_lab import queues
>>> queues.get("fifo_ring", capacity=4).__name__
'FIFORing[4]'
"""

from __future__ import annotations

import dataclasses

from .implementations import (
    BGPQ1,
    BinaryHeap,
    BitArray32,
    DoNothing,
    EventQueue,
    FIFORing,
    LossyRing,
    QueueType,
    Ring,
    SingleSpike,
    SingleSpikeKeep,
    SortedArray,
)

__all__ = ["QueueInfo", "names", "get", "info"]


@dataclasses.dataclass(frozen=True)
class QueueInfo:
    """What a kind promises. ``lossless``: delivers every event within ``contract``."""

    name: str
    kind: type[EventQueue]
    holds: str
    contract: str
    lossless: bool
    supports_grad: bool
    has_capacity: bool


_KINDS = (
    QueueInfo(
        "do_nothing",
        DoNothing,
        "nothing",
        "drops every event (timing baseline)",
        False,
        True,
        False,
    ),
    QueueInfo(
        "single_spike",
        SingleSpike,
        "one pending event",
        "a newer event replaces the pending one",
        False,
        True,
        False,
    ),
    QueueInfo(
        "single_spike_keep",
        SingleSpikeKeep,
        "one pending event",
        "the first pending event is kept until popped",
        False,
        True,
        False,
    ),
    QueueInfo(
        "ring",
        Ring,
        "a count per time slot (max_delay+1 slots)",
        "lossless for delays within max delay; pop every step",
        True,
        True,
        False,
    ),
    QueueInfo(
        "fifo_ring",
        FIFORing,
        "k events in arrival order",
        "non-decreasing arrivals (one delay per queue), at most k pending",
        True,
        True,
        True,
    ),
    QueueInfo(
        "lossy_ring",
        LossyRing,
        "k slots hashed by arrival step",
        "collisions overwrite (counted as dropped)",
        False,
        True,
        True,
    ),
    QueueInfo(
        "sorted_array",
        SortedArray,
        "k events, sorted",
        "any order, at most k pending; full drops the latest",
        True,
        True,
        True,
    ),
    QueueInfo(
        "binary_heap",
        BinaryHeap,
        "k events in a min-heap",
        "any order, at most k pending; full drops the latest",
        True,
        True,
        True,
    ),
    QueueInfo(
        "bgpq1",
        BGPQ1,
        "k events in a batched priority queue (default k = 8)",
        "any order, at most k pending; full drops the latest",
        True,
        True,
        True,
    ),
    QueueInfo(
        "bit_array32",
        BitArray32,
        "32 one-bit time slots",
        "delays under 32 steps, one event per step; no gradients",
        True,
        False,
        False,
    ),
)
_BY_NAME = {entry.name: entry for entry in _KINDS}


def names() -> list[str]:
    """Every kind's registry name, in a stable order."""
    return [entry.name for entry in _KINDS]


def info(name: str) -> QueueInfo:
    """The :class:`QueueInfo` of ``name``; ``ValueError`` listing valid names if unknown."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown queue kind {name!r}; valid names: {', '.join(names())}"
        ) from None


def get(name: str, capacity: int | None = None) -> type[EventQueue] | QueueType:
    """The queue type for ``name``, sized to ``capacity`` where the kind has one.

    ``capacity`` is refused (``ValueError``) for kinds without one (``ring``, ``single_spike``,
    ...), so a dashboard cannot silently ignore it.
    """
    entry = info(name)
    if capacity is None:
        return entry.kind
    if not entry.has_capacity:
        raise ValueError(f"queue kind {name!r} has no capacity; leave capacity unset")
    return entry.kind.sized(capacity)
