"""The project installs as a package: its wheel holds ios_core (with the shipped profiles),
sample_models and the app; ``ios-explorer`` is its console script and ``ios-explorer app`` starts
the app from anywhere; requirements.txt, pyproject.toml, the README and CI say one thing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ios_core.cli import app as app_cli
from ios_core.cli import main as cli
from ios_core.cost.profile_db import PROFILE_DIR, list_profiles

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def readme_command(heading: str) -> str:
    """The first code block after the README line that starts with ``heading``."""
    text = (ROOT / "README.md").read_text()
    m = re.search(re.escape(heading) + r".*?\n```\n(.*?)\n```", text, re.S)
    assert m, f"no code block after {heading!r} in README.md"
    return m.group(1).strip()


# ---- the package ---------------------------------------------------------------------------------
def test_the_wheel_holds_the_packages_and_the_shipped_profiles(tmp_path) -> None:
    src = tmp_path / "src"  # a copy, so that the build leaves nothing in the work tree
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("ios_core", "sample_models", "app"):
        shutil.copytree(ROOT / package, src / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")],
                   cwd=src, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("ios_explorer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {"ios_core", "sample_models", "app"} <= tops
    assert not tops & {"tests", "benchmarks", "notes", "data"}
    shipped = {p.name for p in PROFILE_DIR.glob("*.json")}
    packed = {n.rsplit("/", 1)[1] for n in names if n.startswith("ios_core/data/profiles/")}
    assert packed == shipped and len(shipped) > 50
    assert {"app/main.py", "app/app_pages/model.py", "app/backend/jobs.py"} <= set(names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "ios-explorer = ios_core.cli.main:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_shipped_profiles_are_package_data() -> None:
    assert PROFILE_DIR == ROOT / "ios_core" / "data" / "profiles"
    assert {"h100", "h200"} <= {name for name, _, _ in list_profiles([PROFILE_DIR])}
    assert not (ROOT / "data").exists()  # one home for them


def test_no_module_edits_sys_path() -> None:
    offenders = [str(p.relative_to(ROOT)) for folder in ("ios_core", "sample_models", "app")
                 for p in (ROOT / folder).rglob("*.py")
                 if re.search(r"sys\.path\.(insert|append)", p.read_text())]
    assert offenders == []


# ---- one list of dependencies --------------------------------------------------------------------
def test_pyproject_lists_the_dependencies_and_requirements_only_pins_torch() -> None:
    project = PYPROJECT["project"]
    assert "torch>=2.11" in project["dependencies"]  # a range: never downgrade a user's torch
    extras = project["optional-dependencies"]
    assert any(d.startswith("streamlit") for d in extras["app"])
    dev = " ".join(extras["dev"])
    for need in ("ios-explorer[app]", "torchvision==0.28.0", "timm", "pytest", "playwright",
                 "ruff"):
        assert need in dev
    assert project["scripts"]["ios-explorer"] == "ios_core.cli.main:main"
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    assert pins == ["torch==2.13.0"]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = readme_command("Run the tests")
    assert test_command.startswith("pip install -r requirements.txt -e \".[dev]\"")
    ci = (ROOT / ".ci" / "run").read_text()
    assert any(line.strip() == test_command for line in ci.splitlines())
    app_command = readme_command("Start the app")
    assert app_command == "pip install -r requirements.txt -e \".[app]\" && ios-explorer app"


# ---- ios-explorer app ----------------------------------------------------------------------------
def test_app_help_starts_nothing(capsys, monkeypatch) -> None:
    monkeypatch.setattr(app_cli.os, "execv", lambda *a: pytest.fail("started"))
    assert cli.main(["app", "--help"]) == 0
    assert "streamlit run" in capsys.readouterr().out


def test_app_runs_streamlit_on_the_installed_app(monkeypatch, tmp_path) -> None:
    started = {}

    class Replaced(BaseException):  # exec never returns: neither does this fake
        pass

    def fake_execv(path, argv):
        started.update(path=path, argv=argv, cwd=Path.cwd())
        raise Replaced

    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()  # a folder called app/ where the user is must not be picked up
    monkeypatch.setattr(app_cli.os, "execv", fake_execv)
    monkeypatch.setattr(app_cli.os, "name", "posix")
    with pytest.raises(Replaced):
        cli.main(["app", "--server.port", "8502", "--server.headless", "true"])
    assert started["argv"] == [sys.executable, "-m", "streamlit", "run",
                               str(ROOT / "app" / "main.py"), "--server.port", "8502",
                               "--server.headless", "true"]
    assert started["path"] == sys.executable
    assert started["cwd"] == ROOT  # the folder that holds this app package


def test_app_without_streamlit_says_what_to_install(monkeypatch, capsys) -> None:
    real = app_cli.importlib.util.find_spec
    monkeypatch.setattr(app_cli.importlib.util, "find_spec",
                        lambda name, *a: None if name == "streamlit" else real(name, *a))
    assert cli.main(["app"]) == 2
    assert 'pip install -e ".[app]"' in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("ios-explorer") is None,
                    reason="the package is not installed (pip install -e .)")
def test_the_console_script_works_from_another_folder(tmp_path) -> None:
    shipped = PROFILE_DIR / "h200-ios_demo-b1.ios-both.schedule.json"
    done = subprocess.run(["ios-explorer", "show", str(shipped)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "ios_demo batch 1" in done.stdout, done.stderr
