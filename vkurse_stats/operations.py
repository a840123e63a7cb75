"""Administrative changes: companies, accounts and API tokens, each checked, applied and audited
in one method of :class:`Operations`.

The support pages (``web/support.py``) and the ``company``, ``account`` and ``token`` commands are
adapters over it: whatever the surface, a change passes the same checks, has the same effect and
leaves the same audit entry (who, from which address, the object's fields before -> after). A
refused change raises :class:`OperationError`: a stable machine ``code``, the field it is about,
and its message in Russian and English.

A company's days are calendar days of its timezone, so a timezone change recomputes every rollup
of the company (``Rollups.timezone_changed``); ingest of a company record that moves the zone
calls the same method.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .records import DEFAULT_TIMEZONE
from .store.accounts import SCOPES, Account, AccountError, AccountStore, ApiToken, Role, normalize_email
from .store.meta import LIMIT_NAMES, CompanyInfo, MetaStore
from .timeutil import zone

if TYPE_CHECKING:
    from .metrics.rollup import Rollups

MAX_ID = 256
MAX_NAME = 500
MAX_LABEL = 200
MAX_EMAIL = 320
# Company ids support creates: letters, digits, "-", "_" and "." (no "/", no spaces), so an id
# is safe in a path, a file name and a shell; ids the platform's records brought stay as they are.
_COMPANY_ID = re.compile(r"[^\W_]|[-_.]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_NEGATIVE = re.compile(r"-\s*\d")

LIMIT_LABELS: dict[str, tuple[str, str]] = {
    "concurrent_speakers": ("одновременных докладчиков", "concurrent speakers"),
    "concurrent_events": ("параллельных мероприятий", "parallel events"),
    "concurrent_connections": ("одновременных подключений", "concurrent connections"),
    "storage_bytes": ("хранилища", "storage"),
}

# Every refusal, by code: (ru, en). Parameters are filled in by OperationError.message().
MESSAGES: dict[str, tuple[str, str]] = {
    "company_id_empty": ("Укажите идентификатор компании.", "give the company id"),
    "company_id_too_long": (
        "Идентификатор компании длиннее {max} символов.",
        "the company id is longer than {max} characters",
    ),
    "company_id_invalid": (
        "Идентификатор компании «{company}» не подходит: можно буквы, цифры и знаки «-», «_», «.» "
        "(без пробелов и «/»).",
        "the company id {company!r} is not valid: use letters, digits, '-', '_' and '.' (no spaces, no '/')",
    ),
    "company_exists": ("Компания «{company}» уже существует.", "a company {company!r} already exists"),
    "company_unknown": ("Компания «{company}» не найдена.", "unknown company {company!r}"),
    "company_required": (
        "Администратору компании нужна компания: укажите её.",
        "a company administrator needs a company",
    ),
    "name_too_long": ("Название длиннее {max} символов.", "the name is longer than {max} characters"),
    "timezone_unknown": (
        "Неизвестный часовой пояс «{timezone}»: выберите его из списка.",
        "unknown timezone {timezone!r} (expected an IANA name such as Europe/Moscow)",
    ),
    "limit_unknown": ("Неизвестный лимит «{limit}».", "unknown limit {limit!r}"),
    "limit_negative": (
        "Лимит {limit_ru} не может быть отрицательным: «{value}».",
        "the limit of {limit_en} must not be negative: {value!r}",
    ),
    "limit_not_whole": (
        "Лимит {limit_ru}: «{value}» — не целое число.",
        "the limit of {limit_en}: {value!r} is not a whole number",
    ),
    "limit_not_size": (
        "Лимит {limit_ru}: «{value}» — не объём (например, 500 ГБ или 3 ТБ).",
        "the limit of {limit_en}: {value!r} is not a size (e.g. 500 GB, 3 TB)",
    ),
    "email_invalid": ("«{email}» — не адрес электронной почты.", "not an e-mail address: {email!r}"),
    "email_exists": ("Учётная запись {email} уже существует.", "an account {email} already exists"),
    "role_unknown": ("Неизвестная роль «{role}».", "unknown role {role!r}"),
    "account_unknown": ("Учётная запись {account} не найдена.", "no account {account}"),
    "account_self": ("Нельзя отключить собственную учётную запись.", "you cannot disable your own account"),
    "scope_unknown": (
        "Неизвестные права токена «{scope}»: нужны ingest или read.",
        "unknown token scope {scope!r} (expected ingest or read)",
    ),
    "label_too_long": ("Описание длиннее {max} символов.", "the label is longer than {max} characters"),
    "token_unknown": ("Токен №{token} не найден.", "no token {token}"),
    "token_revoked": ("Токен №{token} уже отозван.", "token {token} is already revoked"),
}


class OperationError(ValueError):
    """A change refused: ``code`` (see :data:`MESSAGES`), the ``field`` it is about, and the
    message in either language; ``str()`` is the English one."""

    def __init__(self, code: str, field: str | None = None, **params: Any) -> None:
        self.code = code
        self.field = field
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str) -> str:
        ru, en = MESSAGES[self.code]
        params = dict(self.params)
        if "limit" in params:
            ru_label, en_label = LIMIT_LABELS.get(params["limit"], (params["limit"], params["limit"]))
            params.update(limit_ru=f"«{ru_label}»", limit_en=en_label)
        return (en if lang == "en" else ru).format(**params)


@dataclass(frozen=True)
class Caller:
    """Who makes a change, as the audit log names them: an account's e-mail or ``cli:<os user>``,
    the address the request came from (None on the command line) and the caller's own account
    (which it may not disable)."""

    actor: str
    address: str | None = None
    account_id: int | None = None


# --- rules of values ------------------------------------------------------------------------
def check_company_id(company_id: str) -> str:
    """``company_id`` if support may create a company with it, else OperationError."""
    if not company_id:
        raise OperationError("company_id_empty", "id")
    if len(company_id) > MAX_ID:
        raise OperationError("company_id_too_long", "id", max=MAX_ID)
    if not all(_COMPANY_ID.fullmatch(ch) for ch in company_id) or not company_id.strip("."):
        # (an id of dots alone would be a "." or ".." path segment)
        raise OperationError("company_id_invalid", "id", company=company_id)
    return company_id


def check_timezone(timezone: str) -> str:
    try:
        zone(timezone)
    except ValueError:
        raise OperationError("timezone_unknown", "timezone", timezone=timezone) from None
    return timezone


def parse_limit(name: str, value: int | str | None) -> int | None:
    """A licence limit as typed: a whole number (spaces between digits allowed; storage in
    bytes: a surface that takes "3 TB" converts it first); empty means no limit."""
    if name not in LIMIT_NAMES:
        raise OperationError("limit_unknown", f"limit_{name}", limit=name)
    if value is None:
        return None
    if isinstance(value, int):
        if value < 0:
            raise OperationError("limit_negative", f"limit_{name}", limit=name, value=str(value))
        return value
    raw = value.replace("\u00a0", " ").strip()
    if raw == "":
        return None
    compact = raw.replace(" ", "").lower()
    if _NEGATIVE.match(compact):
        raise OperationError("limit_negative", f"limit_{name}", limit=name, value=raw)
    if not compact.isascii() or not compact.isdigit():
        code = "limit_not_size" if name == "storage_bytes" else "limit_not_whole"
        raise OperationError(code, f"limit_{name}", limit=name, value=raw)
    return int(compact)


def parse_limits(values: Mapping[str, int | str | None]) -> dict[str, int | None]:
    return {name: parse_limit(name, value) for name, value in values.items()}


def _check_name(name: str) -> str:
    if len(name) > MAX_NAME:
        raise OperationError("name_too_long", "name", max=MAX_NAME)
    return name


class Operations:
    """The administrative changes one caller makes over an installation's stores. ``rollups`` may
    be None where no analytic store is open (the account and token commands, which run beside a
    server): a timezone change needs it."""

    def __init__(self, meta: MetaStore, accounts: AccountStore, rollups: Rollups | None, caller: Caller) -> None:
        self.meta = meta
        self.accounts = accounts
        self.rollups = rollups
        self.caller = caller

    def _audit(self, action: str, company_id: str | None, **detail: Any) -> None:
        self.accounts.audit(self.caller.actor, action, company_id, self.caller.address, **detail)

    # --- companies ---------------------------------------------------------------------------
    def company(self, company_id: str) -> CompanyInfo:
        info = self.meta.company(company_id)
        if info is None:
            raise OperationError("company_unknown", "company", company=company_id)
        return info

    def create_company(
        self,
        company_id: str,
        name: str | None = None,
        timezone: str | None = None,
        limits: Mapping[str, int | str | None] | None = None,
    ) -> CompanyInfo:
        """A new company (name: the id; timezone: Moscow; no limits unless given)."""
        check_company_id(company_id)
        name = _check_name(name or company_id)
        timezone = check_timezone(timezone or DEFAULT_TIMEZONE)
        parsed: dict[str, int | None] = {k: v for k, v in parse_limits(limits or {}).items() if v is not None}
        if self.meta.company(company_id) is not None:
            raise OperationError("company_exists", "id", company=company_id)
        _, after = self.meta.put_company(company_id, name, timezone, parsed)
        self._audit("company.create", company_id, after=after.as_json())
        return after

    def update_company(
        self,
        company_id: str,
        *,
        name: str | None = None,
        timezone: str | None = None,
        limits: Mapping[str, int | str | None] | None = None,
        effective_from: int | None = None,
    ) -> CompanyInfo:
        """Change a company's name, timezone or limits (a limit given as None or "" is removed,
        one not given stays; a changed limit takes effect at ``effective_from``, epoch
        microseconds, default now). A new timezone or limit recomputes the company's days."""
        before = self.company(company_id)
        if name is not None:
            name = _check_name(name) or before.name
        if timezone is not None:
            check_timezone(timezone)
        parsed = parse_limits(limits or {})
        moves = timezone is not None and timezone != before.timezone
        relimits = any(parsed[k] != before.limits.get(k) for k in parsed) or effective_from is not None
        if moves or relimits:
            if self.rollups is None:
                raise RuntimeError("a timezone or limit change recomputes the company's days: open the analytic store")
            self.rollups.mark_unapplied({company_id})
        _, after = self.meta.put_company(company_id, name, timezone, parsed, effective_from=effective_from)
        if moves:
            assert self.rollups is not None
            self.rollups.timezone_changed(company_id)
        elif relimits:
            assert self.rollups is not None
            self.rollups.limits_changed(company_id)
        if after != before:
            self._audit("company.update", company_id, before=before.as_json(), after=after.as_json())
        return after

    # --- accounts ----------------------------------------------------------------------------
    def account(self, account_id: int) -> Account:
        acct = self.accounts.account(account_id)
        if acct is None:
            raise OperationError("account_unknown", "account", account=account_id)
        return acct

    def account_by_email(self, email: str) -> Account:
        acct = self.accounts.account_by_email(email)
        if acct is None:
            raise OperationError("account_unknown", "email", account=normalize_email(email))
        return acct

    def create_account(self, email: str, role: str, company_id: str | None = None) -> tuple[Account, str]:
        """A company administrator (of ``company_id``) or a support account; returns it and its
        one-time password (to show once)."""
        email = normalize_email(email)
        if not _EMAIL.fullmatch(email) or len(email) > MAX_EMAIL:
            raise OperationError("email_invalid", "email", email=email)
        if role not in ("admin", "operator"):
            raise OperationError("role_unknown", "role", role=role)
        checked: Role = "admin" if role == "admin" else "operator"
        if checked == "operator":
            company_id = None
        elif not company_id:
            raise OperationError("company_required", "company")
        else:
            self.company(company_id)
        if self.accounts.account_by_email(email) is not None:
            raise OperationError("email_exists", "email", email=email)
        try:
            acct, password = self.accounts.create_account(email, role=checked, company_id=company_id)
        except AccountError:  # created by someone else in between
            raise OperationError("email_exists", "email", email=email) from None
        self._audit(
            "account.create",
            acct.company_id,
            email=acct.email,
            after={"role": acct.role, "company_id": acct.company_id},
        )
        return acct, password

    def reset_password(self, account_id: int) -> tuple[Account, str]:
        """A new one-time password (to show once); the account's sessions end."""
        acct = self.account(account_id)
        password = self.accounts.reset_password(account_id)
        self._audit(
            "account.reset",
            acct.company_id,
            email=acct.email,
            before={"must_change": acct.must_change},
            after={"must_change": True},
        )
        return self.account(account_id), password

    def set_disabled(self, account_id: int, disabled: bool) -> Account:
        """Disable an account (its sessions end at once) or enable it again."""
        acct = self.account(account_id)
        if disabled and self.caller.account_id == account_id:
            raise OperationError("account_self", "account")
        after = self.accounts.set_disabled(account_id, disabled)
        if after.disabled != acct.disabled:
            self._audit(
                "account.disable" if disabled else "account.enable",
                acct.company_id,
                email=acct.email,
                before={"disabled": acct.disabled},
                after={"disabled": disabled},
            )
        return after

    # --- tokens ------------------------------------------------------------------------------
    def create_token(self, scope: str, company_id: str | None = None, label: str = "") -> tuple[ApiToken, str]:
        """A token for one company, or for the whole platform (``company_id`` None); returns it
        and its plain value (to show once)."""
        if scope not in SCOPES:
            raise OperationError("scope_unknown", "scope", scope=scope)
        if company_id is not None:
            self.company(company_id)
        if len(label) > MAX_LABEL:
            raise OperationError("label_too_long", "label", max=MAX_LABEL)
        token, plain = self.accounts.create_token(scope, company_id, label)
        self._audit(
            "token.create",
            company_id,
            token_id=token.id,
            prefix=token.prefix,
            after={"scope": scope, "company_id": company_id, "label": label},
        )
        return token, plain

    def token(self, token_id: int) -> ApiToken:
        token = self.accounts.token(token_id)
        if token is None:
            raise OperationError("token_unknown", "token", token=token_id)
        return token

    def revoke_token(self, token_id: int) -> ApiToken:
        if self.token(token_id).revoked_at is not None:
            raise OperationError("token_revoked", "token", token=token_id)
        try:
            token = self.accounts.revoke_token(token_id)
        except AccountError:  # revoked by someone else in between
            raise OperationError("token_revoked", "token", token=token_id) from None
        self._audit(
            "token.revoke",
            token.company_id,
            token_id=token.id,
            prefix=token.prefix,
            before={"revoked": False},
            after={"revoked": True},
        )
        return token
