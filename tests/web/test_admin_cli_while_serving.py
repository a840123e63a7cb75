"""``vkurse-stats account …`` and ``token …`` while another process (a running server) holds the
embedded DuckDB store: they need only the metadata store and work; a command that needs the
analytic store says so in one line and exits non-zero, without a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vkurse_stats.config import Settings
from vkurse_stats.service import open_services

HOLD = """
import sys
from vkurse_stats.store.duckdb import DuckDBStore
store = DuckDBStore(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
store.close()
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose analytic store another process holds, as `serve` does."""
    data = tmp_path / "data"
    svc = open_services(Settings(data_dir=data))
    svc.meta.put_company("acme", "Acme")
    analytics = svc.settings.resolved_analytics_url.removeprefix("duckdb:///")
    svc.close()
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, analytics], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield data
        assert holder.stdin is not None
        holder.stdin.close()  # the holder closes the store and exits


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vkurse_stats.cli", "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_account_and_token_commands_work_while_the_store_is_held(data_dir: Path) -> None:
    for args in (
        ["account", "add", "root@vkurse.ru", "--operator"],
        ["account", "add", "boss@acme.ru", "--company", "acme"],
        ["account", "list"],
        ["account", "reset", "boss@acme.ru"],
        ["account", "disable", "boss@acme.ru"],
        ["account", "disable", "boss@acme.ru", "--enable"],
        ["token", "create", "--company", "acme", "--scope", "read"],
        ["token", "list", "--json"],
        ["token", "revoke", "1"],
    ):
        done = _cli(data_dir, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    done = _cli(data_dir, "account", "add", "x@acme.ru", "--company", "nope")
    assert done.returncode != 0 and "unknown company 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--company", "acme", "--from", "2026-03-01", "--to", "2026-03-31"],
        ["company", "list"],
        ["rebuild"],
    ],
)
def test_a_command_that_needs_the_held_store_says_so_in_one_line(data_dir: Path, args: list[str]) -> None:
    done = _cli(data_dir, *args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert re.match(r"Error: the analytic store .* is in use by another vkurse-stats process", lines[0])
    assert "stop it" in lines[0]
