"""Accounts, browser sessions, API tokens, the audit log and login throttling.

These tables live in the metadata database next to ``companies`` (they share :data:`METADATA`),
written with SQLAlchemy Core so SQLite and PostgreSQL run the same code. Secrets are never
stored: passwords as argon2id hashes (memory-hard, so a stolen database is expensive to crack),
session ids and API tokens as SHA-256 of 256-bit random values (a fast hash is enough there
because the input cannot be guessed). Plain secrets exist only in the return value of the call
that creates them, to be shown once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
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
    "accounts", METADATA,
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
    "sessions", METADATA,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens", METADATA,
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
    "audit_log", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("actor", sa.String(320), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("company_id", sa.String(256)),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("address", sa.String(64)),
)

login_failures = sa.Table(
    "login_failures", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
)

TOKEN_PREFIX = "vks_"
SESSION_SECONDS = 12 * 3600
MIN_PASSWORD_LENGTH = 10
# Failures inside the window that lock a key: few per account (protects one password), more per
# address (several people behind one corporate NAT mistype too).
THROTTLE_WINDOW_S = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20

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
        return {"id": self.id, "email": self.email, "role": self.role,
                "company_id": self.company_id, "must_change": self.must_change,
                "disabled": self.disabled}


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
        return {"id": self.id, "prefix": self.prefix, "scope": self.scope,
                "company_id": self.company_id, "label": self.label,
                "revoked": self.revoked_at is not None}


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


def _account(row: Any) -> Account:
    m = row._mapping
    return Account(id=m["id"], email=m["email"], role=m["role"], company_id=m["company_id"],
                   must_change=bool(m["must_change"]), disabled=bool(m["disabled"]),
                   created_at=m["created_at"], last_login_at=m["last_login_at"])


def _token(row: Any) -> ApiToken:
    m = row._mapping
    return ApiToken(id=m["id"], prefix=m["prefix"], scope=m["scope"], company_id=m["company_id"],
                    label=m["label"], created_at=m["created_at"], revoked_at=m["revoked_at"],
                    last_used_at=m["last_used_at"])


class AccountStore:
    """Accounts, sessions, tokens, audit and throttling over one SQLAlchemy engine."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time,
                 hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.hasher = hasher or _HASHER
        self._dummy: str | None = None
        self._lock = threading.Lock()
        # The metadata store may have migrated before this module was imported.
        METADATA.create_all(engine, tables=[accounts, sessions, api_tokens, audit_log,
                                            login_failures])

    def _dummy_hash(self) -> str:
        """Verified against when the account does not exist, so both cases take as long."""
        if self._dummy is None:
            self._dummy = self.hasher.hash("not a real password")
        return self._dummy

    # --- accounts ----------------------------------------------------------------------------
    def create_account(self, email: str, *, role: Role, company_id: str | None = None,
                       password: str | None = None) -> tuple[Account, str]:
        """Create an account; returns it and its one-time password (to show once)."""
        email = normalize_email(email)
        if "@" not in email or len(email) > 320:
            raise AccountError(f"not an e-mail address: {email!r}")
        if role == "admin" and not company_id:
            raise AccountError("a company administrator needs a company")
        if role == "operator":
            company_id = None
        plain = password or generate_password()
        with self._lock, self.engine.begin() as conn:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.email == email)).first():
                raise AccountError(f"an account {email} already exists")
            conn.execute(accounts.insert().values(
                email=email, role=role, company_id=company_id,
                password_hash=self.hasher.hash(plain), must_change=password is None,
                disabled=False, created_at=self.clock()))
            row = conn.execute(sa.select(accounts).where(accounts.c.email == email)).one()
        return _account(row), plain

    def account(self, account_id: int) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts).where(accounts.c.id == account_id)).first()
        return _account(row) if row else None

    def account_by_email(self, email: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts).where(
                accounts.c.email == normalize_email(email))).first()
        return _account(row) if row else None

    def accounts(self, company_id: str | None = None) -> list[Account]:
        q = sa.select(accounts).order_by(accounts.c.email)
        if company_id is not None:
            q = q.where(accounts.c.company_id == company_id)
        with self.engine.connect() as conn:
            return [_account(r) for r in conn.execute(q)]

    def verify_password(self, email: str, password: str) -> Account | None:
        """The account if ``password`` is right and the account is enabled, else None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(accounts).where(
                accounts.c.email == normalize_email(email))).first()
        stored: str = row._mapping["password_hash"] if row else self._dummy_hash()
        try:
            self.hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        acct = _account(row)
        if acct.disabled:
            return None
        if self.hasher.check_needs_rehash(stored):
            self._set_hash(acct.id, self.hasher.hash(password), must_change=acct.must_change)
        with self.engine.begin() as conn:
            conn.execute(accounts.update().where(accounts.c.id == acct.id)
                         .values(last_login_at=self.clock()))
        return acct

    def _set_hash(self, account_id: int, hashed: str, *, must_change: bool) -> None:
        with self.engine.begin() as conn:
            n = conn.execute(accounts.update().where(accounts.c.id == account_id)
                             .values(password_hash=hashed, must_change=must_change)).rowcount
        if not n:
            raise AccountError(f"no account {account_id}")

    def set_password(self, account_id: int, password: str) -> None:
        """Set a password chosen by its owner (no change forced afterwards)."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
        self._set_hash(account_id, self.hasher.hash(password), must_change=False)

    def reset_password(self, account_id: int) -> str:
        """Issue a new one-time password; ends the account's sessions. Returns the password."""
        plain = generate_password()
        self._set_hash(account_id, self.hasher.hash(plain), must_change=True)
        self.end_sessions(account_id)
        return plain

    def set_disabled(self, account_id: int, disabled: bool = True) -> Account:
        with self.engine.begin() as conn:
            n = conn.execute(accounts.update().where(accounts.c.id == account_id)
                             .values(disabled=disabled)).rowcount
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
            return conn.execute(sa.select(accounts.c.password_hash).where(
                accounts.c.email == normalize_email(email))).scalar()

    # --- sessions ----------------------------------------------------------------------------
    def create_session(self, account_id: int) -> tuple[str, Session]:
        """A new session; returns the plain session id (for the cookie) and the session."""
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(id_hash=sha256(sid), account_id=account_id,
                                                  csrf=csrf, created_at=now,
                                                  expires_at=now + SESSION_SECONDS))
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
                .where(sessions.c.id_hash == sha256(sid))).first()
        if row is None or row._mapping["expires_at"] < self.clock():
            return None
        acct = _account(row)
        if acct.disabled:
            return None
        return Session(account=acct, csrf=row._mapping["csrf"],
                       expires_at=row._mapping["expires_at"])

    def end_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.id_hash == sha256(sid)))

    def end_sessions(self, account_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.account_id == account_id))

    # --- API tokens --------------------------------------------------------------------------
    def create_token(self, scope: str, company_id: str | None,
                     label: str = "") -> tuple[ApiToken, str]:
        """A new token; returns it and its plain value (to show once)."""
        if scope not in SCOPES:
            raise AccountError(f"unknown scope {scope!r}; expected one of: {', '.join(SCOPES)}")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(
                token_hash=sha256(plain), prefix=plain[:10], scope=scope, company_id=company_id,
                label=label[:200], created_at=self.clock()))
            row = conn.execute(sa.select(api_tokens).where(
                api_tokens.c.token_hash == sha256(plain))).one()
        return _token(row), plain

    def verify_token(self, plain: str) -> ApiToken | None:
        """The live (not revoked) token for a bearer value, or None."""
        if not plain.startswith(TOKEN_PREFIX) or len(plain) > 100:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(
                api_tokens.c.token_hash == sha256(plain))).first()
        if row is None or row._mapping["revoked_at"] is not None:
            return None
        return _token(row)

    def tokens(self) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id))
            return [_token(r) for r in rows]

    def revoke_token(self, token_id: int) -> ApiToken:
        with self.engine.begin() as conn:
            n = conn.execute(api_tokens.update().where(
                api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())).rowcount
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise AccountError(f"no token {token_id}")
        if not n:
            raise AccountError(f"token {token_id} is already revoked")
        return _token(row)

    # --- audit -------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, company_id: str | None = None,
              address: str | None = None, **detail: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit_log.insert().values(
                at=self.clock(), actor=actor, action=action, company_id=company_id,
                detail=json.dumps(detail, ensure_ascii=False, default=str), address=address))

    def audit_entries(self, *, limit: int = 100, offset: int = 0,
                      company_id: str | None = None) -> tuple[list[AuditEntry], int]:
        q = sa.select(audit_log)
        cnt = sa.select(sa.func.count()).select_from(audit_log)
        if company_id is not None:
            q = q.where(audit_log.c.company_id == company_id)
            cnt = cnt.where(audit_log.c.company_id == company_id)
        q = q.order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(q).fetchall()
            total = int(conn.execute(cnt).scalar() or 0)
        return [AuditEntry(id=r.id, at=r.at, actor=r.actor, action=r.action,
                           company_id=r.company_id, detail=json.loads(r.detail or "{}"),
                           address=r.address) for r in rows], total

    # --- login throttling --------------------------------------------------------------------
    def login_blocked(self, email: str, address: str) -> float:
        """Seconds until a login may be tried again for this account or address (0 = now)."""
        now = self.clock()
        since = now - THROTTLE_WINDOW_S
        wait = 0.0
        with self.engine.connect() as conn:
            for key, limit in ((f"acct:{normalize_email(email)}", MAX_FAILURES_PER_ACCOUNT),
                               (f"addr:{address}", MAX_FAILURES_PER_ADDRESS)):
                times = [r[0] for r in conn.execute(
                    sa.select(login_failures.c.at).where(login_failures.c.key == key,
                                                         login_failures.c.at >= since)
                    .order_by(login_failures.c.at.desc()).limit(limit))]
                if len(times) >= limit:
                    # Unlocks when the oldest of the last `limit` failures leaves the window.
                    wait = max(wait, times[-1] + THROTTLE_WINDOW_S - now)
        return max(wait, 0.0)

    def record_login_failure(self, email: str, address: str) -> None:
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(login_failures.delete().where(
                login_failures.c.at < now - THROTTLE_WINDOW_S))
            conn.execute(login_failures.insert(), [
                {"key": f"acct:{normalize_email(email)}", "at": now},
                {"key": f"addr:{address}", "at": now}])

    def clear_login_failures(self, email: str) -> None:
        """Forget an account's failures after a successful login (the address keeps its count,
        so one good password does not reset a spray across many accounts)."""
        with self.engine.begin() as conn:
            conn.execute(login_failures.delete().where(
                login_failures.c.key == f"acct:{normalize_email(email)}"))


DEMO_ACCOUNTS: tuple[tuple[str, Role, str | None], ...] = (
    ("admin@demo.vkurse.ru", "admin", "demo"),
    ("support@demo.vkurse.ru", "operator", None))
DEMO_PASSWORD = "demo-password"


def ensure_demo_accounts(svc: Any, company_id: str = "demo") -> Iterator[str]:
    """The demo's sign-ins (``vkurse-stats demo``): a company administrator and a support
    account with a published password. Only the demo command calls this."""
    store = AccountStore(svc.meta.engine)
    for email, role, company in DEMO_ACCOUNTS:
        company = company_id if company else None
        acct = store.account_by_email(email)
        if acct is None:
            acct, _ = store.create_account(email, role=role, company_id=company,
                                           password=DEMO_PASSWORD)
            store.audit("demo", "account.create", company, email=email, role=role)
        else:
            store.set_password(acct.id, DEMO_PASSWORD)
            store.set_disabled(acct.id, False)
        yield f"demo sign-in ({role}): {email} / {DEMO_PASSWORD}"
