"""SPEC §7 under parallel attempts: real threads through the real HTTP app. A storm of guesses gets
at most the limit hashed, never more than MAX_CONCURRENT_HASHES at once, and the owner of the
attacked account still signs in from another address."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import pytest
from argon2 import PasswordHasher, Type

from tests.web.conftest import PASSWORD, TestClient, csrf_of, login
from vkurse_stats.store import accounts as accounts_module
from vkurse_stats.store.accounts import (
    FAILURES_BEFORE_BACKOFF,
    MAX_CONCURRENT_HASHES,
    MAX_FAILURES_PER_ADDRESS,
    AccountStore,
)
from vkurse_stats.web import create_app

T = TypeVar("T")


class CountingHasher(PasswordHasher):
    """The tests' cheap argon2id, counting the passwords it verifies and the most verified at
    once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
        self._lock = threading.Lock()
        self.verified = 0
        self._running = 0
        self.most_at_once = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verified += 1
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            # As long as a production hash takes, so that unbounded parallel checks overlap.
            time.sleep(0.05)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self._running -= 1


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def storm_app(seeded: Any, accounts: AccountStore, clock: Any, hasher: CountingHasher) -> Any:
    """The app over the seeded accounts, checking passwords with the counting hasher."""
    return create_app(seeded, accounts=AccountStore(seeded.meta.engine, clock=clock, hasher=hasher))


def _all_at_once(n: int, job: Callable[[int, threading.Barrier], T]) -> list[T]:
    """Run ``job(i, barrier)`` in ``n`` threads; each waits at the barrier before its attempt."""
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: job(i, barrier), range(n)))


def _storm(app: Any, attempts: list[tuple[str, str]], address: str) -> Counter[int]:
    """Post the sign-in form of every (email, password) in parallel from ``address``; the
    answers' status codes."""

    def attempt(i: int, barrier: threading.Barrier) -> int:
        c = TestClient(app, client=(address, 20000 + i))
        csrf = csrf_of(c.get("/login").text)
        email, password = attempts[i]
        barrier.wait(timeout=120)
        return c.post(
            "/login", data={"csrf": csrf, "email": email, "password": password}, follow_redirects=False
        ).status_code

    return Counter(_all_at_once(len(attempts), attempt))


def test_parallel_guesses_at_one_account(storm_app: Any, hasher: CountingHasher) -> None:
    codes = _storm(storm_app, [("admin@acme.ru", f"guess {i}") for i in range(40)], "203.0.113.50")
    assert codes == {401: FAILURES_BEFORE_BACKOFF, 429: 40 - FAILURES_BEFORE_BACKOFF}
    assert hasher.verified == FAILURES_BEFORE_BACKOFF
    assert hasher.most_at_once <= MAX_CONCURRENT_HASHES
    # The owner, elsewhere, is not locked out.
    assert login(TestClient(storm_app, client=("198.51.100.7", 1)), "admin@acme.ru").status_code == 303


def test_parallel_guesses_from_one_address(storm_app: Any, hasher: CountingHasher) -> None:
    codes = _storm(storm_app, [(f"user{i}@acme.ru", "guess") for i in range(60)], "203.0.113.60")
    assert codes == {401: MAX_FAILURES_PER_ADDRESS, 429: 60 - MAX_FAILURES_PER_ADDRESS}
    assert hasher.verified == MAX_FAILURES_PER_ADDRESS
    assert hasher.most_at_once <= MAX_CONCURRENT_HASHES
    assert login(TestClient(storm_app, client=("198.51.100.7", 1)), "admin@acme.ru").status_code == 303


def test_hashes_at_once_are_bounded_from_many_addresses(storm_app: Any, hasher: CountingHasher) -> None:
    """No throttle applies to 30 addresses guessing once each: the bound on parallel hashes is
    what keeps memory flat."""

    def attempt(i: int, barrier: threading.Barrier) -> int:
        c = TestClient(storm_app, client=(f"198.18.0.{i + 1}", 1))
        csrf = csrf_of(c.get("/login").text)
        email = "admin@acme.ru" if i % 2 else f"user{i}@acme.ru"
        barrier.wait(timeout=120)
        return c.post(
            "/login", data={"csrf": csrf, "email": email, "password": "guess"}, follow_redirects=False
        ).status_code

    assert Counter(_all_at_once(30, attempt)) == {401: 30}
    assert hasher.verified == 30
    assert 1 <= hasher.most_at_once <= MAX_CONCURRENT_HASHES


def test_parallel_current_password_guesses(storm_app: Any, hasher: CountingHasher) -> None:
    c = TestClient(storm_app, client=("203.0.113.70", 1))
    assert login(c, "admin@acme.ru").status_code == 303
    verified_at_sign_in = hasher.verified
    sid = c.cookies.get("vks_session")
    csrf = csrf_of(c.get("/password").text)

    def attempt(i: int, barrier: threading.Barrier) -> int:
        thief = TestClient(storm_app, client=("203.0.113.70", 100 + i), cookies={"vks_session": sid})
        barrier.wait(timeout=120)
        return thief.post(
            "/password",
            data={"csrf": csrf, "current": f"guess {i}", "new": "stolen-password-1", "repeat": "stolen-password-1"},
        ).status_code

    codes = Counter(_all_at_once(20, attempt))
    assert codes == {400: FAILURES_BEFORE_BACKOFF, 429: 20 - FAILURES_BEFORE_BACKOFF}
    assert hasher.verified - verified_at_sign_in == FAILURES_BEFORE_BACKOFF
    assert hasher.most_at_once <= MAX_CONCURRENT_HASHES


@pytest.mark.parametrize("kind,limit", [("pair", FAILURES_BEFORE_BACKOFF), ("address", MAX_FAILURES_PER_ADDRESS)])
def test_the_throttle_holds_without_the_process_lock(accounts: AccountStore, kind: str, limit: int) -> None:
    """Several server processes share the metadata database but not a lock: each take of the
    throttle is a compare-and-swap in the database, so parallel takes still stop at the limit."""
    if kind == "pair":
        key = accounts_module._pair_key("admin@acme.ru", "203.0.113.80")
        step = accounts_module._pair_step
    else:
        key = accounts_module._address_key("203.0.113.80")
        step = accounts_module._address_step

    def take(_i: int, barrier: threading.Barrier) -> float:
        barrier.wait(timeout=120)
        return accounts._take(key, step)

    waits = _all_at_once(3 * limit, take)
    assert waits.count(0.0) == limit
    assert all(w > 0 for w in waits if w != 0.0)


def test_the_owner_signs_in_during_a_storm(storm_app: Any) -> None:
    """While one address hammers the account, the owner's attempt from another goes through."""

    def attempt(i: int, barrier: threading.Barrier) -> int:
        owner = i == 0
        c = TestClient(storm_app, client=("198.51.100.9" if owner else "203.0.113.90", 1 + i))
        csrf = csrf_of(c.get("/login").text)
        barrier.wait(timeout=120)
        return c.post(
            "/login",
            data={"csrf": csrf, "email": "admin@acme.ru", "password": PASSWORD if owner else f"guess {i}"},
            follow_redirects=False,
        ).status_code

    codes = _all_at_once(30, attempt)
    assert codes[0] == 303
    assert Counter(codes[1:]) == {401: FAILURES_BEFORE_BACKOFF, 429: 29 - FAILURES_BEFORE_BACKOFF}
