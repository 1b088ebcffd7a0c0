"""``examples/test_with_batchbridge.py``, the README's testing example, run as a user would."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "test_with_batchbridge.py"


def plugin_installed() -> bool:
    """Whether the ``pytest11`` entry point of the installed package provides the fixture."""
    return any(
        ep.value == "batchbridge.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11")
    )


@pytest.mark.slow
def test_the_readme_example_passes_under_pytest(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pytest", str(EXAMPLE), "-q", "-p", "no:cacheprovider"]
    if not plugin_installed():
        command += ["-p", "batchbridge.pytest_plugin"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_example_fails_when_its_expectation_is_wrong(tmp_path: Path) -> None:
    broken = tmp_path / "test_broken.py"
    broken.write_text(
        EXAMPLE.read_text().replace('["hello from 2"]', '["hello from 7"]'),
    )
    command = [sys.executable, "-m", "pytest", str(broken), "-q", "-p", "no:cacheprovider"]
    if not plugin_installed():
        command += ["-p", "batchbridge.pytest_plugin"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "hello from 7" in done.stdout
    assert "1 failed" in done.stdout
