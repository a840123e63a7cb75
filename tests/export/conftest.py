"""Fixtures of the export tests (helpers live in ``export_support.py``)."""

from __future__ import annotations

import pytest

from tests.export.export_support import FakeQuery, make_query


@pytest.fixture
def query() -> FakeQuery:
    """A company in Asia/Yekaterinburg with three days, three events and small tables."""
    return make_query()
