"""Strict mode: turn dropped events into errors, inside ``jit`` (via checkify) or outside.

>>> import jax, jax.numpy as jnp
>>> from adseq_lab import FIFORing, strict
>>> def run(t):
...     q = FIFORing.sized(1).init(8).enqueue(t).enqueue(t + 1)
...     strict.check_dropped(q.dropped)
...     return q.pending
>>> strict.strict(jax.jit)(run)(3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
adseq_lab.strict.DroppedEventsError: 1 event(s) dropped (capacity overflow or out-of-reach ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.experimental import checkify

__all__ = ["DroppedEventsError", "check_dropped", "strict", "raise_if_dropped"]


class DroppedEventsError(RuntimeError):
    """Raised by :func:`raise_if_dropped` when a queue lost events."""


def check_dropped(dropped: Any) -> None:
    """A checkify check that no event was dropped (``dropped``: any int array or pytree of them).

    Inert unless the function is transformed by :func:`strict` (or ``checkify.checkify``).
    """
    total = sum(jnp.sum(leaf) for leaf in jax.tree.leaves(dropped))
    checkify.check(
        total == 0,
        "{total} event(s) dropped (capacity overflow or out-of-reach arrival)",
        total=total,
    )


def strict(transform: Callable[[Callable], Callable] = lambda f: f) -> Callable:
    """Decorator factory: ``strict(jax.jit)(fn)`` runs ``fn`` with its ``check_dropped`` checks
    active and raises :class:`DroppedEventsError` on a failed one."""

    def decorate(fn: Callable) -> Callable:
        checked = transform(checkify.checkify(fn))

        @functools.wraps(fn)
        def run(*args, **kwargs):
            error, out = checked(*args, **kwargs)
            message = error.get()
            if message:
                raise DroppedEventsError(message.splitlines()[0])
            return out

        return run

    return decorate


def raise_if_dropped(*queues: Any) -> None:
    """Outside ``jit``: raise :class:`DroppedEventsError` if any of ``queues`` dropped events."""
    total = sum(int(jnp.sum(q.dropped)) for q in queues)
    if total:
        raise DroppedEventsError(
            f"{total} event(s) dropped (capacity overflow or out-of-reach arrival)"
        )
