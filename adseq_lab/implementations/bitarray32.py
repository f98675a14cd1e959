"""BitArray32: 32 one-bit time slots in an int32; no gradients; delays under 32 steps only."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from .base import EventQueue, as_step, check_max_delay, count_drop, queue_dataclass, zeros_dropped
from .time_slots import slot_of

__all__ = ["BitArray32"]

SLOTS = 32


@queue_dataclass
class BitArray32(EventQueue):
    """Fields: ``bits`` (int32, one bit per slot), ``popped_until``, ``dropped`` (int32 each,
    ``batch_shape``). A second event for an occupied slot, or one 32 or more steps ahead, is
    dropped and counted."""

    supports_grad = False

    bits: jax.Array
    popped_until: jax.Array
    dropped: jax.Array

    @classmethod
    def init(
        cls, max_delay_steps: int | None = None, grad: bool = False, batch_shape: tuple = ()
    ) -> BitArray32:
        check_max_delay(max_delay_steps, "BitArray32", upper=SLOTS - 1)
        if grad:
            raise ValueError("BitArray32: grad must be False (integer-only queue, no tangents)")
        return cls(
            jnp.zeros(batch_shape, jnp.int32),
            jnp.full(batch_shape, -1, jnp.int32),
            zeros_dropped(batch_shape),
        )

    @property
    def pending(self) -> jax.Array:
        return jax.lax.population_count(self.bits)

    def enqueue(self, arrival_step: Any, when: Any = True) -> BitArray32:
        when = jnp.asarray(when, bool)
        slot, in_reach = slot_of(jnp.asarray(arrival_step), self.popped_until, SLOTS)
        bit = jnp.left_shift(jnp.int32(1), slot)
        occupied = (self.bits & bit) != 0
        stored = when & in_reach & ~occupied
        return dataclasses.replace(
            self,
            bits=jnp.where(stored, self.bits | bit, self.bits),
            dropped=count_drop(self.dropped, when & ~stored),
        )

    def pop(self, step: Any) -> tuple[BitArray32, jax.Array]:
        step = as_step(step)
        slot = step % SLOTS
        hit = jnp.right_shift(self.bits, slot) & 1
        queue = dataclasses.replace(
            self,
            bits=self.bits & ~jnp.left_shift(jnp.int32(1), slot),
            popped_until=jnp.broadcast_to(step, self.popped_until.shape),
        )
        return queue, hit
