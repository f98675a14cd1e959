"""``adseq-lab bench tasks`` at toy sizes: every task runs, its row says what was measured and
the verdict follows the figures (a missed target is reported, never raised)."""

from __future__ import annotations

import json

import pytest

from adseq_lab import cli
from adseq_lab.bench import tasks


def test_bench_tasks_reports_each_target(tmp_path, capsys):
    out = tmp_path / "tasks.json"
    code = cli.main(
        [
            "bench", "tasks", "--epochs", "1", "--hidden", "8", "--train-size", "50",
            "--test-size", "50", "--recovery-size", "3", "--recovery-steps", "3",
            "--recovery-refine-steps", "3", "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    rows = {row["task"]: row for row in json.loads(out.read_text())["results"]}
    assert set(rows) == {"yinyang", "yinyang (frozen delays)", "delay recovery 3x3", "spike timing"}
    learned = rows["yinyang"]
    assert learned["met"] == (learned["test_accuracy"] >= tasks.YINYANG_TARGET)
    assert learned["learned_delays"] and not rows["yinyang (frozen delays)"]["learned_delays"]
    assert rows["yinyang (frozen delays)"]["met"] is None
    recovery = rows["delay recovery 3x3"]
    assert recovery["met"] == (recovery["max_error_ms"] <= tasks.RECOVERY_TARGET_MS)
    assert recovery["median_error_ms"] <= recovery["max_error_ms"]
    assert recovery["fit_mean_error_ms"] <= recovery["fit_max_error_ms"]
    assert recovery["initial_mean_error_ms"] > recovery["fit_mean_error_ms"] > 0
    assert 0 <= recovery["observable_0.1_ms"] <= 1
    assert len(recovery["output_losses"]) == 3
    assert set(recovery["restarted_outputs"]) <= {0, 1, 2}
    timing = rows["spike timing"]
    assert timing["targets_ms"] == list(tasks.TIMING_TARGETS_MS)
    assert timing["met"] == all(abs(e) <= 0.05 + 1e-6 for e in timing["error_ms"])
    printed = capsys.readouterr().out
    assert "delay recovery 3x3" in printed and str(out) in printed


def test_bench_tasks_refuses_an_unknown_task(tmp_path):
    with pytest.raises(ValueError, match="--tasks"):
        cli.main(["bench", "tasks", "--tasks", "yinyang,nope", "--out", str(tmp_path / "x.json")])
