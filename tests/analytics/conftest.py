"""Fixtures shared by the analytics tests."""

from __future__ import annotations

import pytest
from analytics_fleet import training_frame


@pytest.fixture(scope="session")
def built():
    """Reference + spec of the synthetic model built by the real reference builder."""
    from analytics.reference_build import build_reference
    return build_reference(training_frame(), "kws", "1.0", prediction="score", latency="latency")
