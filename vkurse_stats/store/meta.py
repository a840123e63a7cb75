"""The metadata store: companies (and, in other modules, accounts, tokens, sessions, audit).

SQLAlchemy Core over one URL, so the embedded SQLite file and a PostgreSQL server run the same
code. Tables of every module share :data:`METADATA`; :meth:`MetaStore.migrate` creates what is
missing and records the schema version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ..records import DEFAULT_TIMEZONE
from ..timeutil import zone

METADATA = sa.MetaData()
SCHEMA_VERSION = 2

schema_info = sa.Table(
    "schema_info",
    METADATA,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

companies = sa.Table(
    "companies",
    METADATA,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False, default=DEFAULT_TIMEZONE),
    sa.Column("limit_concurrent_speakers", sa.BigInteger),
    sa.Column("limit_concurrent_events", sa.BigInteger),
    sa.Column("limit_concurrent_connections", sa.BigInteger),
    sa.Column("limit_storage_bytes", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)

LIMIT_NAMES = ("concurrent_speakers", "concurrent_events", "concurrent_connections", "storage_bytes")
BEGINNING = 0  # effective_from of a company's first limits: they judge all of its history

# Licence limits as effective-dated history: a past day is judged against the limit in force
# then. A change takes effect at an instant (epoch microseconds); a value of NULL is "no limit".
# The companies table keeps the values in force now, for the pages that only need those.
limit_history = sa.Table(
    "limit_history",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("company_id", sa.String(256), nullable=False, index=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("value", sa.BigInteger),
    sa.Column("effective_from", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class CompanyInfo:
    id: str
    name: str
    timezone: str = DEFAULT_TIMEZONE
    limits: dict[str, int | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "limits": {k: self.limits.get(k) for k in LIMIT_NAMES},
        }


def _row_to_company(row: Any) -> CompanyInfo:
    m = row._mapping
    return CompanyInfo(
        id=m["id"],
        name=m["name"],
        timezone=m["timezone"],
        limits={k: m[f"limit_{k}"] for k in LIMIT_NAMES},
    )


# Search folds case and ё the same way on every database. SQLite's lower() folds ASCII only and
# PostgreSQL's folds Cyrillic only under a non-C locale, so the Cyrillic capitals (and ё) are
# mapped explicitly: PostgreSQL by translate(), SQLite by a Python function of the connection.
_UPPER_RU = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯё"
_LOWER_RU = "абвгдеежзийклмнопрстуфхцчшщъыьэюяе"
_FOLD_SQL = "vks_fold"


def fold_text(text: str) -> str:
    """The search form of a text: lower case, ё as е."""
    return text.lower().replace("ё", "е")


class _fold(FunctionElement[str]):
    """SQL of :func:`fold_text` (for the Cyrillic and ASCII letters on every database)."""

    type = sa.String()
    inherit_cache = True


@compiles(_fold)
def _fold_default(element: _fold, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"translate(lower({arg}), '{_UPPER_RU}', '{_LOWER_RU}')"


@compiles(_fold, "sqlite")
def _fold_sqlite(element: _fold, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{_FOLD_SQL}({compiler.process(element.clauses, **kw)})"


def _sqlite_fold(value: Any) -> Any:
    return fold_text(value) if isinstance(value, str) else value


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and a busy timeout so readers never block."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            dbapi_conn.create_function(_FOLD_SQL, 1, _sqlite_fold, deterministic=True)

        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return sa.create_engine(url, pool_pre_ping=True)


class MetaStore:
    """Companies and the other metadata tables, on SQLite or PostgreSQL."""

    def __init__(self, url: str, clock: Callable[[], int] | None = None) -> None:
        self.url = url
        # The instant a limit change takes effect by default (epoch microseconds).
        self.clock = clock or (lambda: int(time.time() * 1_000_000))
        self.engine = make_engine(url)
        self._lock = threading.Lock()
        self._existing: set[str] = set()  # see exists()
        self.migrate()

    def migrate(self) -> None:
        METADATA.create_all(self.engine)
        with self.engine.begin() as conn:
            have = conn.execute(sa.select(schema_info.c.value).where(schema_info.c.key == "version")).scalar()
            if have is None:
                conn.execute(schema_info.insert().values(key="version", value=str(SCHEMA_VERSION)))
            elif int(have) < 2:
                # Limits before their history existed: each judges the company's whole history.
                rows = conn.execute(sa.select(companies)).fetchall()
                entries = [
                    {"company_id": r.id, "name": k, "value": r._mapping[f"limit_{k}"], "effective_from": BEGINNING}
                    for r in rows
                    for k in LIMIT_NAMES
                    if r._mapping[f"limit_{k}"] is not None
                ]
                if entries:
                    conn.execute(limit_history.insert(), entries)
                conn.execute(schema_info.update().where(schema_info.c.key == "version").values(value="2"))
            elif int(have) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the metadata database has schema {have}, newer than this program ({SCHEMA_VERSION})"
                )

    def close(self) -> None:
        self.engine.dispose()

    def probe(self) -> str | None:
        """Why the metadata store cannot be read and written now, or None (a readiness check:
        a read, and a write of the check's time)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.select(schema_info.c.value).where(schema_info.c.key == "version")).scalar()
                stamp = {"key": "ready", "value": str(time.time())}
                if conn.execute(schema_info.update().where(schema_info.c.key == "ready").values(**stamp)).rowcount == 0:
                    conn.execute(schema_info.insert().values(**stamp))
        except sa.exc.SQLAlchemyError as exc:
            return str(exc).strip().splitlines()[0]
        return None

    # --- companies -------------------------------------------------------------------------
    def exists(self, company_id: str) -> bool:
        """Whether the company exists. Companies are never deleted, so a yes is remembered: a
        batch of the platform's stream asks this of every company it holds."""
        if company_id in self._existing:
            return True
        if self.company(company_id) is None:
            return False
        self._existing.add(company_id)
        return True

    def company(self, company_id: str) -> CompanyInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(companies).where(companies.c.id == company_id)).first()
        return _row_to_company(row) if row else None

    def companies_of(self, ids: Iterable[str]) -> dict[str, CompanyInfo]:
        """The companies of ``ids`` that exist, by id: one statement per thousand ids."""
        wanted = sorted(set(ids))
        out: dict[str, CompanyInfo] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 1000):
                rows = conn.execute(sa.select(companies).where(companies.c.id.in_(wanted[i : i + 1000]))).fetchall()
                out.update((r.id, _row_to_company(r)) for r in rows)
        self._existing.update(out)
        return out

    def create_companies(self, ids: Iterable[str]) -> list[CompanyInfo]:
        """Create, with the defaults, the companies of ``ids`` that do not exist yet (the first
        records of new companies in the platform's stream), in one transaction; returns those
        created."""
        wanted = sorted(set(ids) - self._existing)
        if not wanted:
            return []
        with self._lock, self.engine.begin() as conn:
            have: set[str] = set()
            for i in range(0, len(wanted), 1000):
                have.update(
                    conn.execute(sa.select(companies.c.id).where(companies.c.id.in_(wanted[i : i + 1000]))).scalars()
                )
            new = [CompanyInfo(c, c) for c in wanted if c not in have]
            if new:
                conn.execute(companies.insert(), [{"id": c.id, "name": c.name, "timezone": c.timezone} for c in new])
        self._existing.update(wanted)
        return new

    def companies(self) -> list[CompanyInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(companies).order_by(companies.c.id)).fetchall()
        return [_row_to_company(r) for r in rows]

    def companies_page(self, search: str = "", limit: int = 50, offset: int = 0) -> tuple[list[CompanyInfo], int]:
        """One page of the companies whose id or name holds ``search`` (case and ё folded, ``%``
        and ``_`` literal), by id with an exact id first; returns (rows, how many match)."""
        where: sa.ColumnElement[bool] = sa.true()
        order: list[Any] = [companies.c.id]
        needle = fold_text(search.strip())
        if needle:
            where = sa.or_(
                _fold(companies.c.id).contains(needle, autoescape=True),
                _fold(companies.c.name).contains(needle, autoescape=True),
            )
            order.insert(0, sa.case((_fold(companies.c.id) == needle, 0), else_=1))
        count = sa.select(sa.func.count()).select_from(companies).where(where)
        # A search scans the table anyway, so one scan gives its page and its count; without one,
        # the page comes from the key's index and the count is cheap on its own.
        page = sa.select(companies, *([sa.func.count().over().label("total")] if needle else [])).where(where)
        with self.engine.connect() as conn:
            rows = conn.execute(page.order_by(*order).limit(max(0, limit)).offset(max(0, offset))).fetchall()
            total = rows[0]._mapping["total"] if rows and needle else conn.execute(count).scalar_one()
        return [_row_to_company(r) for r in rows], int(total)

    def company_position(self, company_id: str) -> int | None:
        """Where ``company_id`` stands in the unfiltered id order of :meth:`companies_page`
        (0-based), or None for an unknown company."""
        with self.engine.connect() as conn:
            if conn.execute(sa.select(companies.c.id).where(companies.c.id == company_id)).first() is None:
                return None
            before = conn.execute(
                sa.select(sa.func.count()).select_from(companies).where(companies.c.id < company_id)
            ).scalar_one()
        return int(before)

    def first_company(self) -> CompanyInfo | None:
        """The first company in id order (the default of an operator's dashboard)."""
        rows, _ = self.companies_page(limit=1)
        return rows[0] if rows else None

    def put_company(
        self,
        company_id: str,
        name: str | None = None,
        timezone: str | None = None,
        limits: dict[str, int | None] | None = None,
        *,
        replace_limits: bool = False,
        effective_from: int | None = None,
    ) -> tuple[CompanyInfo | None, CompanyInfo]:
        """Create or update a company; returns (before, after). ``limits`` given as None values
        clear those limits; with ``replace_limits`` every limit not given is cleared. A limit
        that changes takes effect at ``effective_from`` (default now); a company's first value
        of a limit judges its whole history. ``after`` holds the limits in force now."""
        if timezone is not None:
            zone(timezone)
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(sa.select(companies).where(companies.c.id == company_id)).first()
            before = _row_to_company(row) if row else None
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = name
            if timezone is not None:
                values["timezone"] = timezone
            if replace_limits:
                values.update({f"limit_{k}": None for k in LIMIT_NAMES})
            for k, v in (limits or {}).items():
                if k not in LIMIT_NAMES:
                    raise ValueError(f"unknown limit {k!r}; expected one of: {', '.join(LIMIT_NAMES)}")
                if v is not None and v < 0:
                    raise ValueError(f"limit {k} must not be negative")
                values[f"limit_{k}"] = v
            old_limits = before.limits if before else {}
            changed = {
                k: values.pop(f"limit_{k}")
                for k in LIMIT_NAMES
                if f"limit_{k}" in values and values[f"limit_{k}"] != old_limits.get(k)
            }
            if before is None:
                values.setdefault("name", company_id)
                values.setdefault("timezone", DEFAULT_TIMEZONE)
                conn.execute(companies.insert().values(id=company_id, **values))
            elif values:
                conn.execute(companies.update().where(companies.c.id == company_id).values(**values))
            if changed:
                self._put_limits(conn, company_id, changed, effective_from)
            after = _row_to_company(conn.execute(sa.select(companies).where(companies.c.id == company_id)).one())
        return before, after

    def _put_limits(
        self, conn: Any, company_id: str, changed: dict[str, int | None], effective_from: int | None
    ) -> None:
        """Add the changes to the history and set the company's columns to what is in force now."""
        now = self.clock()
        known = set(
            conn.execute(
                sa.select(limit_history.c.name).where(limit_history.c.company_id == company_id).distinct()
            ).scalars()
        )
        conn.execute(
            limit_history.insert(),
            [
                {
                    "company_id": company_id,
                    "name": k,
                    "value": v,
                    "effective_from": (now if effective_from is None else effective_from) if k in known else BEGINNING,
                }
                for k, v in changed.items()
            ],
        )
        in_force = {k: v for k, v in self._limits_at(conn, company_id, now).items() if k in LIMIT_NAMES}
        conn.execute(
            companies.update()
            .where(companies.c.id == company_id)
            .values(**{f"limit_{k}": in_force.get(k) for k in LIMIT_NAMES})
        )

    @staticmethod
    def _limits_at(conn: Any, company_id: str, instant: int) -> dict[str, int | None]:
        rows = conn.execute(
            sa.select(limit_history.c.name, limit_history.c.value)
            .where(limit_history.c.company_id == company_id, limit_history.c.effective_from <= instant)
            .order_by(limit_history.c.effective_from, limit_history.c.id)
        ).fetchall()
        return {r.name: r.value for r in rows}  # the latest of each name wins

    def limit_history(self, company_ids: Iterable[str]) -> dict[str, dict[str, list[tuple[int, int | None]]]]:
        """Per company and limit: its (effective_from, value) steps in order (value None = no
        limit from then on); companies and limits never set are absent."""
        wanted = sorted(set(company_ids))
        out: dict[str, dict[str, list[tuple[int, int | None]]]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 1000):
                rows = conn.execute(
                    sa.select(limit_history)
                    .where(limit_history.c.company_id.in_(wanted[i : i + 1000]))
                    .order_by(
                        limit_history.c.company_id,
                        limit_history.c.name,
                        limit_history.c.effective_from,
                        limit_history.c.id,
                    )
                ).fetchall()
                for r in rows:
                    steps = out.setdefault(r.company_id, {}).setdefault(r.name, [])
                    if steps and steps[-1][0] == r.effective_from:
                        steps[-1] = (r.effective_from, r.value)  # the later change of one instant wins
                    else:
                        steps.append((r.effective_from, r.value))
        return out
