"""``adseq-lab bench lossy`` at toy size: trains once, runs the test set through each queue kind
and capacity, counts dropped events, writes JSON (and the plot where HoloViews is installed)."""

from __future__ import annotations

import importlib.util
import json

from adseq_lab import cli


def test_bench_lossy_counts_drops_against_capacity(tmp_path, capsys):
    out, plot = tmp_path / "lossy.json", tmp_path / "lossy.html"
    code = cli.main(
        [
            "bench", "lossy", "--checkpoint", str(tmp_path / "params.npz"),
            "--train-epochs", "1", "--train-size", "40", "--hidden", "16",
            "--kinds", "fifo_ring", "--capacities", "1,2", "--references", "ring",
            "--test-size", "40", "--batch", "20", "--repeats", "1",
            "--out", str(out), "--plot", str(plot),
        ]
    )  # fmt: skip
    assert code == 0 and (tmp_path / "params.npz").exists()
    payload = json.loads(out.read_text())
    rows = {row["queue"]: row for row in payload["results"]}
    assert set(rows) == {"fifo_ring:1", "fifo_ring:2", "ring"}
    for row in rows.values():
        assert "error" not in row, row
        assert 0.0 <= row["accuracy"] <= 1.0 and row["us_per_step"] > 0
    assert rows["ring"]["dropped_events"] == 0
    assert rows["fifo_ring:1"]["dropped_events"] >= rows["fifo_ring:2"]["dropped_events"]
    assert rows["fifo_ring:1"]["dropped_events"] > 0  # hidden neurons spike more than once
    assert payload["trained_with"] == "history:2" and payload["test_size"] == 40
    assert "fifo_ring:1" in capsys.readouterr().out
    assert plot.exists() == (importlib.util.find_spec("holoviews") is not None)
