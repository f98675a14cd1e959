"""Sweeps on a real Dask cluster on loopback: a scheduler and two single-thread workers started as
processes (``dask scheduler`` / ``dask worker``), the sweep run through ``adseq-lab sweep
--scheduler``. The rows equal the local in-process sweep (apart from timings and the process),
and killing a worker mid-sweep loses nothing. Every process started here is stopped (process
groups), whatever happens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")  # the [dask] extra
pd = pytest.importorskip("pandas")

from adseq_lab import sweep  # noqa: E402
from adseq_lab.sweep_store import RowStore  # noqa: E402

DASK = str(Path(sys.executable).with_name("dask"))
# 6 points, one network shape per queue kind; repeats make each task last long enough to kill a
# worker while others are still queued
GRID = dict(queue=["fifo_ring"], capacity=[2], n_neurons=[12], steps=[150], seed=list(range(6)))
REPEATS = 400
CLI_ARGS = ["--queues", "fifo_ring", "--capacities", "2", "--sizes", "12", "--steps", "150"]
CLI_ARGS += ["--seeds", "0,1,2,3,4,5", "--repeats", str(REPEATS), "--no-progress"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and workers as process groups; ``stop`` ends every one of them."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.workers: list[subprocess.Popen] = []
        self.processes: list[subprocess.Popen] = []
        self.env = dict(os.environ, JAX_PLATFORMS="cpu")

    def _spawn(self, name: str, *argv: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            [DASK, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.logs,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def start(self, workers: int) -> None:
        self._spawn(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-dashboard",
            "--idle-timeout",
            "300",
        )
        for i in range(workers):
            self.workers.append(
                self._spawn(
                    f"worker{i}",
                    "worker",
                    self.address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--death-timeout",
                    "60",
                    "--local-directory",
                    str(self.logs),
                )
            )
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the whole process group (nanny and worker)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(process)

    def log(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-2000:]}" for path in self.logs.glob("*.log")
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster for the module (workers keep their compiled programs between the tests); the
    last test kills one of its workers."""
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        running.start(workers=2)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def local_table(tmp_path_factory) -> pd.DataFrame:
    """The same grid run in this process, through the CSV writer the CLI uses."""
    table = sweep.sweep(sweep.grid(**GRID, repeats=REPEATS), progress=False)
    path = tmp_path_factory.mktemp("local") / "local.csv"
    RowStore(path).write(table)
    return comparable(pd.read_csv(path))


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(sweep.MEASURED_COLUMNS)).reset_index(drop=True)


def sweep_command(out: Path, cluster: Cluster) -> list[str]:
    command = [sys.executable, "-m", "adseq_lab.cli", "sweep", *CLI_ARGS]
    return command + ["--scheduler", cluster.address, "--out", str(out)]


def test_cli_sweep_on_cluster_equals_local(cluster, local_table, tmp_path):
    out = tmp_path / "dask.csv"
    done = subprocess.run(
        sweep_command(out, cluster), env=cluster.env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr + cluster.log()
    assert "6 grid points: 0 reused, 6 to run on tcp://127.0.0.1" in done.stdout
    table = pd.read_csv(out)
    assert len(table) == 6 and table["point_id"].is_unique
    assert sorted(table["seed"]) == list(range(6))
    assert table["process"].nunique() == 2  # both workers took part
    assert (table["us_per_step"] > 0).all()
    pd.testing.assert_frame_equal(comparable(table), local_table)


def test_sweep_api_with_a_client_equals_local(cluster, local_table, tmp_path):
    from distributed import Client

    points = sweep.grid(**GRID, repeats=REPEATS)[:3]
    arrived = []
    with Client(cluster.address, timeout="60s") as client:
        table = sweep.sweep(points, scheduler=client, progress=False, on_row=arrived.append)
        assert client.status == "running"  # a client passed in stays open
    assert sorted(row["seed"] for row in arrived) == [0, 1, 2]
    assert list(table["seed"]) == [0, 1, 2]  # grid order, whatever the completion order
    RowStore(tmp_path / "api.csv").write(table)  # the same CSV round trip as the local table
    expected = local_table.iloc[:3].reset_index(drop=True)
    pd.testing.assert_frame_equal(comparable(pd.read_csv(tmp_path / "api.csv")), expected)


def test_killed_worker_loses_no_row(cluster, local_table, tmp_path):
    """Runs last in this module: it kills one of the two workers."""
    assert all(worker.poll() is None for worker in cluster.workers)
    out = tmp_path / "dask.csv"
    sidecar = RowStore(out).sidecar
    client = subprocess.Popen(
        sweep_command(out, cluster),
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (sidecar.exists() and sidecar.read_text().count("\n") >= 1):
            assert client.poll() is None, client.stdout.read() + cluster.log()
            assert time.monotonic() < deadline, "no row arrived"
            time.sleep(0.05)
        cluster.kill(cluster.workers[0])
        rows_at_kill = sidecar.read_text().count("\n")
        output, _ = client.communicate(timeout=300)
    finally:
        if client.poll() is None:
            os.killpg(client.pid, signal.SIGKILL)
            client.wait()
    assert rows_at_kill < 6, "the sweep finished before the worker was killed"
    assert client.returncode == 0, output + cluster.log()
    table = pd.read_csv(out)
    assert sorted(table["seed"]) == list(range(6))
    pd.testing.assert_frame_equal(comparable(table), local_table)
    survivor_rows = table["process"].value_counts()
    assert survivor_rows.max() >= 6 - rows_at_kill  # the rest ran on the surviving worker
