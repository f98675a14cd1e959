"""Binder's configuration (binder/, jupyter-panel-proxy.yml, the README's links) against the
project: the packages Binder installs are pyproject.toml's extras with no drift, they cover
every import of the notebooks, they resolve (this environment satisfies them), and the
dashboards link names an app jupyter-panel-proxy serves.
"""

from __future__ import annotations

import ast
import fnmatch
import glob
import importlib.metadata
import json
import os
import re
import stat
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME = canonicalize_name(PROJECT["name"])
LOCAL = re.compile(r"^(-e\s+)?\.(\[(?P<extras>[^\]]*)\])?$")


def extras_closure(extras: set[str]) -> set[str]:
    """``extras`` plus every extra they pull in through ``adseq-lab[...]`` self-references."""
    found, todo = set(), list(extras)
    while todo:
        extra = todo.pop()
        if extra in found:
            continue
        if extra not in PROJECT["optional-dependencies"]:
            raise AssertionError(f"extra {extra!r} is not defined in pyproject.toml")
        found.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == NAME:
                todo.extend(requirement.extras)
    return found


def project_requirements(extras: set[str]) -> dict[str, Requirement]:
    """What ``pip install .[extras]`` asks for: the dependencies plus the extras' requirements
    (self-references expanded), by canonical name."""
    lines = list(PROJECT["dependencies"])
    for extra in sorted(extras_closure(extras)):
        lines += PROJECT["optional-dependencies"][extra]
    resolved: dict[str, Requirement] = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name == NAME:
            continue
        if name in resolved:  # the same package in two extras: the constraints combine
            merged = resolved[name]
            merged.specifier = SpecifierSet(
                f"{merged.specifier},{requirement.specifier}".strip(",")
            )
            merged.extras |= requirement.extras
        else:
            resolved[name] = requirement
    return resolved


def binder_lines() -> list[str]:
    text = (BINDER / "requirements.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def binder_requirements() -> tuple[set[str], dict[str, Requirement]]:
    """``(extras of the project, other requirements)`` listed in binder/requirements.txt."""
    extras: set[str] | None = None
    others: dict[str, Requirement] = {}
    for line in binder_lines():
        local = LOCAL.match(line)
        if local:
            assert extras is None, "binder/requirements.txt installs the project twice"
            extras = {e.strip() for e in (local["extras"] or "").split(",") if e.strip()}
        else:
            requirement = Requirement(line)
            others[canonicalize_name(requirement.name)] = requirement
    assert extras is not None, "binder/requirements.txt must install the project (-e .[extras])"
    return extras, others


def binder_package_set() -> dict[str, Requirement]:
    extras, others = binder_requirements()
    return {**project_requirements(extras), **others}


def notebook_imports() -> set[str]:
    """Top-level modules imported by the code cells of the notebooks."""
    modules = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            source = "\n".join(
                line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
            )
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return modules


def test_binder_installs_the_project_with_existing_extras_only():
    extras, others = binder_requirements()
    assert extras, "binder/requirements.txt should name the extras the notebooks need"
    assert extras_closure(extras) >= {"lab", "notebooks"}
    # a package listed beside the project must match pyproject.toml's constraint exactly
    everything = project_requirements(set(PROJECT["optional-dependencies"]))
    for name, requirement in others.items():
        assert name in everything, f"binder lists {name}, which pyproject.toml does not"
        assert requirement.specifier == everything[name].specifier, (
            f"binder pins {requirement}, pyproject.toml says {everything[name]}"
        )


def test_binder_package_set_is_pyprojects_extras():
    extras, others = binder_requirements()
    expected = project_requirements(extras)
    resolved = binder_package_set()
    assert set(resolved) == set(expected) | set(others)
    for name, requirement in expected.items():
        assert str(resolved[name].specifier) == str(requirement.specifier)
    # what the dashboards and notebooks need on Binder
    for needed in ("jupyter-panel-proxy", "jupyterlab", "panel", "papermill", "ipykernel"):
        assert needed in resolved, f"Binder would not install {needed}"


def test_binder_covers_every_notebook_import():
    distributions = importlib.metadata.packages_distributions()
    installed = {canonicalize_name(n) for n in binder_package_set()} | {NAME}
    missing = {}
    for module in sorted(notebook_imports() - set(sys.stdlib_module_names)):
        if module == "adseq_lab":
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not owners & installed:
            # a transitive dependency of something installed counts as covered
            if not any(_requires(dist, owners) for dist in installed):
                missing[module] = sorted(owners)
    assert not missing, f"notebooks import modules Binder would not install: {missing}"


def _requires(dist: str, owners: set[str]) -> bool:
    try:
        requirements = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return False
    return any(canonicalize_name(Requirement(r).name) in owners for r in requirements)


def test_binder_requirements_resolve_here():
    """This environment (installed by ./scripts/test from pyproject.toml) satisfies every
    requirement Binder installs: the set is consistent and installable together."""
    unsatisfied = []
    for name, requirement in binder_package_set().items():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            unsatisfied.append(f"{requirement} (not installed)")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            unsatisfied.append(f"{requirement} (installed {version})")
    assert not unsatisfied, f"Binder's requirements do not resolve here: {unsatisfied}"


def test_runtime_matches_requires_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    version = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert version, f"binder/runtime.txt must read python-X.Y, got {runtime!r}"
    assert SpecifierSet(PROJECT["requires-python"]).contains(version[1] + ".0")


def test_start_script_sets_bokeh_and_jax_then_execs():
    start = BINDER / "start"
    assert start.stat().st_mode & stat.S_IXUSR, "binder/start must be executable"
    lines = [line.strip() for line in start.read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    assert 'export BOKEH_ALLOW_WS_ORIGIN="*"' in code
    assert "export JAX_PLATFORMS=cpu" in code
    assert code[-1] == 'exec "$@"'
    post_build = BINDER / "postBuild"
    if post_build.exists():
        assert post_build.stat().st_mode & stat.S_IXUSR, "binder/postBuild must be executable"
        assert "set -e" in post_build.read_text()


def panel_apps() -> list[str]:
    """The apps jupyter-panel-proxy serves from the repository root (its own discovery)."""
    panel_server = pytest.importorskip("panel_server")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return panel_server._discover_apps()["apps"]
    finally:
        os.chdir(cwd)


def test_panel_proxy_serves_exactly_the_dashboards():
    apps = panel_apps()
    assert sorted(apps) == sorted(
        str(Path(p).relative_to(ROOT)) for p in glob.glob(str(ROOT / "widgets" / "*.py"))
    )
    assert not any(fnmatch.fnmatch(a, "adseq_lab/*") or a.startswith("tests") for a in apps)


def test_readme_has_binder_badge_and_dashboard_link():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/(\w+)([^)\s\"]*)", readme)
    assert any("badge" in line and "mybinder" in line for line in readme.splitlines())
    repositories = {repo for repo, _, _ in links}
    assert len(repositories) == 1, f"Binder links point at several repositories: {repositories}"
    served = {Path(app).stem for app in panel_apps()}
    dashboards = [q for _, _, q in links if re.search(r"urlpath=(%2F|/)?panel", q)]
    assert dashboards, "README needs a Binder link straight to the dashboards (?urlpath=/panel/..)"
    for query in dashboards:
        path = re.search(r"urlpath=(?:%2F|/)panel(?:%2F|/)([\w-]*)", query)
        assert path, f"dashboard link {query!r} should open /panel/<app>"
        assert path[1] == "" or path[1] in served, f"{path[1]!r} is not an app under /panel"
