"""The ``batchbridge`` pytest fixture, registered through the ``pytest11`` entry point.

Installing batchbridge makes the fixture available in every pytest run::

    def test_pipeline(batchbridge):
        batch = batchbridge.client("batch")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batchbridge.testing import BatchBridge


@pytest.fixture
def batchbridge(tmp_path: Path) -> Iterator[BatchBridge]:
    """A running batchbridge server with its own data folder, stopped after the test."""
    with BatchBridge(tmp_path / "batchbridge") as server:
        yield server
