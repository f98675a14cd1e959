"""Slot arithmetic of the time-slot kinds (Ring, BitArray32): slot = arrival step mod slots.

A time-slot queue must be popped every step. It remembers the last popped step, so an event
that would land beyond the slots' reach (and wrap around to arrive early) is dropped and
counted, and an event already overdue is delivered at the next pop.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def slot_of(arrival_step: jax.Array, popped_until: jax.Array, slots: int):
    """``(slot, in_reach)`` of an event: its slot, and whether ``slots`` can hold it."""
    step = (
        jnp.ceil(arrival_step).astype(jnp.int32)
        if not jnp.issubdtype(arrival_step.dtype, jnp.integer)
        else arrival_step.astype(jnp.int32)
    )
    step = jnp.maximum(step, popped_until + 1)
    return step % slots, step <= popped_until + slots
