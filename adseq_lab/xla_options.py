"""XLA compiler options that make adseq-lab's time loops faster on CPU.

XLA's CPU backend (jaxlib 0.10) hands small reductions to its YNN library fusions; inside a
``lax.scan`` of spiking-network steps they cost far more than XLA's own loops (per-synapse
queues: ~10x per step forward, the per-neuron arrangement ~3x; adseq 0.9.4's programs are
unaffected). :data:`CPU_OPTIONS` switches them off for one compiled program:

>>> import jax
>>> from adseq_lab import xla_options
>>> fast = xla_options.jit(lambda x: x.sum(axis=0))
>>> float(fast(jax.numpy.ones((3, 2)))[0])
3.0

For a whole process set the environment before JAX starts:
``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` (:data:`CPU_XLA_FLAG`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

__all__ = ["CPU_OPTIONS", "CPU_XLA_FLAG", "compiler_options", "jit"]

CPU_OPTIONS: dict[str, str] = {"xla_cpu_experimental_ynn_fusion_type": ""}
CPU_XLA_FLAG = "--xla_cpu_experimental_ynn_fusion_type="


def compiler_options(backend: str | None = None) -> dict[str, str] | None:
    """:data:`CPU_OPTIONS` for the CPU backend (default: JAX's default backend), else ``None``."""
    return CPU_OPTIONS if (backend or jax.default_backend()) == "cpu" else None


def jit(fn: Callable, **kwargs: Any) -> Callable:
    """``jax.jit(fn, **kwargs)`` with :func:`compiler_options` for the default backend."""
    return jax.jit(fn, compiler_options=compiler_options(), **kwargs)
