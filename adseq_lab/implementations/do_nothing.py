"""DoNothing: holds nothing; every event is dropped (and counted). A timing baseline."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from .base import EventQueue, count_drop, key_dtype, queue_dataclass, zeros_dropped

__all__ = ["DoNothing"]


@queue_dataclass
class DoNothing(EventQueue):
    """Drops every event. ``dropped``: int32 ``batch_shape``; ``pop`` never hits."""

    dropped: jax.Array
    grad: bool = dataclasses.field(default=False, metadata=dict(static=True))

    @classmethod
    def init(
        cls, max_delay_steps: int | None = None, grad: bool = False, batch_shape: tuple = ()
    ) -> DoNothing:
        return cls(zeros_dropped(batch_shape), bool(grad))

    @property
    def pending(self) -> jax.Array:
        return jnp.zeros_like(self.dropped)

    def enqueue(self, arrival_step: Any, when: Any = True) -> DoNothing:
        del arrival_step
        return DoNothing(count_drop(self.dropped, jnp.asarray(when)), self.grad)

    def pop(self, step: Any) -> tuple[DoNothing, jax.Array]:
        del step
        return self, jnp.zeros(self.dropped.shape, key_dtype(self.grad))
