"""Which stores the test suite runs on, and the URL of a fresh store per test.

The analytic-store suite runs once per entry of :data:`ANALYTICS_BACKENDS`; the metadata suite
once per entry of :data:`DATABASE_URLS`. ``tests/conftest.py`` parametrizes its fixtures over
these lists and calls :func:`analytics_url` / :func:`database_url` for each test.

- ``duckdb``: the embedded default (``None`` = DuckDB in the test's data directory).
- ``chdb``: the real ClickHouse engine in-process. chDB allows one data directory per process,
  so the whole session shares ONE directory and every test gets a fresh database in it.
- ``clickhouse``: a real server, when ``VKURSE_STATS_TEST_CLICKHOUSE_URL`` is set
  (``clickhouse://user:pass@host:8123/anything``); a fresh database per test.
- ``sqlite``: the embedded default metadata store (``None``).
- ``postgresql``: when ``VKURSE_STATS_TEST_DATABASE_URL`` is set (``scripts/postgres.sh start``
  prints one); a fresh schema per test, selected with ``search_path``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

CLICKHOUSE_ENV = "VKURSE_STATS_TEST_CLICKHOUSE_URL"
POSTGRES_ENV = "VKURSE_STATS_TEST_DATABASE_URL"


def _chdb_available() -> bool:
    return importlib.util.find_spec("chdb") is not None and importlib.util.find_spec("clickhouse_connect") is not None


ANALYTICS_BACKENDS: list[str] = [
    "duckdb",
    *(["chdb"] if _chdb_available() else []),
    *(["clickhouse"] if os.environ.get(CLICKHOUSE_ENV) else []),
]
DATABASE_URLS: list[str] = ["sqlite", *(["postgresql"] if os.environ.get(POSTGRES_ENV) else [])]

_chdb_dir: Path | None = None


def _name(tmp_path: Path, test_id: str) -> str:
    """A valid database/schema name, the same for the same test (its ``tmp_path`` is unique per
    test, so a test that reopens its services finds its data again) and new for every other."""
    slug = re.sub(r"[^a-z0-9]+", "_", test_id.lower()).strip("_")[-32:]
    digest = hashlib.sha1(f"{tmp_path.resolve()}:{test_id}".encode()).hexdigest()[:12]
    return f"t{digest}_{slug}"


def chdb_session_dir(tmp_path: Path | None = None) -> Path:
    """The one chDB data directory of this process (created on first use).

    It sits beside the per-test directories (``tmp_path.parent`` is pytest's session base, one
    per xdist worker); without a ``tmp_path`` it is a fresh temporary directory."""
    global _chdb_dir
    if _chdb_dir is None:
        base = tmp_path.parent if tmp_path is not None else Path(tempfile.mkdtemp(prefix="vkurse-chdb-"))
        _chdb_dir = base / f"chdb-{os.getpid()}"
        _chdb_dir.mkdir(parents=True, exist_ok=True)
    return _chdb_dir


def analytics_url(backend: str, tmp_path: Path, test_id: str) -> str | None:
    """The analytics URL of a fresh store for one test (the same URL on every call for the same
    ``tmp_path`` and ``test_id``); ``None`` = embedded DuckDB."""
    if backend == "duckdb":
        return None
    if backend == "chdb":
        return f"chdb://{chdb_session_dir(tmp_path)}?database={_name(tmp_path, test_id)}"
    if backend == "clickhouse":
        base = urlsplit(os.environ[CLICKHOUSE_ENV])
        return urlunsplit((base.scheme, base.netloc, "/" + _name(tmp_path, test_id), base.query, ""))
    raise ValueError(f"unknown analytics backend {backend!r}")


def database_url(kind: str, tmp_path: Path, test_id: str) -> str | None:
    """The metadata URL of a fresh store for one test; ``None`` = embedded SQLite."""
    if kind == "sqlite":
        return None
    if kind == "postgresql":
        import psycopg

        base = os.environ[POSTGRES_ENV]
        schema = _name(tmp_path, test_id)
        conninfo = "postgresql://" + base.split("://", 1)[1]
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    raise ValueError(f"unknown metadata backend {kind!r}")
