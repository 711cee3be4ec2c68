"""Packaging: what the wheel holds and declares, and a wheel install that works from another
folder (the migrations inside the package, no source tree around)."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def third_party_imports() -> set[str]:
    """Top-level modules monitor imports that are not the standard library or monitor."""
    found: set[str] = set()
    for path in (REPO / "monitor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "monitor"}


def test_every_imported_library_is_declared() -> None:
    declared = {requirement_name(r) for r in PROJECT["dependencies"]}
    optional = {
        requirement_name(r)
        for extra, requirements in PROJECT["optional-dependencies"].items()
        if extra != "test"
        for r in requirements
    }
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module in third_party_imports():
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & (declared | optional):
            missing[module] = sorted(names)
    assert missing == {}
    assert "numpy" in declared


def test_datasketch_is_only_for_the_benchmarks() -> None:
    declared = {requirement_name(r) for r in PROJECT["dependencies"]}
    assert "datasketch" not in declared and "scipy" not in declared
    assert "datasketch" in {requirement_name(r) for r in PROJECT["optional-dependencies"]["bench"]}
    assert "datasketch" not in third_party_imports()


def test_license_is_an_spdx_expression() -> None:
    assert PROJECT["license"] == "MIT"  # PEP 639; the {text = ...} table is deprecated
    build = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in build)


def test_the_migrations_live_in_the_package() -> None:
    from monitor.adapters.db.engine import migrations_dir

    location = migrations_dir()
    assert location.is_relative_to(REPO / "monitor")
    assert (location / "env.py").is_file() and list((location / "versions").glob("0*.py"))
    assert not (REPO / "alembic").exists()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("monitor-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_migrations_templates_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode()
    assert "monitor/adapters/db/migrations/env.py" in names
    assert "monitor/adapters/db/migrations/script.py.mako" in names
    assert any(n.startswith("monitor/adapters/db/migrations/versions/0001") for n in names)
    assert "monitor/templates/digest.html" in names and "monitor/py.typed" in names
    assert "License-Expression: MIT" in text
    requires = {
        requirement_name(line.split(":", 1)[1].strip())
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert {"numpy", "defusedxml", "alembic"} <= requires and "datasketch" not in requires


@pytest.mark.slow
def test_a_wheel_install_migrates_checks_and_polls_from_another_folder(
    wheel: Path, tmp_path: Path
) -> None:
    """A fresh venv with the wheel installed (not editable); its dependencies come from this
    test environment through a .pth file, so the test needs no package index. Then, in a
    folder with only a config and a watchlist: db upgrade, watchlists check, poll --once."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    ours = Path(sysconfig.get_path("purelib"))
    (site / "dependencies.pth").write_text(f"{ours}\n", encoding="utf-8")
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PYTHON"))}
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    folder = tmp_path / "elsewhere"
    (folder / "watchlists").mkdir(parents=True)
    (folder / "watchlists" / "s400.toml").write_text(
        'name = "S-400"\nthreshold = 4.0\nchannels = ["local"]\n[[terms]]\nmatch = "S-400"\n'
        "weight = 5\n",
        encoding="utf-8",
    )
    (folder / "config.toml").write_text(
        '[database]\nurl = "sqlite:///data/monitor.db"\n[polling]\nparse_processes = 0\n'
        '[server]\nlisten = ""\n[channels.local]\ntype = "file"\npath = "digests"\n',
        encoding="utf-8",
    )
    monitor = venv / "bin" / "monitor"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(monitor), *argv], cwd=folder, env=env, capture_output=True, text=True, timeout=120
        )

    where = subprocess.run(
        [str(python), "-c", "import monitor; print(monitor.__file__)"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(site)), where.stdout  # the wheel, not the checkout
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from an empty database to revision" in upgraded.stdout
    checked = run("watchlists", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 valid, 0 invalid" in checked.stdout
    polled = run("poll", "--once")
    assert polled.returncode == 0, polled.stderr
    assert "feeds polled: 0" in polled.stdout
    assert (folder / "data" / "monitor.db").is_file()
