"""Fixtures for the device link tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # devicelink before a re-install


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The portal's limiter reset does not apply here: these tests create no portal app."""
    yield
