"""Parameter sweeps: one network simulation per grid point, in-process or on a Dask cluster,
collected into a tidy table (one row per grid point).

A *point* is a dict of plain scalars: the sweep settings below plus any keyword of
:func:`adseq_lab.network.build_network` that takes a scalar (``connection_prob``,
``weight_scale``, ``tau_mem_ms``, ``history``, ...). :func:`grid` builds the cartesian product of
axes; :func:`complete` fills the defaults of :data:`DEFAULTS`. Sweep settings:

- ``queue``, ``capacity``: queue kind (:mod:`adseq_lab.queues` name) and its capacity
  (``None`` for kinds without one); ``n_neurons``; ``steps``;
- ``seed``: the only source of randomness. Network and drive are drawn from
  ``jax.random.key(seed)``, so points that differ only in the queue kind (or any setting that
  does not change the draws) simulate the same network and drive: comparisons are paired;
- ``current`` (LIF: voltage per ms) and ``current_spread``: each neuron gets a constant current
  ``current * (1 + current_spread * u)``, ``u ~ U(-1, 1)``; ``n_inputs`` Poisson inputs at
  ``input_rate_hz``;
- ``max_delay_ms``: ``None`` means ``2 * delay_ms`` (symmetric clipping of the delay draws);
- ``repeats``: timed runs after the first (0: no timing).

:func:`run_point` is the task: plain dict in, plain dict (Python scalars) out, so workers need
nothing but ``adseq_lab``. A row holds the completed point, ``point_id`` (a hash of it), the
results (``spikes``, ``mean_rate_hz``, ``active_fraction``, ``first_spike_ms_mean``,
``dropped``, ``pending_end``, ``pending_max``, ``clamped_delays``, ``raster_sha1``, XLA's
``peak_bytes``) and the measurements of :data:`MEASURED_COLUMNS` (timings and the process that
ran it), the only columns that differ between a local and a Dask run of the same grid.

>>> from adseq_lab import sweep
>>> kinds = ["ring", "fifo_ring"]
>>> points = sweep.grid(queue=kinds, n_neurons=10, steps=120, current=0.3, repeats=0)
>>> table = sweep.sweep(points, progress=False)
>>> table["spikes"].tolist(), table["raster_sha1"].nunique()  # lossless kinds: same raster
([25, 25], 1)
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from . import inputs, network, queues

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

__all__ = [
    "DEFAULTS",
    "MEASURED_COLUMNS",
    "Metrics",
    "SweepError",
    "complete",
    "grid",
    "iter_sweep",
    "point_id",
    "run_point",
    "sweep",
    "to_frame",
]

Scalar = bool | int | float | str | None
Metrics = Callable[[network.SimResult, network.Network, network.NetworkParams], Mapping[str, Any]]
"""Extra per-row metrics, computed in the worker: ``metrics(result, net, params) -> {name:
scalar}``. Must be importable by the workers (a module-level function)."""

SWEEP_SETTINGS: dict[str, Scalar] = {
    "queue": "fifo_ring",
    "capacity": 4,
    "n_neurons": 20,
    "steps": 200,
    "seed": 0,
    "current": 0.15,
    "current_spread": 0.1,
    "input_rate_hz": 100.0,
    "repeats": 3,
}
NETWORK_DEFAULTS: dict[str, Scalar] = {
    "dt_ms": 0.1,
    "delay_ms": 1.0,
    "delay_spread_ms": 0.3,
    "max_delay_ms": None,
    "connection_prob": 0.5,
    "weight_scale": 0.1,
    "arrangement": "per_synapse",
    "history": 4,
    "n_inputs": 0,
}
DEFAULTS: dict[str, Scalar] = {**SWEEP_SETTINGS, **NETWORK_DEFAULTS}
"""Every point is completed with these values (see the module docstring)."""

_NOT_SWEPT = {"key", "n_neurons", "queue", "capacity", "record_voltage", "checkpoint", "adex"}
NETWORK_KEYS: tuple[str, ...] = tuple(
    name for name in inspect.signature(network.build_network).parameters if name not in _NOT_SWEPT
)
"""Keywords of :func:`~adseq_lab.network.build_network` a point may set."""
FLOAT_KEYS: frozenset[str] = frozenset(
    [name for name, value in SWEEP_SETTINGS.items() if isinstance(value, float)]
    + [
        name
        for name, parameter in inspect.signature(network.build_network).parameters.items()
        if name in NETWORK_KEYS and "float" in str(parameter.annotation)
    ]
)
"""Settings stored as floats (an int given for them is converted, so ids do not differ)."""

RESULT_COLUMNS: tuple[str, ...] = (
    "spikes",
    "mean_rate_hz",
    "active_fraction",
    "first_spike_ms_mean",
    "dropped",
    "pending_end",
    "pending_max",
    "clamped_delays",
    "raster_sha1",
    "peak_bytes",
)
MEASURED_COLUMNS: tuple[str, ...] = ("us_per_step", "compile_s", "wall_s", "process")
"""Columns that depend on the machine and the moment (everything else is reproducible)."""
STOP_POLL_S = 0.1
"""How often a Dask sweep waiting for its next row checks its ``stop`` event (seconds)."""


class SweepError(RuntimeError):
    """Some grid points failed (after Dask's retries). ``failures``: ``(point, error text)``;
    every other row was delivered before this is raised."""

    def __init__(self, failures: list[tuple[dict[str, Scalar], str]]):
        self.failures = failures
        lines = [f"{point_id(p)} {_describe(p)}: {error}" for p, error in failures[:5]]
        more = f"\n... and {len(failures) - 5} more" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} grid point(s) failed:\n" + "\n".join(lines) + more)


def _describe(point: Mapping[str, Scalar]) -> str:
    keys = ("queue", "capacity", "n_neurons", "seed")
    return " ".join(f"{k}={point.get(k)}" for k in keys)


def _scalar(name: str, value: Any) -> Scalar:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
        return value
    raise ValueError(f"{name} must be a scalar (bool, int, float, str or None), got {value!r}")


def _integer(point: dict, name: str, minimum: int) -> None:
    value = point[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def complete(point: Mapping[str, Any]) -> dict[str, Scalar]:
    """The point with every default filled in and settings that do not apply set to ``None``
    (``capacity`` of kinds without one, ``queue``/``capacity`` for ``per_neuron``, ``history``
    for ``per_synapse``, ``input_rate_hz`` without inputs). ``ValueError`` for unknown names
    (listing the known ones) and out-of-range values."""
    unknown = sorted(set(point) - set(SWEEP_SETTINGS) - set(NETWORK_KEYS))
    if unknown:
        known = ", ".join(sorted(set(SWEEP_SETTINGS) | set(NETWORK_KEYS)))
        raise ValueError(f"unknown sweep parameter(s) {unknown}; known: {known}")
    full = dict(DEFAULTS)
    full.update({name: _scalar(name, value) for name, value in point.items()})
    for name in FLOAT_KEYS:
        value = full.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            full[name] = float(value)
    _integer(full, "n_neurons", 1)
    _integer(full, "steps", 1)
    _integer(full, "seed", 0)
    if full["seed"] >= 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {full['seed']}")
    _integer(full, "repeats", 0)
    _integer(full, "n_inputs", 0)
    if full["arrangement"] not in network.ARRANGEMENTS:
        raise ValueError(
            f"arrangement must be one of {', '.join(network.ARRANGEMENTS)}, "
            f"got {full['arrangement']!r}"
        )
    if full["arrangement"] == "per_neuron":
        full["queue"] = full["capacity"] = None
        _integer(full, "history", 1)
    else:
        full["history"] = None
        if full["queue"] not in queues.names():
            raise ValueError(
                f"queue must be one of {', '.join(queues.names())}, got {full['queue']!r}"
            )
        if not queues.info(full["queue"]).has_capacity:
            full["capacity"] = None
        else:
            _integer(full, "capacity", 1)
    if full["n_inputs"] == 0:
        full["input_rate_hz"] = None
    if full["max_delay_ms"] is None:
        full["max_delay_ms"] = 2.0 * float(full["delay_ms"])
    return full


def point_id(point: Mapping[str, Scalar]) -> str:
    """Stable 16-hex-digit id of a completed point (same on every machine and run)."""
    text = json.dumps(dict(point), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def grid(**axes: Any) -> list[dict[str, Scalar]]:
    """Completed points of the cartesian product of ``axes`` (a name to a value or a sequence of
    values; strings count as single values), in product order, without duplicates.

    >>> [p["n_neurons"] for p in grid(n_neurons=[10, 20], seed=[0, 1])]
    [10, 10, 20, 20]
    """
    names = list(axes)
    values = [
        list(v) if isinstance(v, Sequence) and not isinstance(v, str) else [v]
        for v in axes.values()
    ]
    for name, options in zip(names, values, strict=True):
        if not options:
            raise ValueError(f"axis {name} has no values")
    points, seen = [], set()
    for combination in itertools.product(*values):
        point = complete(dict(zip(names, combination, strict=True)))
        key = point_id(point)
        if key not in seen:
            seen.add(key)
            points.append(point)
    return points


TRACED_KEYS: tuple[str, ...] = (
    "weight_scale",
    "input_weight_scale",
    "current",
    "current_spread",
    "input_rate_hz",
)
"""Settings passed to the draw program as values: sweeping them reuses its compilation."""


def _build(point: Mapping[str, Scalar]) -> tuple[network.Network, network.NetworkParams, Any]:
    """Network, parameters and drive of a completed point, drawn from ``key(seed)``."""
    traced = {k: jnp.float32(point[k]) for k in TRACED_KEYS if point.get(k) is not None}
    static = tuple(sorted((k, v) for k, v in point.items() if k != "seed" and k not in traced))
    return _draw(static, jnp.uint32(point["seed"]), traced)


@functools.partial(jax.jit, static_argnums=0)
def _draw(static: tuple[tuple[str, Scalar], ...], seed: jax.Array, traced: dict[str, jax.Array]):
    """One compiled program per network structure draws every seed's network (eager draws
    would compile each operation separately, seconds per worker process)."""
    point = dict(static) | traced
    n, steps, dt = point["n_neurons"], point["steps"], point["dt_ms"]
    k_net, k_current, k_inputs = jax.random.split(jax.random.key(seed), 3)
    build = {name: point[name] for name in NETWORK_KEYS if point.get(name) is not None}
    if point["arrangement"] == "per_synapse":
        build.update(queue=point["queue"], capacity=point["capacity"])
    net, params = network.build_network(k_net, n, record_voltage=(), checkpoint=None, **build)
    spread = jax.random.uniform(k_current, (n,), minval=-1.0, maxval=1.0)
    amplitude = point["current"] * (1.0 + point["current_spread"] * spread)
    spikes_ms = None
    if point["n_inputs"]:
        rate, n_inputs = point["input_rate_hz"], point["n_inputs"]
        spikes_ms = inputs.poisson_spikes(k_inputs, rate, steps, n_inputs, dt)
    current = inputs.constant_current(steps, n, amplitude, dt)
    return net, params, inputs.Drive(current=current, spikes_ms=spikes_ms)


_simulate = jax.jit(network.simulate)


def run_point(point: Mapping[str, Any], metrics: Metrics | None = None) -> dict[str, Scalar]:
    """Simulate one grid point and return its row (plain Python scalars; see the module
    docstring). The compiled program is reused for points of the same shape in this process."""
    from .bench import measure

    started = time.perf_counter()
    point = complete(point)
    net, params, drive = _build(point)
    compile_start = time.perf_counter()
    executable = _simulate.lower(net, params, drive).compile()
    compile_s = time.perf_counter() - compile_start
    result = jax.block_until_ready(executable(net, params, drive))
    timing = (
        measure.time_per_step(executable, (net, params, drive), point["steps"], point["repeats"])
        if point["repeats"]
        else None
    )
    spikes = np.asarray(result.spikes)
    n, steps = spikes.shape[1], spikes.shape[0]
    per_neuron = spikes.sum(axis=0)
    first = np.asarray(result.first_spike_ms)
    row: dict[str, Scalar] = dict(point)
    row.update(
        point_id=point_id(point),
        spikes=int(per_neuron.sum()),
        mean_rate_hz=float(per_neuron.sum() / (n * steps * point["dt_ms"] / 1000.0)),
        active_fraction=float(np.mean(per_neuron > 0)),
        first_spike_ms_mean=float(first[first >= 0].mean()) if (first >= 0).any() else None,
        dropped=int(np.asarray(result.dropped).sum()),
        pending_end=int(np.asarray(result.pending)[-1]),
        pending_max=int(np.asarray(result.pending).max()),
        clamped_delays=int(result.clamped_delays),
        raster_sha1=hashlib.sha1(np.packbits(spikes).tobytes()).hexdigest(),
        peak_bytes=measure.peak_bytes(executable),
    )
    if metrics is not None:
        for name, value in metrics(result, net, params).items():
            if name in row:
                raise ValueError(f"metrics returned {name!r}, which is already a column")
            row[name] = _scalar(
                name, np.asarray(value).item() if hasattr(value, "shape") else value
            )
    row.update(
        us_per_step=None if timing is None else float(timing["median_us"]),
        compile_s=compile_s,
        wall_s=time.perf_counter() - started,
        process=f"{socket.gethostname()}:{os.getpid()}",
    )
    return row


def _worker_version() -> str:
    from . import __version__

    return __version__


def _client(scheduler: str | Client, connect_timeout_s: float) -> tuple[Client, bool]:
    """The client to use and whether it is ours to close."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(scheduler, timeout=f"{connect_timeout_s}s"), True
    except OSError as error:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout_s:g} s "
            f"({error}); is `dask scheduler` running there and the address right?"
        ) from error


def _check_versions(client: Client) -> None:
    local = _worker_version()
    remote = client.run(_worker_version)
    wrong = {worker: v for worker, v in remote.items() if v != local}
    if wrong:
        raise RuntimeError(f"workers run another adseq-lab version than {local}: {wrong}")


def iter_sweep(
    points: Iterable[Mapping[str, Any]],
    *,
    scheduler: str | Client | None = None,
    retries: int = 2,
    metrics: Metrics | None = None,
    progress: bool = False,
    stop: threading.Event | None = None,
    connect_timeout_s: float = 30.0,
) -> Iterator[dict[str, Scalar]]:
    """Yield one row per point as each finishes (completion order).

    ``scheduler``: ``None`` runs the points here one after another; an address
    (``tcp://host:port``) or a ``distributed.Client`` submits each point as a task with
    ``retries`` (a task that raises is retried; a task lost with its worker is rescheduled by
    Dask, up to ``distributed.scheduler.allowed-failures`` times). Stopping the iteration cancels
    what is still queued. Points that still fail are collected and raised together as
    :class:`SweepError` once every other row has been yielded. Bad points and arguments raise
    ``ValueError`` here, before anything runs.

    ``stop``: once this event is set (from any thread) no further row is yielded: locally after
    the point in progress, on Dask within :data:`STOP_POLL_S` seconds, cancelling the queued and
    running tasks. An address that does not answer within ``connect_timeout_s`` seconds raises
    ``ConnectionError``.
    """
    points = [complete(p) for p in points]
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if stop is not None and not isinstance(stop, threading.Event):
        raise ValueError(f"stop must be a threading.Event or None, got {stop!r}")
    if isinstance(connect_timeout_s, bool) or not (
        isinstance(connect_timeout_s, int | float) and connect_timeout_s > 0
    ):
        raise ValueError(f"connect_timeout_s must be a number > 0, got {connect_timeout_s!r}")
    if scheduler is not None and not (isinstance(scheduler, str) and "://" in scheduler):
        from distributed import Client

        if not isinstance(scheduler, Client):
            raise ValueError(
                "scheduler must be an address such as tcp://127.0.0.1:8786 or a "
                f"distributed.Client, got {scheduler!r}"
            )
    dask = dict(scheduler=scheduler, retries=retries, connect_timeout_s=connect_timeout_s)
    return _rows(points, metrics, progress, stop, dask)


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _rows(points, metrics, progress, stop, dask) -> Iterator[dict[str, Scalar]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(points), desc="sweep", unit="run", disable=not progress)
    failures: list[tuple[dict[str, Scalar], str]] = []
    try:
        if dask["scheduler"] is None:
            for point in points:
                if _stopped(stop):
                    break
                try:
                    row = run_point(point, metrics)
                except Exception as error:  # noqa: BLE001 - reported together in SweepError
                    failures.append((point, f"{type(error).__name__}: {error}"))
                else:
                    yield row
                bar.update()
        else:
            yield from _iter_dask(points, metrics, bar, failures, stop, **dask)
    finally:
        bar.close()
    if failures:
        raise SweepError(failures)


def _finished(futures: list, stop: threading.Event | None) -> Iterator:
    """``futures`` as they finish, until every one has or ``stop`` is set."""
    from distributed import as_completed

    completed = as_completed(futures)
    while not completed.is_empty() and not _stopped(stop):
        if stop is None or completed.has_ready():
            yield next(completed)
        else:
            stop.wait(STOP_POLL_S)


def _iter_dask(
    points, metrics, bar, failures, stop, *, scheduler, retries, connect_timeout_s
) -> Iterator[dict[str, Scalar]]:
    client, owned = _client(scheduler, connect_timeout_s)
    futures = {}
    try:
        _check_versions(client)
        token = uuid.uuid4().hex[:8]
        for point in points:
            future = client.submit(
                run_point,
                point,
                metrics,
                key=f"adseq-sweep-{point_id(point)}-{token}",
                retries=retries,
                pure=False,
            )
            futures[future.key] = (future, point)
        for future in _finished([f for f, _ in futures.values()], stop):
            point = futures.pop(future.key)[1]
            if future.status == "finished":
                yield future.result()
            elif future.status == "error":
                error = future.exception()
                failures.append((point, f"{type(error).__name__}: {error}"))
            else:
                failures.append((point, f"task {future.status}"))
            future.release()
            bar.update()
    finally:
        if futures:
            client.cancel([f for f, _ in futures.values()])
        if owned:
            client.close()


def to_frame(rows: Iterable[Mapping[str, Scalar]], points: Sequence[Mapping] | None = None):
    """Rows as a DataFrame, in the order of ``points`` (grid order) when given. Integer columns
    with missing values (``capacity`` of kinds without one) get pandas' nullable ``Int64``."""
    import pandas as pd

    rows = list(rows)
    if points is not None:
        order = {point_id(complete(p)): i for i, p in enumerate(points)}
        rows.sort(key=lambda row: order.get(row["point_id"], len(order)))
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        values = [row.get(column) for row in rows]
        present = [v for v in values if v is not None]
        integers = all(isinstance(v, int) and not isinstance(v, bool) for v in present)
        if present and integers and len(present) < len(values):
            frame[column] = pd.array(values, dtype="Int64")
    return frame


def sweep(
    points: Iterable[Mapping[str, Any]],
    *,
    scheduler: str | Client | None = None,
    retries: int = 2,
    metrics: Metrics | None = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Scalar]], Any] | None = None,
    stop: threading.Event | None = None,
    connect_timeout_s: float = 30.0,
) -> pd.DataFrame:
    """Run every point (see :func:`iter_sweep`) and return the table in grid order.

    ``on_row(row)`` is called with each row as it arrives (e.g. to update a plot or append to a
    file); with Dask the rows arrive in completion order. On :class:`SweepError` the finished rows
    have all been passed to ``on_row``. Setting ``stop`` ends the sweep early: the table holds
    the rows finished by then.
    """
    points = list(points)
    rows = []
    for row in iter_sweep(
        points,
        scheduler=scheduler,
        retries=retries,
        metrics=metrics,
        progress=progress,
        stop=stop,
        connect_timeout_s=connect_timeout_s,
    ):
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return to_frame(rows, points)
