"""SingleSpike: one pending event; a newer one replaces it (the replaced one counts as dropped)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .base import (
    EventQueue,
    as_arrival,
    count_drop,
    key_dtype,
    never,
    pop_due,
    queue_dataclass,
    zeros_dropped,
)

__all__ = ["SingleSpike"]


@queue_dataclass
class SingleSpike(EventQueue):
    """``arrival_step``: float32 (grad) or int32, ``batch_shape``; ``dropped``: int32."""

    arrival_step: jax.Array
    dropped: jax.Array

    @classmethod
    def init(
        cls, max_delay_steps: int | None = None, grad: bool = False, batch_shape: tuple = ()
    ) -> SingleSpike:
        dtype = key_dtype(grad)
        return cls(jnp.full(batch_shape, never(dtype), dtype), zeros_dropped(batch_shape))

    @property
    def pending(self) -> jax.Array:
        return (self.arrival_step != never(self.arrival_step.dtype)).astype(jnp.int32)

    def enqueue(self, arrival_step: Any, when: Any = True) -> SingleSpike:
        when = jnp.asarray(when, bool)
        arrival = as_arrival(arrival_step, self.arrival_step.dtype)
        return type(self)(
            jnp.where(when, arrival, self.arrival_step),
            count_drop(self.dropped, when & (self.pending > 0)),
        )

    def pop(self, step: Any) -> tuple[SingleSpike, jax.Array]:
        remaining, hit = pop_due(self.arrival_step, step, per_slot=True)
        return type(self)(remaining, self.dropped), hit
