"""Every queue kind of adseq 0.9.4, with the original names and call shapes.

``Q.sized(k)`` makes the capacity-``k`` type, ``Q.init(max_delay_steps, grad=...)`` an empty
queue (``batch_shape=(n,)`` for ``n`` queues at once, or ``jax.vmap`` over ``init``),
``q.enqueue(t)`` returns the queue and ``q.pop(t)`` returns ``(queue, hit)``.
"""

from .base import BaseQueue, EventQueue, QueueType
from .bgpq1 import BGPQ1
from .binary_heap import BinaryHeap
from .bitarray32 import BitArray32
from .do_nothing import DoNothing
from .fifo_ring import FIFORing
from .lossy_ring import LossyRing
from .ring import Ring
from .single_spike import SingleSpike
from .single_spike_keep import SingleSpikeKeep
from .sorted_array import SortedArray

__all__ = [
    "BaseQueue",
    "EventQueue",
    "QueueType",
    "DoNothing",
    "SingleSpike",
    "SingleSpikeKeep",
    "Ring",
    "FIFORing",
    "LossyRing",
    "SortedArray",
    "BinaryHeap",
    "BGPQ1",
    "BitArray32",
]
