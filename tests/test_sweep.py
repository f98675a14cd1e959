"""Local sweeps (adseq_lab.sweep) and the ``adseq-lab sweep`` command: rows agree with direct
simulations, points are completed and deduplicated, bad input is rejected at the boundary, rows
survive interruption and are reused by ``--resume``."""

from __future__ import annotations

import argparse
import doctest
import hashlib
import importlib.util
import json

import jax
import numpy as np
import pytest

pd = pytest.importorskip("pandas")  # the [dask] or [lab] extra

from adseq_lab import cli, network, sweep, sweep_cli  # noqa: E402
from adseq_lab.sweep_store import RowStore  # noqa: E402

SMALL = dict(n_neurons=10, steps=120, repeats=0)


def test_row_agrees_with_a_direct_simulation():
    point = sweep.complete(dict(SMALL, queue="fifo_ring", capacity=1, seed=3, n_inputs=3))
    row = sweep.run_point(point)
    net, params, drive = sweep._build(point)
    result = jax.jit(network.simulate)(net, params, drive)
    spikes = np.asarray(result.spikes)
    assert row["spikes"] == spikes.sum() > 0
    assert row["raster_sha1"] == hashlib.sha1(np.packbits(spikes).tobytes()).hexdigest()
    assert row["dropped"] == int(np.asarray(result.dropped).sum()) > 0
    assert row["pending_max"] == int(np.asarray(result.pending).max())
    assert row["active_fraction"] == np.mean(spikes.any(axis=0))
    duration_s = SMALL["steps"] * point["dt_ms"] / 1000
    assert row["mean_rate_hz"] == pytest.approx(spikes.sum() / (10 * duration_s))
    assert row["peak_bytes"] > 0 and row["us_per_step"] is None
    assert all(isinstance(row[k], int | float | str | type(None)) for k in row)
    json.dumps(row)  # plain values only


def test_queue_kinds_share_network_and_drive_for_a_seed():
    """Lossless kinds deliver everything: same raster as each other and as per_neuron with a long
    history; a one-slot FIFO drops events and changes the raster; another seed another raster."""
    busy = dict(SMALL, current=0.4, delay_ms=2.0, delay_spread_ms=0.5)
    points = sweep.grid(queue=["ring", "fifo_ring"], capacity=8, seed=[0, 1], **busy)
    points += sweep.grid(arrangement="per_neuron", history=8, seed=0, **busy)
    points += sweep.grid(queue="fifo_ring", capacity=1, seed=0, **busy)
    table = sweep.sweep(points, progress=False)
    seed0 = table[table["seed"] == 0]
    lossless = seed0[seed0["capacity"].isna() | (seed0["capacity"] == 8)]
    assert len(lossless) == 3 and lossless["raster_sha1"].nunique() == 1
    assert (lossless["dropped"] == 0).all()
    lossy = seed0[seed0["capacity"] == 1].iloc[0]
    assert lossy["dropped"] > 0 and lossy["raster_sha1"] != lossless["raster_sha1"].iloc[0]
    assert table[table["seed"] == 1]["raster_sha1"].iloc[0] != lossless["raster_sha1"].iloc[0]


def test_grid_completes_and_deduplicates():
    points = sweep.grid(queue=["ring", "fifo_ring"], capacity=[2, 4], n_neurons=[5])
    assert [(p["queue"], p["capacity"]) for p in points] == [
        ("ring", None),
        ("fifo_ring", 2),
        ("fifo_ring", 4),
    ]
    assert all(p["history"] is None and p["input_rate_hz"] is None for p in points)
    lean = sweep.complete(dict(arrangement="per_neuron", queue="ring", capacity=3))
    assert lean["queue"] is None and lean["capacity"] is None and lean["history"] == 4
    assert sweep.complete(dict(delay_ms=1.5))["max_delay_ms"] == 3.0
    # an int given for a float setting is the same point
    assert sweep.point_id(sweep.complete(dict(delay_ms=1))) == sweep.point_id(
        sweep.complete(dict(delay_ms=1.0))
    )
    assert len({sweep.point_id(p) for p in sweep.grid(seed=range(5))}) == 5


@pytest.mark.parametrize(
    "point, match",
    [
        (dict(queues="ring"), "unknown sweep parameter"),
        (dict(queue="heap_of_doom"), "queue must be one of"),
        (dict(n_neurons=0), "n_neurons must be an integer >= 1"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(seed=2**32), r"seed must be an integer in \[0, 2\*\*32\)"),
        (dict(steps=2.5), "steps must be an integer"),
        (dict(capacity=0), "capacity must be an integer >= 1"),
        (dict(arrangement="dense"), "arrangement must be one of"),
        (dict(weight_scale=[0.1, 0.2]), "weight_scale must be a scalar"),
        (dict(delay_ms=float("nan")), "delay_ms must be a finite number"),
    ],
)
def test_bad_points_are_rejected(point, match):
    with pytest.raises(ValueError, match=match):
        sweep.complete(point)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="axis seed has no values"):
        sweep.grid(seed=[])
    with pytest.raises(ValueError, match="retries must be an integer >= 0"):
        list(sweep.iter_sweep([SMALL], retries=-1))
    with pytest.raises(ValueError, match="scheduler must be an address"):
        sweep.iter_sweep([SMALL], scheduler="localhost")
    with pytest.raises(ValueError, match="out must end in"):
        RowStore("results.xlsx")
    assert cli.main(["sweep", "--set", "colour=red", "--out", "x.csv"]) == 2


def rate_metrics(result, net, params):
    """Task-specific metric: mean synaptic current and per-neuron spike-count spread."""
    counts = np.asarray(result.spikes).sum(axis=0)
    return {"spike_count_std": counts.std(), "mean_current": np.asarray(result.current).mean()}


def failing_metrics(result, net, params):
    if net.n_neurons == 11:
        raise RuntimeError("metric failed")
    return {}


def test_metrics_callback_and_failures():
    seen = []
    table = sweep.sweep(
        sweep.grid(seed=[0, 1], **SMALL), metrics=rate_metrics, on_row=seen.append, progress=False
    )
    assert [row["seed"] for row in seen] == [0, 1]
    for row in seen:
        net, params, drive = sweep._build({k: v for k, v in row.items() if k in sweep.DEFAULTS})
        counts = np.asarray(jax.jit(network.simulate)(net, params, drive).spikes).sum(axis=0)
        assert row["spike_count_std"] == pytest.approx(counts.std())
    assert list(table["spike_count_std"]) == [row["spike_count_std"] for row in seen]

    rows = []
    with pytest.raises(sweep.SweepError, match="1 grid point") as failed:
        for row in sweep.iter_sweep(
            sweep.grid(n_neurons=[10, 11], steps=120, repeats=0), metrics=failing_metrics
        ):
            rows.append(row)
    assert [row["n_neurons"] for row in rows] == [10]  # the other row was still delivered
    assert failed.value.failures[0][0]["n_neurons"] == 11


def test_docstring_examples():
    result = doctest.testmod(sweep, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def run_cli(*argv: str) -> int:
    return cli.main(["sweep", "--no-progress", "--repeats", "0", "--steps", "120", *argv])


NO_PYARROW = importlib.util.find_spec("pyarrow") is None


@pytest.mark.parametrize(
    "suffix",
    [".csv", pytest.param(".parquet", marks=pytest.mark.skipif(NO_PYARROW, reason="pyarrow"))],
)
def test_cli_writes_one_row_per_point_and_resumes(tmp_path, capsys, suffix):
    out = tmp_path / f"results{suffix}"
    read = pd.read_csv if suffix == ".csv" else pd.read_parquet
    assert run_cli("--sizes", "10", "--seeds", "0,1", "--out", str(out)) == 0
    first = read(out)
    assert list(first["seed"]) == [0, 1] and first["point_id"].is_unique
    store = RowStore(out)
    assert not store.sidecar.exists()  # removed once the table holds every row

    # an interrupted run left one (marked) row in the sidecar and a torn last line
    marked = sweep.run_point(dict(SMALL, seed=0)) | {"spikes": -7}
    store.sidecar.write_text(json.dumps(marked) + '\n{"point_id": "torn')
    out.unlink()
    capsys.readouterr()
    assert run_cli("--sizes", "10", "--seeds", "0,1,2", "--out", str(out), "--resume") == 0
    assert "1 reused, 2 to run" in capsys.readouterr().out
    resumed = read(out)
    assert list(resumed["seed"]) == [0, 1, 2]
    assert list(resumed["spikes"])[0] == -7  # reused, not recomputed
    assert list(resumed["spikes"])[1] == list(first["spikes"])[1]

    # the finished table is read back too; a run without --resume recomputes everything
    assert run_cli("--sizes", "10", "--seeds", "0,1,2,3", "--out", str(out), "--resume") == 0
    assert "3 reused, 1 to run" in capsys.readouterr().out
    again = read(out)
    assert list(again["spikes"])[0] == -7 and len(again) == 4
    assert (
        again.drop(columns=list(sweep.MEASURED_COLUMNS))
        .iloc[:3]
        .equals(resumed.drop(columns=list(sweep.MEASURED_COLUMNS)))
    )
    assert run_cli("--sizes", "10", "--seeds", "0", "--out", str(out)) == 0
    assert list(read(out)["spikes"]) == list(first["spikes"])[:1]


def interrupting_metrics(result, net, params):
    """Stands for Ctrl-C pressed while the point with the recorded raster runs."""
    raster = np.packbits(np.asarray(result.spikes)).tobytes()
    if hashlib.sha1(raster).hexdigest() == INTERRUPT_AT["raster_sha1"]:
        raise KeyboardInterrupt
    return {}


INTERRUPT_AT: dict[str, str] = {}


def test_cli_interrupt_keeps_finished_rows(tmp_path, capsys):
    out = tmp_path / "results.csv"
    INTERRUPT_AT["raster_sha1"] = sweep.run_point(dict(SMALL, seed=2))["raster_sha1"]
    parser = argparse.ArgumentParser()
    sweep_cli.add_arguments(parser)
    args = parser.parse_args(
        ["--sizes", "10", "--seeds", "0,1,2,3", "--steps", "120", "--repeats", "0"]
        + ["--out", str(out), "--no-progress"]
    )
    args.metrics = interrupting_metrics
    assert sweep_cli.run(args) == 130
    kept = pd.read_csv(out)
    assert list(kept["seed"]) == [0, 1]
    assert "--resume" in capsys.readouterr().out
    sidecar = [json.loads(line) for line in RowStore(out).sidecar.read_text().splitlines()]
    assert [row["seed"] for row in sidecar] == [0, 1]
