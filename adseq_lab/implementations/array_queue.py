"""ArrayQueue: the common layout of the fixed-capacity kinds (one row of arrival steps)."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from .base import (
    EventQueue,
    check_capacity,
    check_max_delay,
    count_drop,
    count_pending,
    key_dtype,
    never,
    queue_dataclass,
    zeros_dropped,
)

__all__ = ["ArrayQueue", "resolve_capacity"]


def resolve_capacity(kind: type, max_delay_steps: int | None, capacity: int | None) -> int:
    """The capacity of a fixed-capacity kind: ``capacity``, else the kind's
    ``default_capacity``, else ``max_delay_steps + 1`` (one event per step of the longest
    delay)."""
    max_delay_steps = check_max_delay(max_delay_steps, kind.__name__)
    if capacity is None:
        capacity = kind.default_capacity
    if capacity is None:
        if max_delay_steps is None:
            raise ValueError(
                f"{kind.__name__}: give max_delay_steps (>= 0) or a capacity "
                f"({kind.__name__}.sized(k), k >= 1)"
            )
        capacity = max_delay_steps + 1
    return check_capacity(capacity, kind.__name__)


@queue_dataclass
class ArrayQueue(EventQueue):
    """Fields: ``arrival_step`` (``batch_shape + (capacity,)``, empty slots hold a sentinel later
    than any event) and ``dropped`` (int32, ``batch_shape``).

    Unsized, the capacity is ``max_delay_steps + 1``: enough for one event per step over the
    longest delay, the seed's use of one queue per synapse.
    """

    has_capacity = True
    default_capacity: ClassVar[int | None] = None

    arrival_step: jax.Array
    dropped: jax.Array

    @classmethod
    def init(
        cls,
        max_delay_steps: int | None = None,
        grad: bool = False,
        batch_shape: tuple = (),
        capacity: int | None = None,
    ):
        capacity = resolve_capacity(cls, max_delay_steps, capacity)
        dtype = key_dtype(grad)
        arrivals = jnp.full(tuple(batch_shape) + (capacity,), never(dtype), dtype)
        return cls(arrivals, zeros_dropped(batch_shape))

    @property
    def capacity(self) -> int:
        return self.arrival_step.shape[-1]

    @property
    def pending(self) -> jax.Array:
        return count_pending(self.arrival_step)

    def _kept(self, arrival_step: jax.Array, lost: jax.Array | None = None):
        """This queue holding ``arrival_step``, with ``lost`` events added to ``dropped``."""
        dropped = self.dropped if lost is None else count_drop(self.dropped, lost)
        return type(self)(arrival_step, dropped)
