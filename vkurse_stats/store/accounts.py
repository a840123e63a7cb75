"""Accounts, browser sessions, API tokens, the audit log and login throttling.

These tables live in the metadata database next to ``companies`` (they share :data:`METADATA`),
written with SQLAlchemy Core so SQLite and PostgreSQL run the same code. Secrets are never
stored: passwords as argon2id hashes (memory-hard, so a stolen database is expensive to crack),
session ids and API tokens as SHA-256 of 256-bit random values (a fast hash is enough there
because the input cannot be guessed). Plain secrets exist only in the return value of the call
that creates them, to be shown once.

Password checks are throttled before the hash is computed: an attempt first takes its place in
the throttle (a compare-and-swap on one row per key, so parallel attempts cannot all pass one
check, in one process or several), and at most :data:`MAX_CONCURRENT_HASHES` argon2 hashes run at
once in a process, so a guessing storm costs neither unbounded memory nor unbounded guesses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine

from .meta import METADATA

Role = Literal["operator", "admin"]
Scope = Literal["ingest", "read"]
SCOPES: tuple[str, ...] = ("ingest", "read")

accounts = sa.Table(
    "accounts",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("company_id", sa.String(256)),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("must_change", sa.Boolean, nullable=False, default=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_login_at", sa.Float),
)

sessions = sa.Table(
    "sessions",
    METADATA,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("company_id", sa.String(256)),  # None = the whole platform
    sa.Column("label", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("last_used_at", sa.Float),
)

audit_log = sa.Table(
    "audit_log",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("company_id", sa.String(256)),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("address", sa.String(64)),
)

# Results of a support action waiting to be shown once on the page it redirects to (POST ->
# 303 -> GET). A one-time secret in it is stored only as ``payload`` XOR a pad of random bytes
# the browser holds (a cookie): neither the table nor the cookie alone reveals it.
flashes = sa.Table(
    "flashes",
    METADATA,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("session_hash", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)

# One row per throttled key. For an (account, address) pair ``failures`` counts the attempts since
# the last success and ``next_at`` is when the next may start; for an address ``next_at`` is the
# theoretical arrival time of a GCRA limiter (``failures`` unused). ``version`` makes every
# change a compare-and-swap.
login_throttle = sa.Table(
    "login_throttle",
    METADATA,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("next_at", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False, index=True),
)

TOKEN_PREFIX = "vks_"
SESSION_SECONDS = 12 * 3600
FLASH_SECONDS = 10 * 60
MIN_PASSWORD_LENGTH = 10
# Throttling. Per (account, address): a few attempts free, then exponential backoff, so a guesser
# gets few tries at one password while the owner, from another address, is never locked out. Per
# address: at most MAX_FAILURES_PER_ADDRESS failures per window across all accounts (a spray), with
# room for several people behind one corporate NAT who mistype.
THROTTLE_WINDOW_S = 15 * 60
FAILURES_BEFORE_BACKOFF = 5
BACKOFF_BASE_S = 60.0
BACKOFF_MAX_S = float(THROTTLE_WINDOW_S)
FORGET_FAILURES_S = 24 * 3600  # a pair's failures are forgotten after a day without one
MAX_FAILURES_PER_ADDRESS = 20
# argon2 below takes 64 MiB per hash: two at once bound the memory of a storm; an attempt waits
# this long for a slot before it is refused as busy.
MAX_CONCURRENT_HASHES = 2
HASH_WAIT_S = 5.0
_HASH_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
# Serializes the throttle's compare-and-swaps within a process (they stay correct without it, across
# processes; it only spares retries).
_THROTTLE_LOCK = threading.Lock()
_CAS_TRIES = 100

# argon2id with the RFC 9106 "second recommended" profile (64 MiB, 3 passes).
_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def generate_password(length: int = 16) -> str:
    """A random password without look-alike characters, easy to read out over the phone."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
    return "".join(secrets.choice(alphabet) for _ in range(length))


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: Role
    company_id: str | None
    must_change: bool
    disabled: bool
    created_at: float
    last_login_at: float | None

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "company_id": self.company_id,
            "must_change": self.must_change,
            "disabled": self.disabled,
        }


@dataclass(frozen=True)
class Session:
    account: Account
    csrf: str
    expires_at: float


@dataclass(frozen=True)
class ApiToken:
    id: int
    prefix: str
    scope: Scope
    company_id: str | None
    label: str
    created_at: float
    revoked_at: float | None
    last_used_at: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "scope": self.scope,
            "company_id": self.company_id,
            "label": self.label,
            "revoked": self.revoked_at is not None,
        }


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    company_id: str | None
    detail: dict[str, Any]
    address: str | None


class AccountError(ValueError):
    """A request the account store refuses (duplicate email, unknown account, weak password)."""


class Throttled(AccountError):
    """Too many password attempts for this account from this address, or from this address."""

    def __init__(self, wait: float, message: str = "too many failed attempts") -> None:
        super().__init__(f"{message}; try again in {max(1, round(wait))} s")
        self.wait = wait


class HashersBusy(Throttled):
    """Every password-hashing slot stayed taken for HASH_WAIT_S: the server is under a storm."""

    def __init__(self) -> None:
        super().__init__(HASH_WAIT_S, "too many passwords are being checked right now")


@contextmanager
def _hash_slot() -> Iterator[None]:
    """One of the MAX_CONCURRENT_HASHES slots for an argon2 computation, or HashersBusy."""
    if not _HASH_SLOTS.acquire(timeout=HASH_WAIT_S):
        raise HashersBusy()
    try:
        yield
    finally:
        _HASH_SLOTS.release()


def _pair_key(email: str, address: str) -> str:
    email = normalize_email(email)[:320]
    return f"pair:{len(email)}:{email}:{address[:64]}"  # the length keeps the split unambiguous


def _address_key(address: str) -> str:
    return f"addr:{address[:64]}"


def backoff_s(failures: int) -> float:
    """How long a pair waits after its ``failures``-th attempt (0 while attempts are free)."""
    if failures < FAILURES_BEFORE_BACKOFF:
        return 0.0
    doublings = min(failures - FAILURES_BEFORE_BACKOFF, 32)  # a long siege must not overflow
    return min(BACKOFF_BASE_S * 2.0**doublings, BACKOFF_MAX_S)


def _pair_step(failures: int, next_at: float, updated_at: float, now: float) -> tuple[int, float, float]:
    """(failures, next_at, wait) after one more attempt of a pair; wait > 0 refuses it.

    The attempt counts as a failure until it succeeds, so parallel attempts see each other."""
    if updated_at < now - FORGET_FAILURES_S:
        failures, next_at = 0, 0.0
    if next_at > now:
        return failures, next_at, next_at - now
    failures += 1
    wait = backoff_s(failures)
    return failures, (now + wait if wait else 0.0), 0.0


_ADDRESS_INTERVAL_S = THROTTLE_WINDOW_S / MAX_FAILURES_PER_ADDRESS


def _address_step(failures: int, next_at: float, updated_at: float, now: float) -> tuple[int, float, float]:
    """GCRA: a burst of MAX_FAILURES_PER_ADDRESS, then one attempt per window/limit seconds."""
    tat = max(next_at, now) + _ADDRESS_INTERVAL_S
    if tat - now > THROTTLE_WINDOW_S + 1e-6:
        return failures, next_at, tat - now - THROTTLE_WINDOW_S
    return failures, tat, 0.0


def _account(row: Any) -> Account:
    m = row._mapping
    return Account(
        id=m["id"],
        email=m["email"],
        role=m["role"],
        company_id=m["company_id"],
        must_change=bool(m["must_change"]),
        disabled=bool(m["disabled"]),
        created_at=m["created_at"],
        last_login_at=m["last_login_at"],
    )


def _token(row: Any) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        prefix=m["prefix"],
        scope=m["scope"],
        company_id=m["company_id"],
        label=m["label"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
        last_used_at=m["last_used_at"],
    )


class AccountStore:
    """Accounts, sessions, tokens, audit and throttling over one SQLAlchemy engine."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], float] = time.time, hasher: PasswordHasher | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.hasher = hasher or _HASHER
        self._dummy: str | None = None
        self._lock = threading.Lock()
        # The metadata store may have migrated before this module was imported.
        METADATA.create_all(engine, tables=[accounts, sessions, api_tokens, audit_log, login_throttle, flashes])

    def _hash(self, password: str) -> str:
        with _hash_slot():
            return self.hasher.hash(password)

    def _dummy_hash(self) -> str:
        """Verified against when the account does not exist, so both cases take as long."""
        if self._dummy is None:
            self._dummy = self._hash("not a real password")
        return self._dummy

    # --- accounts ----------------------------------------------------------------------------
    def create_account(
        self, email: str, *, role: Role, company_id: str | None = None, password: str | None = None
    ) -> tuple[Account, str]:
        """Create an account; returns it and its one-time password (to show once)."""
        email = normalize_email(email)
        if "@" not in email or len(email) > 320:
            raise AccountError(f"not an e-mail address: {email!r}")
        if role == "admin" and not company_id:
            raise AccountError("a company administrator needs a company")
        if role == "operator":
            company_id = None
        plain = password or generate_password()
        hashed = self._hash(plain)
        with self._lock, self.engine.begin() as conn:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.email == email)).first():
                raise AccountError(f"an account {email} already exists")
            conn.execute(
                accounts.insert().values(
                    email=email,
                    role=role,
                    company_id=company_id,
                    password_hash=hashed,
                    must_change=password is None,
                    disabled=False,
                    created_at=self.clock(),
                )
            )
            row = conn.execute(sa.select(accounts).where(accounts.c.email == email)).one()
        return _account(row), plain

    def account(self, account_id: int) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        return _account(row) if row else None

    def account_by_email(self, email: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.email == normalize_email(email))).first()
        return _account(row) if row else None

    def accounts(self, company_id: str | None = None) -> list[Account]:
        q = sa.select(accounts).order_by(accounts.c.email)
        if company_id is not None:
            q = q.where(accounts.c.company_id == company_id)
        with self.engine.connect() as conn:
            return [_account(r) for r in conn.execute(q)]

    def verify_password(self, email: str, password: str) -> Account | None:
        """The account if ``password`` is right and the account is enabled, else None.

        Not throttled (see :meth:`check_password`); raises HashersBusy when no hashing slot
        frees up in time."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.email == normalize_email(email))).first()
        stored: str = row._mapping["password_hash"] if row else self._dummy_hash()
        try:
            with _hash_slot():
                self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        acct = _account(row)
        if acct.disabled:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._set_hash(acct.id, self._hash(password), must_change=acct.must_change, end_sessions=False)
        with self.engine.begin() as conn:
            conn.execute(accounts.update().where(accounts.c.id == acct.id).values(last_login_at=self.clock()))
        return acct

    def _set_hash(
        self,
        account_id: int,
        hashed: str,
        *,
        must_change: bool,
        end_sessions: bool = True,
        keep_session: str | None = None,
    ) -> int:
        """Store a new hash; a new password also ends the account's sessions (but
        ``keep_session``) in the same transaction. Returns how many sessions ended."""
        with self.engine.begin() as conn:
            n = conn.execute(
                accounts.update()
                .where(accounts.c.id == account_id)
                .values(password_hash=hashed, must_change=must_change)
            ).rowcount
            if not n:
                raise AccountError(f"no account {account_id}")
            if not end_sessions:
                return 0
            return self._end_sessions(conn, account_id, keep_session)

    def set_password(self, account_id: int, password: str, *, keep_session: str | None = None) -> int:
        """Set a password chosen by its owner (no change forced afterwards). Ends every other
        session of the account (``keep_session``, a plain session id, survives); returns how
        many ended."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
        return self._set_hash(account_id, self._hash(password), must_change=False, keep_session=keep_session)

    def reset_password(self, account_id: int) -> str:
        """Issue a new one-time password; ends the account's sessions. Returns the password."""
        plain = generate_password()
        self._set_hash(account_id, self._hash(plain), must_change=True)
        return plain

    def set_disabled(self, account_id: int, disabled: bool = True) -> Account:
        with self.engine.begin() as conn:
            n = conn.execute(accounts.update().where(accounts.c.id == account_id).values(disabled=disabled)).rowcount
        if not n:
            raise AccountError(f"no account {account_id}")
        if disabled:
            self.end_sessions(account_id)
        acct = self.account(account_id)
        assert acct is not None
        return acct

    @staticmethod
    def password_hash_of(engine: Engine, email: str) -> str | None:
        """The stored hash (for tests and diagnostics: it must be argon2id)."""
        with engine.connect() as conn:
            return conn.execute(
                sa.select(accounts.c.password_hash).where(accounts.c.email == normalize_email(email))
            ).scalar()

    # --- sessions ----------------------------------------------------------------------------
    def create_session(self, account_id: int) -> tuple[str, Session]:
        """A new session; returns the plain session id (for the cookie) and the session."""
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(
                sessions.insert().values(
                    id_hash=sha256(sid),
                    account_id=account_id,
                    csrf=csrf,
                    created_at=now,
                    expires_at=now + SESSION_SECONDS,
                )
            )
        acct = self.account(account_id)
        assert acct is not None
        return sid, Session(account=acct, csrf=csrf, expires_at=now + SESSION_SECONDS)

    def session(self, sid: str) -> Session | None:
        """The live session of an enabled account for a cookie value, or None."""
        if not sid or len(sid) > 100:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(sessions.c.csrf, sessions.c.expires_at, accounts)
                .join(accounts, accounts.c.id == sessions.c.account_id)
                .where(sessions.c.id_hash == sha256(sid))
            ).first()
        if row is None or row._mapping["expires_at"] < self.clock():
            return None
        acct = _account(row)
        if acct.disabled:
            return None
        return Session(account=acct, csrf=row._mapping["csrf"], expires_at=row._mapping["expires_at"])

    def end_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.id_hash == sha256(sid)))

    def end_sessions(self, account_id: int, *, keep: str | None = None) -> int:
        """End the account's sessions but ``keep`` (a plain session id); returns how many."""
        with self.engine.begin() as conn:
            return self._end_sessions(conn, account_id, keep)

    @staticmethod
    def _end_sessions(conn: sa.Connection, account_id: int, keep: str | None) -> int:
        q = sessions.delete().where(sessions.c.account_id == account_id)
        if keep:
            q = q.where(sessions.c.id_hash != sha256(keep))
        return int(conn.execute(q).rowcount or 0)

    # --- API tokens --------------------------------------------------------------------------
    def create_token(self, scope: str, company_id: str | None, label: str = "") -> tuple[ApiToken, str]:
        """A new token; returns it and its plain value (to show once)."""
        if scope not in SCOPES:
            raise AccountError(f"unknown scope {scope!r}; expected one of: {', '.join(SCOPES)}")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                api_tokens.insert().values(
                    token_hash=sha256(plain),
                    prefix=plain[:10],
                    scope=scope,
                    company_id=company_id,
                    label=label[:200],
                    created_at=self.clock(),
                )
            )
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == sha256(plain))).one()
        return _token(row), plain

    def verify_token(self, plain: str) -> ApiToken | None:
        """The live (not revoked) token for a bearer value, or None."""
        if not plain.startswith(TOKEN_PREFIX) or len(plain) > 100:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == sha256(plain))).first()
        if row is None or row._mapping["revoked_at"] is not None:
            return None
        return _token(row)

    def token(self, token_id: int) -> ApiToken | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return _token(row) if row else None

    def tokens(self) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id))
            return [_token(r) for r in rows]

    def revoke_token(self, token_id: int) -> ApiToken:
        with self.engine.begin() as conn:
            n = conn.execute(
                api_tokens.update()
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            ).rowcount
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise AccountError(f"no token {token_id}")
        if not n:
            raise AccountError(f"token {token_id} is already revoked")
        return _token(row)

    # --- audit -------------------------------------------------------------------------------
    def audit(
        self, actor: str, action: str, company_id: str | None = None, address: str | None = None, **detail: Any
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=self.clock(),
                    actor=actor,
                    action=action,
                    company_id=company_id,
                    detail=json.dumps(detail, ensure_ascii=False, default=str),
                    address=address,
                )
            )

    def audit_many(
        self, actor: str, action: str, entries: list[tuple[str | None, dict[str, Any]]], address: str | None = None
    ) -> None:
        """:meth:`audit` of one action on many companies ((company_id, detail) each), in one
        transaction: the first records of a thousand new companies in one import."""
        if not entries:
            return
        at = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert(),
                [
                    {
                        "at": at,
                        "actor": actor,
                        "action": action,
                        "company_id": company_id,
                        "address": address,
                        "detail": json.dumps(detail, ensure_ascii=False, default=str),
                    }
                    for company_id, detail in entries
                ],
            )

    def audit_entries(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        company_id: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> tuple[list[AuditEntry], int]:
        """The newest entries first, ``limit`` from ``offset``, of one company, one action (or
        every action under a prefix ending in "."), at or after ``since`` and before ``until``;
        returns them and how many match."""
        where: list[sa.ColumnElement[bool]] = []
        if company_id is not None:
            where.append(audit_log.c.company_id == company_id)
        if action:
            where.append(
                audit_log.c.action.startswith(action, autoescape=True)
                if action.endswith(".")
                else audit_log.c.action == action
            )
        if since is not None:
            where.append(audit_log.c.at >= since)
        if until is not None:
            where.append(audit_log.c.at < until)
        q = sa.select(audit_log).where(*where).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        cnt = sa.select(sa.func.count()).select_from(audit_log).where(*where)
        with self.engine.connect() as conn:
            rows = conn.execute(q).fetchall()
            total = int(conn.execute(cnt).scalar() or 0)
        return [
            AuditEntry(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                company_id=r.company_id,
                detail=json.loads(r.detail or "{}"),
                address=r.address,
            )
            for r in rows
        ], total

    def audit_actions(self) -> list[str]:
        """The actions the audit log holds (for its filter)."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(audit_log.c.action).distinct().order_by(audit_log.c.action)).scalars())

    # --- one-time results of support actions -------------------------------------------------
    def put_flash(self, session_id: str, value: dict[str, Any]) -> tuple[str, str]:
        """Keep ``value`` for the next page of this session; returns the flash id (for the URL)
        and the pad (for a cookie) that :meth:`take_flash` needs."""
        data = json.dumps(value, ensure_ascii=False).encode()
        pad = secrets.token_bytes(len(data))
        flash_id = secrets.token_urlsafe(16)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(flashes.delete().where(flashes.c.created_at < now - FLASH_SECONDS))
            conn.execute(
                flashes.insert().values(
                    id_hash=sha256(flash_id),
                    session_hash=sha256(session_id),
                    created_at=now,
                    payload=base64.b64encode(bytes(a ^ b for a, b in zip(data, pad, strict=True))).decode(),
                )
            )
        return flash_id, base64.urlsafe_b64encode(pad).decode()

    def take_flash(self, session_id: str, flash_id: str, pad: str) -> dict[str, Any] | None:
        """The value of a flash of this session, once (it is deleted), or None: unknown, taken,
        expired, another session's, or the pad does not fit."""
        if not flash_id or len(flash_id) > 64 or not pad or len(pad) > 8192:
            return None
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(flashes).where(flashes.c.id_hash == sha256(flash_id))).first()
            if row is None or row.session_hash != sha256(session_id):
                return None
            conn.execute(flashes.delete().where(flashes.c.id_hash == row.id_hash))
        if row.created_at < self.clock() - FLASH_SECONDS:
            return None
        try:
            sealed = base64.b64decode(row.payload)
            key = base64.urlsafe_b64decode(pad)
            if len(key) != len(sealed):
                return None
            value = json.loads(bytes(a ^ b for a, b in zip(sealed, key, strict=True)))
        except (ValueError, TypeError):
            return None
        return value if isinstance(value, dict) else None

    # --- password checks, throttled -------------------------------------------------------
    def check_password(self, email: str, password: str, address: str) -> Account | None:
        """:meth:`verify_password` for a caller at ``address`` (sign-in, the current password of a
        change), throttled before the hash: per address and per (account, address). Raises
        Throttled when refused; the address's failures are not counted against another one."""
        addr_key, pair_key = _address_key(address), _pair_key(email, address)
        with _THROTTLE_LOCK:
            wait = self._take(addr_key, _address_step)
            if not wait:
                wait = self._take(pair_key, _pair_step)
                if wait:
                    self._give_back_address(addr_key)
        if wait:
            raise Throttled(wait)
        try:
            account = self.verify_password(email, password)
        except HashersBusy:
            # Nothing was hashed: the attempt does not count.
            self._give_back_address(addr_key)
            self._give_back_pair(pair_key)
            raise
        if account is not None:
            # Only failures count for the address; a success forgets the pair's failures.
            self._give_back_address(addr_key)
            with self.engine.begin() as conn:
                conn.execute(login_throttle.delete().where(login_throttle.c.key == pair_key))
        return account

    def throttle_wait(self, email: str, address: str) -> float:
        """Seconds until ``email`` may be tried again from ``address`` (0 = now); read only."""
        now = self.clock()
        wait = 0.0
        with self.engine.connect() as conn:
            for key, step in ((_address_key(address), _address_step), (_pair_key(email, address), _pair_step)):
                row = conn.execute(sa.select(login_throttle).where(login_throttle.c.key == key)).first()
                if row is not None:
                    m = row._mapping
                    wait = max(wait, step(m["failures"], m["next_at"], m["updated_at"], now)[2])
        return wait

    def _take(self, key: str, step: Callable[[int, float, float, float], tuple[int, float, float]]) -> float:
        """Count one attempt on ``key`` if ``step`` allows it: 0.0, else the seconds to wait.

        A compare-and-swap on the key's row (its version), so of parallel attempts in any number
        of processes each sees the state the previous one left."""
        for _ in range(_CAS_TRIES):
            now = self.clock()
            with self.engine.connect() as conn:
                row = conn.execute(sa.select(login_throttle).where(login_throttle.c.key == key)).first()
            if row is None:
                failures, next_at, wait = step(0, 0.0, now, now)
                if wait:
                    return wait
                try:
                    with self.engine.begin() as conn:
                        # Rows nobody has touched for a day say nothing any more.
                        conn.execute(
                            login_throttle.delete().where(
                                login_throttle.c.updated_at < now - FORGET_FAILURES_S, login_throttle.c.next_at < now
                            )
                        )
                        conn.execute(
                            login_throttle.insert().values(
                                key=key, failures=failures, next_at=next_at, version=1, updated_at=now
                            )
                        )
                except sa.exc.IntegrityError:
                    continue  # another attempt created it first: take it from there
                return 0.0
            m = row._mapping
            failures, next_at, wait = step(m["failures"], m["next_at"], m["updated_at"], now)
            if wait:
                return wait
            with self.engine.begin() as conn:
                swapped = conn.execute(
                    login_throttle.update()
                    .where(login_throttle.c.key == key, login_throttle.c.version == m["version"])
                    .values(failures=failures, next_at=next_at, version=m["version"] + 1, updated_at=now)
                ).rowcount
            if swapped:
                return 0.0
        return 1.0  # the row never held still: refuse this one, the next will get through

    def _give_back_address(self, key: str) -> None:
        """Undo one counted attempt of an address (GCRA: move its arrival time back)."""
        with self.engine.begin() as conn:
            conn.execute(
                login_throttle.update()
                .where(login_throttle.c.key == key)
                .values(next_at=login_throttle.c.next_at - _ADDRESS_INTERVAL_S, version=login_throttle.c.version + 1)
            )

    def _give_back_pair(self, key: str) -> None:
        """Undo one counted attempt of a pair; a backoff it started stays (the safe side)."""
        t = login_throttle
        with self.engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.key == key, t.c.failures > 0)
                .values(
                    failures=t.c.failures - 1,
                    next_at=sa.case((t.c.failures - 1 < FAILURES_BEFORE_BACKOFF, 0.0), else_=t.c.next_at),
                    version=t.c.version + 1,
                )
            )


DEMO_ACCOUNTS: tuple[tuple[str, Role, str | None], ...] = (
    ("admin@demo.vkurse.ru", "admin", "demo"),
    ("support@demo.vkurse.ru", "operator", None),
)
DEMO_PASSWORD = "demo-password"


def ensure_demo_accounts(svc: Any, company_id: str = "demo") -> Iterator[str]:
    """The demo's sign-ins (``vkurse-stats demo``): a company administrator and a support
    account with a published password. Only the demo command calls this."""
    store = AccountStore(svc.meta.engine)
    for email, role, company in DEMO_ACCOUNTS:
        company = company_id if company else None
        acct = store.account_by_email(email)
        if acct is None:
            acct, _ = store.create_account(email, role=role, company_id=company, password=DEMO_PASSWORD)
            store.audit("demo", "account.create", company, email=email, role=role)
        else:
            store.set_password(acct.id, DEMO_PASSWORD)
            store.set_disabled(acct.id, False)
        yield f"demo sign-in ({role}): {email} / {DEMO_PASSWORD}"
