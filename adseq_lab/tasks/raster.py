"""Spike rasters of a task's network: every population of one simulation on one neuron axis.

A task's raster function (:func:`adseq_lab.tasks.spike_timing.spike_timing_raster`,
:func:`adseq_lab.tasks.yinyang.yinyang_raster`) simulates its network for given parameters and
returns a :class:`Raster`: the input spikes first, then each layer's, population ``i``'s neuron
``j`` at index ``first_i + j``. Plot it with :func:`adseq_lab.plotting.raster`.

>>> import numpy as np
>>> inputs = np.array([[0.0, -1.0], [-1.0, 0.1]], np.float32)  # (T=2, 2 inputs), ms
>>> neuron = np.array([[-1.0], [0.1]], np.float32)
>>> r = Raster.from_tables((("inputs", inputs), ("neuron", neuron)), dt_ms=0.1)
>>> r.neurons.tolist(), r.times_ms.tolist(), r.n_neurons, r.duration_ms
([0, 1, 2], [0.0, 0.10000000149011612, 0.10000000149011612], 3, 0.2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

__all__ = ["Raster"]


@dataclasses.dataclass(frozen=True)
class Raster:
    """``times_ms`` ``(k,)`` float32 and ``neurons`` ``(k,)`` int64 of every spike (population by
    population, in time order within each); ``groups``: ``(name, first, stop)`` neuron index
    range of each population; ``duration_ms``: the simulated window."""

    times_ms: np.ndarray
    neurons: np.ndarray
    groups: tuple[tuple[str, int, int], ...]
    duration_ms: float

    @property
    def n_neurons(self) -> int:
        return self.groups[-1][2] if self.groups else 0

    def __len__(self) -> int:
        return len(self.times_ms)

    def describe(self) -> str:
        """The populations and their neuron ranges, e.g. ``"inputs 0–4 · hidden 5–24"``."""
        return " · ".join(f"{name} {first}–{stop - 1}" for name, first, stop in self.groups)

    @classmethod
    def from_tables(cls, tables: Sequence[tuple[str, np.ndarray]], dt_ms: float) -> Raster:
        """From ``(name, spike_ms)`` pairs, ``spike_ms`` ``(T, n)`` (ms where a neuron spiked in
        that step, negative where not: the layout of :attr:`adseq_lab.network.SimResult.spike_ms`
        and of input tables); every table needs the same ``T``."""
        if not tables:
            raise ValueError("tables must hold at least one (name, spike_ms) population")
        lengths = {np.shape(table)[0] for _, table in tables}
        if len(lengths) != 1 or any(np.ndim(table) != 2 for _, table in tables):
            raise ValueError("tables must be (T, n) arrays with one common T")
        times, neurons, groups, first = [], [], [], 0
        for name, table in tables:
            table = np.asarray(table, np.float32)
            steps, index = np.nonzero(table >= 0)
            times.append(table[steps, index])
            neurons.append(first + index.astype(np.int64))
            groups.append((str(name), first, first + table.shape[1]))
            first += table.shape[1]
        return cls(
            times_ms=np.concatenate(times),
            neurons=np.concatenate(neurons),
            groups=tuple(groups),
            duration_ms=float(lengths.pop() * dt_ms),
        )
