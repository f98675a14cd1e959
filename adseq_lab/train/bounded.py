"""Bounded delay parametrisation: an unconstrained parameter mapped onto ``[0, max_delay_ms]``.

``delay = max_delay_ms * sigmoid(raw)`` never leaves the range the queues were sized for (the
original's ``max_delay * (1 + tanh(raw))`` reaches twice the maximum). Optimise ``raw``; read the
delay with :func:`bounded_delay`; start from given delays with :func:`raw_delay`.

>>> import jax.numpy as jnp
>>> d = bounded_delay(jnp.array([-1e9, 0.0, 1e9]), 4.0)
>>> [float(x) for x in d]
[0.0, 2.0, 4.0]
>>> float(bounded_delay(raw_delay(jnp.float32(1.0), 4.0), 4.0))  # doctest: +ELLIPSIS
1.0...
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["bounded_delay", "raw_delay"]


def _check_max(max_delay_ms: float) -> float:
    try:
        value = float(max_delay_ms)
    except (TypeError, ValueError):
        raise ValueError(
            f"max_delay_ms must be a positive delay (ms), got {max_delay_ms!r}"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"max_delay_ms must be a positive delay (ms), got {max_delay_ms}")
    return value


def bounded_delay(raw: jax.Array, max_delay_ms: float) -> jax.Array:
    """``max_delay_ms * sigmoid(raw)`` (ms), inside ``[0, max_delay_ms]`` for every raw value
    (infinities included); the derivative is ``delay * (1 - delay / max_delay_ms)``."""
    top = _check_max(max_delay_ms)
    return jnp.clip(top * jax.nn.sigmoid(jnp.asarray(raw, jnp.float32)), 0.0, top)


def raw_delay(delay_ms: jax.Array, max_delay_ms: float, margin: float = 1e-3) -> jax.Array:
    """The raw value whose :func:`bounded_delay` is ``delay_ms`` (clipped into
    ``[margin, 1 - margin] * max_delay_ms`` so the result is finite and keeps a gradient)."""
    top = _check_max(max_delay_ms)
    if not 0 < margin < 0.5:
        raise ValueError(f"margin must lie in (0, 0.5), got {margin}")
    fraction = jnp.clip(jnp.asarray(delay_ms, jnp.float32) / top, margin, 1.0 - margin)
    return jnp.log(fraction) - jnp.log1p(-fraction)
