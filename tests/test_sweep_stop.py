"""Stopping a sweep early (``stop`` event) keeps the rows finished by then, locally and on Dask
(where the queued and running tasks are cancelled); an unreachable scheduler is a clear
``ConnectionError``; bad ``stop``/``connect_timeout_s`` arguments are refused."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pd = pytest.importorskip("pandas")  # the [dask] or [lab] extra

from adseq_lab import sweep  # noqa: E402

SMALL = dict(queue="fifo_ring", n_neurons=6, steps=60, repeats=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_stop_keeps_the_rows_finished_before_it():
    points = sweep.grid(seed=[0, 1, 2, 3], **SMALL)
    stop = threading.Event()
    seen = []

    def press_stop_after_two(row):
        seen.append(row)
        if len(seen) == 2:
            stop.set()

    table = sweep.sweep(points, progress=False, on_row=press_stop_after_two, stop=stop)
    assert list(table["seed"]) == [0, 1] and len(seen) == 2
    full = sweep.sweep(points, progress=False)
    columns = list(sweep.MEASURED_COLUMNS)
    pd.testing.assert_frame_equal(
        table.drop(columns=columns), full.drop(columns=columns).iloc[:2].reset_index(drop=True)
    )
    assert list(sweep.iter_sweep(points, stop=stop)) == []  # set before the start: no row


def test_bad_stop_and_timeout_arguments_are_refused():
    with pytest.raises(ValueError, match="stop must be a threading.Event"):
        sweep.iter_sweep([SMALL], stop=True)
    with pytest.raises(ValueError, match="connect_timeout_s must be a number > 0"):
        sweep.iter_sweep([SMALL], connect_timeout_s=0)


def test_unreachable_scheduler_is_a_connection_error():
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at {address}"):
        sweep.sweep([SMALL], scheduler=address, progress=False, connect_timeout_s=1)


RELEASE = threading.Event()
BLOCKED = threading.Event()
STARTED: list[int] = []


def first_task_only_metrics(result, net, params):
    """The first task to run returns at once; every later one blocks until released."""
    STARTED.append(net.n_neurons)
    if len(STARTED) > 1:
        BLOCKED.set()
        RELEASE.wait(120)
    return {}


def test_dask_stop_cancels_the_waiting_and_running_tasks():
    distributed = pytest.importorskip("distributed")
    points = sweep.grid(seed=[0, 1, 2, 3], **SMALL)
    stop, first_row = threading.Event(), threading.Event()
    rows = []
    cluster = distributed.LocalCluster(
        processes=False,
        n_workers=1,
        threads_per_worker=1,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    )
    try:

        def press_stop_while_the_next_task_runs():
            first_row.wait(60)
            BLOCKED.wait(60)
            stop.set()

        def receive(row):
            rows.append(row)
            first_row.set()

        threading.Thread(target=press_stop_while_the_next_task_runs, daemon=True).start()
        started = time.monotonic()
        table = sweep.sweep(
            points,
            scheduler=cluster.scheduler_address,
            progress=False,
            metrics=first_task_only_metrics,
            on_row=receive,
            stop=stop,
        )
        waited = time.monotonic() - started
        assert stop.is_set() and len(table) == len(rows) == 1
        assert waited < 100, "the sweep waited for the blocked task instead of stopping"
        deadline = time.monotonic() + 20
        while any(str(key).startswith("adseq-sweep") for key in cluster.scheduler.tasks):
            assert time.monotonic() < deadline, list(cluster.scheduler.tasks)
            time.sleep(0.05)
        assert "adseq-sweep" in cluster.scheduler.task_prefixes  # it did run there
        RELEASE.set()
        time.sleep(1.0)
        assert len(STARTED) == 2  # the cancelled tasks never started
    finally:
        RELEASE.set()
        cluster.close()
