"""``enotime new``: the generated system has the reference layout, passes its tests and runs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from enotime._cli import main
from enotime._control_socket import socket_path
from enotime._scaffold import ScaffoldError, check_name, create, templates

ROOT = Path(__file__).resolve().parents[2]

LAYOUT = [
    ".gitignore",
    "README.md",
    "actors/__init__.py",
    "actors/greeter.py",
    "actors/visitor.py",
    "api/__init__.py",
    "deploy/README.md",
    "deploy/prometheus.yml",
    "pyproject.toml",
    "supervisors/__init__.py",
    "supervisors/main.py",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_greeter.py",
    "tests/test_tree.py",
]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated system for the tests that only read or run it."""
    parent = tmp_path_factory.mktemp("systems")
    assert main(["new", "shop", "--path", str(parent)]) == 0
    return parent / "shop"


def env(**extra: str) -> dict[str, str]:
    """This checkout's enotime importable; the generated system comes first (the cwd)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def python_in(system: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m module ARGS`` run in the generated system, its output captured (50 s at most)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=system,
        env=env(),
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


def test_the_layout_is_the_reference_one(system: Path) -> None:
    files = sorted(p.relative_to(system).as_posix() for p in system.rglob("*") if p.is_file())
    assert files == LAYOUT
    assert sorted(relative.as_posix() for relative, _ in templates()) == LAYOUT


def test_placeholders_are_filled(system: Path) -> None:
    for path in system.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), path
    pyproject = (system / "pyproject.toml").read_text()
    assert 'name = "shop"' in pyproject
    assert 'dependencies = ["enotime' in pyproject
    assert 'job_name: "shop"' in (system / "deploy/prometheus.yml").read_text()
    readme = (system / "README.md").read_text()
    assert "enotime run supervisors.main:tree --name shop" in readme
    assert "python -m pytest" in readme
    api = (system / "api/__init__.py").read_text()
    assert api.startswith('"""')
    assert "endpoint" in api


def test_its_own_tests_pass(system: Path) -> None:
    result = python_in(system, "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_it_runs_until_sigterm_and_exits_zero(system: Path) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="et-", dir="/tmp"))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "enotime", "run", "supervisors.main:tree", "--name", "shop"],
            cwd=system,
            env=env(ENOTIME_RUNTIME_DIR=str(runtime)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert process.stdout is not None
            seen = []
            for line in process.stdout:  # ends if the process dies; the test timeout bounds it
                seen.append(line)
                if "node shop: running" in line:
                    break
            else:
                pytest.fail("no readiness line:\n" + "".join(seen))
            assert socket_path(runtime, "shop", process.pid).exists()  # `enotime status` sees it
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, "".join(seen) + output
        assert "stop requested, shutting down" in output
        assert not socket_path(runtime, "shop", process.pid).exists()
    finally:
        shutil.rmtree(runtime)


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_the_generated_code_is_lint_clean(system: Path) -> None:
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        result = subprocess.run(
            ["ruff", *command], cwd=system, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_code_type_checks_strictly(system: Path, tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    result = python_in(system, "mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_prometheus_config_is_valid(system: Path) -> None:
    result = subprocess.run(
        ["promtool", "check", "config", str(system / "deploy/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["my-shop", "2shop", "shop/x", "", "class", "café", "enotime"])
def test_a_bad_name_is_refused_with_exit_code_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", name, "--path", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"enotime new: {name!r} is ")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ScaffoldError):
        check_name(name)


def test_a_non_empty_directory_is_refused_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "notes.txt").write_text("mine")
    assert main(["new", "shop", "--path", str(tmp_path)]) == 2
    assert "already exists and is not an empty directory" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "shop").iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ScaffoldError):
        create("file", tmp_path)


def test_an_empty_directory_and_a_missing_parent_are_fine(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    assert len(create("shop", tmp_path)) == len(LAYOUT)
    assert len(create("shop", tmp_path / "a" / "b")) == len(LAYOUT)


def test_the_command_says_what_to_do_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "shop", "--path", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"created {tmp_path / 'shop'}/ ({len(LAYOUT)} files)")
    assert "python -m pytest" in out
    assert "enotime run supervisors.main:tree --name shop" in out
