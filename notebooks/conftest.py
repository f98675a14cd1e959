"""Run the tutorial notebooks as regression tests with nbval.

Collecting this folder (``pytest``, whose testpaths include it, or ``pytest notebooks/``) turns
on ``--nbval`` for it: every code cell is re-executed in a fresh kernel of this environment and
its outputs are compared with the outputs stored in the notebook, which ``adseq-lab notebooks
--store`` produced with the CI parameters. Compared: text (prints, reprs, the rounded summary
numbers), so a change in a result fails. Not compared: HoloViews/Bokeh/Panel outputs, whose
HTML and scripts carry random ids (skipped below); timings and addresses
(``nbval_sanitize.cfg``); cells marked ``# NBVAL_IGNORE_OUTPUT`` (volatile) or ``# NBVAL_SKIP``
(servers). Works with ``-n 2 --dist loadfile`` (each notebook runs in one worker, in order).
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SANITIZE = HERE / "nbval_sanitize.cfg"

VOLATILE_MIME_TYPES = (
    "text/html",
    "application/javascript",
    "application/vnd.holoviews_exec.v0+json",
    "application/vnd.holoviews_load.v0+json",
    "application/vnd.bokehjs_exec.v0+json",
    "application/vnd.bokehjs_load.v0+json",
)

collect_ignore_glob = [".ipynb_checkpoints/*"]


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("nbval"):
        raise pytest.UsageError(
            "notebooks/ is tested with nbval: pip install -e '.[notebooks]' "
            "(or leave notebooks out: pytest tests)"
        )
    if not config.option.nbval_lax:
        config.option.nbval = True
    if config.option.nbval_sanitize_with is None:
        config.option.nbval_sanitize_with = str(SANITIZE)
    if not config.option.nbval_kernel_name:
        config.option.nbval_current_env = True


def pytest_collectstart(collector: pytest.Collector) -> None:
    if collector.path.suffix == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + VOLATILE_MIME_TYPES
