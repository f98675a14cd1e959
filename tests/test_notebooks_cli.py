"""``adseq-lab notebooks``: executes notebooks in name order with papermill into a build folder,
stops loudly at the first failing cell, and ``--store`` writes outputs back without papermill's
per-run metadata. Tiny notebooks (no JAX) keep it quick; the tutorials themselves are checked by
nbval (notebooks/conftest.py)."""

from __future__ import annotations

import json

import nbformat
import pytest

from adseq_lab import cli
from adseq_lab.notebooks import find_notebooks, parse_value

pytest.importorskip("papermill")


def write_notebook(path, *sources, parameters="x = 1"):
    cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def outputs(path):
    nb = nbformat.read(path, as_version=4)
    return ["".join(o.get("text", "")) for c in nb.cells for o in c.get("outputs", [])]


def test_runs_in_order_with_parameters_into_the_build_folder(tmp_path, capsys):
    source, build = tmp_path / "nbs", tmp_path / "build"
    source.mkdir()
    write_notebook(source / "02_second.ipynb", "print('second', x * 2)")
    write_notebook(source / "01_first.ipynb", "import os; print('first', x, os.getcwd())")
    status = cli.main(
        ["notebooks", "--source", str(source), "--output", str(build), "-p", "x", "21"]
    )
    assert status == 0
    assert outputs(build / "02_second.ipynb")[-1] == "second 42\n"
    first = outputs(build / "01_first.ipynb")[-1]
    assert first.startswith("first 21 ") and first.strip().endswith(
        str(source.resolve())
    )  # its folder
    timings = json.loads((build / "timings.json").read_text())
    assert list(timings) == ["01_first.ipynb", "02_second.ipynb"]
    assert outputs(source / "01_first.ipynb") == []  # sources untouched without --store
    assert "2 notebooks executed" in capsys.readouterr().out


def test_first_error_stops_the_run_loudly(tmp_path, capsys):
    source, build = tmp_path / "nbs", tmp_path / "build"
    source.mkdir()
    write_notebook(source / "01_bad.ipynb", "raise RuntimeError('deliberate failure')")
    write_notebook(source / "02_never.ipynb", "print('never')")
    assert cli.main(["notebooks", "--source", str(source), "--output", str(build)]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "01_bad.ipynb" in err and "deliberate failure" in err
    assert not (build / "02_never.ipynb").exists()
    assert not (build / "timings.json").exists()


def test_store_writes_outputs_back_without_run_metadata(tmp_path):
    source, build = tmp_path / "nbs", tmp_path / "build"
    source.mkdir()
    path = write_notebook(
        source / "01_only.ipynb", "print(x + 1)", "import ipywidgets\nipywidgets.IntSlider(3)"
    )
    assert cli.main(["notebooks", "--source", str(source), "--output", str(build), "--store"]) == 0
    nb = nbformat.read(path, as_version=4)
    assert "2\n" in outputs(path)
    assert "widgets" in nbformat.read(build / "01_only.ipynb", as_version=4).metadata
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata
    assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
    with pytest.raises(SystemExit, match="-p overrides"):
        cli.main(["notebooks", "--source", str(source), "--store", "-p", "x", "2"])


def test_selection_and_values(tmp_path):
    for name in ("01_a.ipynb", "02_b.ipynb", "10_c.ipynb"):
        write_notebook(tmp_path / name)
    assert [p.name for p in find_notebooks(tmp_path, ["0*"])] == ["01_a.ipynb", "02_b.ipynb"]
    with pytest.raises(ValueError, match="no notebooks matching"):
        find_notebooks(tmp_path, ["99*"])
    with pytest.raises(ValueError, match="not a folder"):
        find_notebooks(tmp_path / "missing")
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("[1, 2]") == [1, 2]
    assert parse_value("fifo_ring") == "fifo_ring" and parse_value("'a b'") == "a b"
