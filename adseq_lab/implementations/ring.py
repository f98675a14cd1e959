"""Ring: an event count per time slot, ``max_delay_steps + 1`` slots; lossless within max delay."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from .base import (
    EventQueue,
    add_at,
    as_arrival,
    as_step,
    check_max_delay,
    count_drop,
    count_with_tangent,
    key_dtype,
    queue_dataclass,
    read,
    write,
    zeros_dropped,
)
from .time_slots import slot_of

__all__ = ["Ring"]


@queue_dataclass
class Ring(EventQueue):
    """Fields (``S = max_delay_steps + 1`` slots):

    - ``count``: events due per slot, ``batch_shape + (S,)`` (float32 with grad, else int32);
    - ``arrival_sum``: with grad, the sum of the slot's arrival steps, whose tangent is the sum of
      the events' tangents (the payload that moves with the count); ``None`` without grad;
    - ``popped_until``: last popped step, int32; ``dropped``: events beyond reach, int32.

    Memory grows with the maximum delay, not with the number of events.
    """

    count: jax.Array
    arrival_sum: jax.Array | None
    popped_until: jax.Array
    dropped: jax.Array

    @classmethod
    def init(
        cls, max_delay_steps: int | None = None, grad: bool = False, batch_shape: tuple = ()
    ) -> Ring:
        max_delay_steps = check_max_delay(max_delay_steps, "Ring")
        if max_delay_steps is None:
            raise ValueError("Ring: max_delay_steps (a non-negative integer) sizes its slots")
        shape = tuple(batch_shape) + (max_delay_steps + 1,)
        dtype = key_dtype(grad)
        return cls(
            jnp.zeros(shape, dtype),
            jnp.zeros(shape, jnp.float32) if grad else None,
            jnp.full(batch_shape, -1, jnp.int32),
            zeros_dropped(batch_shape),
        )

    @property
    def slots(self) -> int:
        return self.count.shape[-1]

    @property
    def pending(self) -> jax.Array:
        return jnp.sum(self.count, axis=-1).astype(jnp.int32)

    def enqueue(self, arrival_step: Any, when: Any = True) -> Ring:
        when = jnp.asarray(when, bool)
        arrival = as_arrival(arrival_step, self.count.dtype)
        slot, in_reach = slot_of(arrival, self.popped_until, self.slots)
        stored = when & in_reach
        position = jnp.where(stored, slot, self.slots)
        arrival_sum = self.arrival_sum
        if arrival_sum is not None:
            arrival_sum = add_at(arrival_sum, position, arrival)
        return dataclasses.replace(
            self,
            count=add_at(self.count, position, jnp.ones((), self.count.dtype)),
            arrival_sum=arrival_sum,
            dropped=count_drop(self.dropped, when & ~in_reach),
        )

    def pop(self, step: Any) -> tuple[Ring, jax.Array]:
        step = as_step(step)
        slot = step % self.slots
        hit = read(self.count, slot, 0)
        arrival_sum = self.arrival_sum
        if arrival_sum is not None:
            hit = count_with_tangent(hit, read(arrival_sum, slot, 0.0))
            arrival_sum = write(arrival_sum, slot, jnp.zeros((), arrival_sum.dtype))
        queue = dataclasses.replace(
            self,
            count=write(self.count, slot, jnp.zeros((), self.count.dtype)),
            arrival_sum=arrival_sum,
            popped_until=jnp.broadcast_to(step, self.popped_until.shape),
        )
        return queue, hit
