"""The one writer of a running server.

DuckDB allows one writer, so every write of a server goes through one thread (as Datasette sends
its writes through one write thread). Ingest requests parse and validate their records in their
own threads, then hand them over and wait: the writer stores the records of every request that
is waiting in one transaction (group commit: one commit for many requests) and queues what they
touched. It applies the queue about once a second (one sweep of the touched days for many
batches), and at once for a company a read is waiting for, which then waits for that one apply
alone. Reads never take the writer's lock: they read committed rollups on cursors of their own.

After each apply the writer tells its listeners (:meth:`Writer.listen`) which companies' records
it applied and which of their days: the live view and the alerts react to exactly what changed.
A listener only takes note (it queues work for a thread of its own): it never slows the writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .ingest import Ingestor, IngestResult
from .metrics.rollup import Rollups
from .store.errors import StoreUnavailableError
from .worker import Worker

log = logging.getLogger("vkurse_stats")


@dataclass
class _Job:
    ingestor: Ingestor
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class Writer(Worker):
    """Group commit of ingest requests and the deferred rollups of a server (see module doc)."""

    thread_name = "writer"

    def __init__(self, rollups: Rollups, interval: float = 1.0) -> None:
        super().__init__()
        self.rollups = rollups
        self.interval = interval
        self._warm_up: Callable[[], None] | None = None
        self._jobs: list[_Job] = []
        self._wanted: set[str] = set()  # companies a read is waiting for
        self._applies = 0  # applies attempted: a waiting read watches it move
        self._error: BaseException | None = None  # of the last apply, None when it worked
        self._listeners: list[Callable[[Mapping[str, frozenset[int] | None]], None]] = []

    def listen(self, listener: Callable[[Mapping[str, frozenset[int] | None]], None]) -> None:
        """Call ``listener`` after every apply with the companies applied and their local days
        recomputed (None: the whole company, rebuilt). It runs on the writer thread: it must
        only take note and return."""
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[Mapping[str, frozenset[int] | None]], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _tell(self, applied: Mapping[str, frozenset[int] | None]) -> None:
        for listener in list(self._listeners):
            try:
                listener(applied)
            except Exception:  # noqa: BLE001 - a listener's fault never stops the writer
                log.exception("a listener of the writer failed")

    def start(self, warm_up: Callable[[], None] | None = None) -> None:
        """Start the writer thread (``warm_up`` runs there first: loading the engine and key
        indexes, so the first batches do not pay for it)."""
        if self._thread is not None:
            return
        self._warm_up = warm_up
        super().start()
        self.rollups.settle = self.settle

    def stop(self) -> None:
        """Store what was handed over, apply everything queued, and end the thread."""
        if self._thread is None:
            return
        super().stop()
        with self._cv:  # a read waiting in settle sees the writer gone
            self._cv.notify_all()
        self.rollups.settle = None

    def submit(self, ingestor: Ingestor) -> IngestResult:
        """Store what ``ingestor`` validated (its ``finish``, with the rollups queued) in the
        writer's next transaction; returns once it is committed, or raises its error."""
        job = _Job(ingestor)
        with self._cv:
            if self._stopping or self._thread is None:
                raise RuntimeError("the writer is not running")
            self._jobs.append(job)
            self._cv.notify_all()
        while not job.done.wait(1.0):
            thread = self._thread
            if thread is None or not thread.is_alive():  # never left waiting for a dead writer
                raise RuntimeError("the writer stopped before storing this batch")
        if job.error is not None:
            raise job.error
        return ingestor.result

    def settle(self, company_id: str) -> None:
        """Wait until the queued work of ``company_id`` is applied (at once, not at the next
        tick); raises the apply's error when it failed."""
        if company_id not in self.rollups.queued():
            return
        with self._cv:
            if self._thread is None:
                self.rollups.catch_up(company_id)
                return
            while company_id in self.rollups.queued() and not self._stopping:
                self._wanted.add(company_id)
                self._cv.notify_all()
                seen = self._applies
                while self._applies == seen and not self._stopping:
                    self._cv.wait()
                if self._error is not None and company_id in self.rollups.queued():
                    raise self._error

    # --- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        warm_up, self._warm_up = self._warm_up, None
        if warm_up is not None:
            try:
                warm_up()
            except Exception:  # noqa: BLE001 - the first writes do it instead
                log.exception("could not prepare the metric engine and key indexes ahead of time")
        next_tick = time.monotonic() + self.interval
        while True:
            with self._cv:
                self._cv.wait_for(
                    lambda: bool(self._jobs or self._wanted or self._stopping),
                    timeout=max(0.0, next_tick - time.monotonic()),
                )
                jobs, self._jobs = self._jobs, []
                wanted, self._wanted = self._wanted, set()
                stopping = self._stopping
            if jobs:
                self._store(jobs)
            tick = time.monotonic() >= next_tick or stopping
            if tick or wanted:
                started = time.monotonic()
                self._apply(None if tick else wanted)
                if tick:
                    # An apply recomputes whole days: as a live day grows, so does its cost. The
                    # ticks space out so applies take at most a third of the writer's time;
                    # a read still has its company applied at once.
                    next_tick = time.monotonic() + max(self.interval, 2 * (time.monotonic() - started))
            if stopping:
                with self._cv:
                    if not self._jobs:
                        return

    def _store(self, jobs: list[_Job]) -> None:
        """One transaction for every job; if it fails for a reason of one job's (not the
        store's), each job is tried alone so the others are not lost."""
        states = [job.ingestor.snapshot() for job in jobs]
        rebuilt = {c for state in states for c in state[4]}  # new companies: rebuilt by finish
        try:
            lead = jobs[0].ingestor
            for job in jobs[1:]:
                lead.absorb(job.ingestor)
            with self.rollups.transaction():
                lead.finish(defer=True)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting requests
            for job, state in zip(jobs, states, strict=True):
                job.ingestor.restore(state)
            if len(jobs) > 1 and not _is_store_failure(exc):
                for job in jobs:
                    self._store([job])
                return
            if not _is_store_failure(exc):
                log.error("an ingest batch failed", exc_info=exc)
            for job in jobs:
                job.error = exc
                job.done.set()
            return
        for job in jobs:
            job.done.set()
        if rebuilt and self._listeners:
            self._tell(dict.fromkeys(rebuilt))

    def _apply(self, companies: set[str] | None) -> None:
        error: BaseException | None = None
        queued: dict[str, frozenset[int] | None] = dict(self.rollups.queued_days()) if self._listeners else {}
        if companies is not None:
            queued = {c: d for c, d in queued.items() if c in companies}
        try:
            if companies is None:
                self.rollups.catch_up()
            else:
                for company_id in sorted(companies):
                    self.rollups.catch_up(company_id)
        except BaseException as exc:  # noqa: BLE001 - kept queued; the next tick retries
            error = exc
            if not _is_store_failure(exc):
                log.exception("deferred rollups failed; they stay queued and are tried again")
        with self._cv:
            self._applies += 1
            self._error = error
            self._cv.notify_all()
        if error is None and queued:
            self._tell(queued)


def _is_store_failure(exc: BaseException) -> bool:
    return isinstance(exc, StoreUnavailableError)
