"""Load benchmark (issue 12), not a test: `python bench/bench_load.py [--seconds 60]`.

Serves the demo company plus a second company (``bench``, N connections over a year) with
`vkurse-stats serve` in a child process on loopback, then measures, with real concurrent clients:

1. idle reads: 4 dashboards of the demo company (last 30 days) and 4 one-year summaries of
   it, nothing else running: p50/p95/p99 per kind;
2. ingest alone: 4 writers posting 1,000-record batches of the other company (``bench``, live
   records of today): records/s;
3. both at once for ``--seconds``: errors, read p50/p95/p99, ingest records/s.

Afterwards it checks that the stored records equal the accepted ones and that re-sending batches
changes no figure. Every request loop is bounded in count and time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CLI = [sys.executable, "-m", "vkurse_stats.cli"]
MAX_REQUESTS = 200_000  # a bound on every loop, whatever the clock says


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tally:
    """Latencies (ms) and errors of one kind of request."""

    ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    records: int = 0

    def line(self, name: str, seconds: float) -> str:
        if not self.ms:
            return f"  {name:<28} no requests, {len(self.errors)} errors"
        q = statistics.quantiles(self.ms, n=100) if len(self.ms) > 1 else [self.ms[0]] * 99
        rate = f", {self.records / seconds:,.0f} records/s" if self.records else ""
        return (
            f"  {name:<28} n={len(self.ms):5d}  p50 {q[49]:7.1f}  p95 {q[94]:7.1f}  p99 {q[98]:7.1f} ms"
            f"  errors {len(self.errors)}{rate}"
        )


def prepare(work: Path, n: int) -> tuple[Path, dict[str, str]]:
    """A data directory with the demo company, the ``bench`` company and the sign-ins; returns it
    and the credentials (session ids and tokens)."""
    from bench_core import generate

    data = work / "load-data"
    seed = work / f"load-seed-{n}"
    if not (seed / "analytics.duckdb").exists():
        shutil.rmtree(seed, ignore_errors=True)
        subprocess.run([*CLI, "--data-dir", str(seed), "demo"], check=True, stdout=subprocess.DEVNULL)
        pq, _ = generate(n, work)
        subprocess.run(
            [*CLI, "--data-dir", str(seed), "import", "--kind", "connection", str(pq)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(seed, data)
    from vkurse_stats.store.accounts import AccountStore
    from vkurse_stats.store.meta import MetaStore

    meta = MetaStore(f"sqlite:///{data / 'meta.sqlite3'}")
    accounts = AccountStore(meta.engine)
    creds: dict[str, str] = {}
    for i in range(4):
        acct, _ = accounts.create_account(
            f"load{i}@demo.vkurse.ru", role="admin", company_id="demo", password="load-password-1"
        )
        accounts.set_password(acct.id, "load-password-1")
        creds[f"session{i}"] = accounts.create_session(acct.id)[0]
    op, _ = accounts.create_account("load-op@vkurse.ru", role="operator", password="load-password-1")
    accounts.set_password(op.id, "load-password-1")
    creds["operator"] = accounts.create_session(op.id)[0]
    creds["read"] = accounts.create_token("read", "demo", label="load")[1]
    creds["ingest"] = accounts.create_token("ingest", "bench", label="load")[1]
    meta.close()
    return data, creds


def batches(count: int, writer: int) -> list[bytes]:
    """1,000 connections of the ``bench`` company per batch, joined in the last hours (today's
    figures move), with events of 10 connections each."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    out = []
    for b in range(count):
        rows = []
        for i in range(1000):
            j = now_ms - 3 * 3_600_000 + (b * 1000 + i) * 7 % 10_000_000
            rows.append(
                {
                    "kind": "connection",
                    "id": f"load-{writer}-{b}-{i}",
                    "company_id": "bench",
                    "event_id": f"load-e{writer}-{b}-{i // 10}",
                    "event_template": "meeting",
                    "transport": "webrtc" if i % 3 else "webrtmp",
                    "joined_at": j,
                    "left_at": j + 60_000 + (i % 50) * 30_000,
                    "user_id": f"load-u{i % 300}",
                    "client": "web",
                }
            )
        out.append("\n".join(json.dumps(r) for r in rows).encode())
    return out


class Load:
    def __init__(self, base: str, creds: dict[str, str]) -> None:
        self.base = base
        self.creds = creds
        self.tallies: dict[str, Tally] = defaultdict(Tally)
        self.templates: list[list[bytes]] = []
        self.sent_count = [0, 0, 0, 0]
        self.lock = threading.Lock()
        today = date.today()
        self.month = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
        self.year = {"from": (today - timedelta(days=364)).isoformat(), "to": today.isoformat()}

    def _record(self, kind: str, ms: float, error: str | None, records: int = 0) -> None:
        with self.lock:
            t = self.tallies[kind]
            t.ms.append(ms)
            t.records += records
            if error:
                t.errors.append(error)

    def _loop(self, kind: str, until: float, request) -> None:  # noqa: ANN001
        with httpx.Client(base_url=self.base, timeout=120) as c:
            for _ in range(MAX_REQUESTS):
                if time.monotonic() >= until:
                    return
                t = time.perf_counter()
                try:
                    r, records = request(c)
                    error = None if r.status_code == 200 else f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    error, records = f"{type(exc).__name__}: {exc}", 0
                self._record(kind, (time.perf_counter() - t) * 1000, error, 0 if error else records)

    def dashboard(self, i: int, until: float) -> None:
        def get(c: httpx.Client):  # noqa: ANN202
            c.cookies.set("vks_session", self.creds[f"session{i}"])
            return c.get("/dashboard", params=self.month), 0

        self._loop("dashboard (demo, 30 days)", until, get)

    def summary(self, until: float) -> None:
        headers = {"Authorization": f"Bearer {self.creds['read']}"}
        self._loop(
            "summary (demo, 1 year)", until, lambda c: (c.get("/api/v1/summary", params=self.year, headers=headers), 0)
        )

    def bodies(self, w: int) -> Iterator[bytes]:
        """Endless distinct batches of writer ``w``: 50 made once, their ids renamed per round."""
        templates = self.templates[w]
        while True:
            n = self.sent_count[w]
            self.sent_count[w] += 1
            body = templates[n % len(templates)]
            tag = f"{w}r{n // len(templates)}-".encode()
            yield body.replace(f"load-{w}-".encode(), b"load-" + tag).replace(f"load-e{w}-".encode(), b"load-e" + tag)

    def writer(self, w: int, until: float, sent: list[bytes]) -> None:
        headers = {"Authorization": f"Bearer {self.creds['ingest']}"}
        it = self.bodies(w)

        def post(c: httpx.Client):  # noqa: ANN202
            body = next(it)
            r = c.post("/api/v1/ingest", content=body, headers=headers)
            if r.status_code == 200:
                sent.append(body)
            return r, r.json().get("accepted", 0) if r.status_code == 200 else 0

        self._loop("ingest (bench, 1,000/batch)", until, post)

    def run(self, seconds: float, readers: bool, writers: int) -> tuple[float, list[bytes]]:
        self.tallies.clear()
        until = time.monotonic() + seconds
        sent: list[bytes] = []
        threads = []
        if readers:
            threads += [threading.Thread(target=self.dashboard, args=(i, until)) for i in range(4)]
            threads += [threading.Thread(target=self.summary, args=(until,)) for _ in range(4)]
        threads += [threading.Thread(target=self.writer, args=(w, until, sent)) for w in range(writers)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return time.perf_counter() - t, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--idle-seconds", type=float, default=15)
    ap.add_argument("--n", type=int, default=200_000, help="connections of the second company")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    data, creds = prepare(a.work, a.n)
    port = free_port()
    log = open(a.work / "load-server.log", "w")  # noqa: SIM115
    env = {**os.environ, "VKURSE_STATS_DATA_DIR": str(data)}
    server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        load = Load(base, creds)
        load.templates = [batches(50, w) for w in range(4)]
        print(
            f"vkurse-stats load benchmark: demo + bench ({a.n:,} connections), {os.cpu_count()} cores, "
            f"4 writers x 1,000 records, 8 readers"
        )
        load.run(3, True, 0)  # warm-up
        secs, _ = load.run(a.idle_seconds, True, 0)
        print(f"idle readers, {secs:.0f} s:")
        for k in sorted(load.tallies):
            print(load.tallies[k].line(k, secs))
        idle = {k: statistics.quantiles(v.ms, n=100)[94] for k, v in load.tallies.items()}
        secs, sent_alone = load.run(a.idle_seconds, False, 4)
        print(f"ingest alone, {secs:.0f} s:")
        for k in sorted(load.tallies):
            print(load.tallies[k].line(k, secs))
        secs, sent_loaded = load.run(a.seconds, True, 4)
        print(f"readers and writers together, {secs:.0f} s:")
        errors = 0
        for k in sorted(load.tallies):
            print(load.tallies[k].line(k, secs))
            errors += len(load.tallies[k].errors)
        for k, t in load.tallies.items():
            if k in idle and t.ms:
                print(f"  {k}: loaded p95 / idle p95 = {statistics.quantiles(t.ms, n=100)[94] / idle[k]:.2f}")
        for k, t in load.tallies.items():
            for e in t.errors[:3]:
                print(f"  error ({k}): {e}")
        print(f"errors under load: {errors}")
        # Re-sending changes nothing.
        summary = {"from": load.month["from"], "to": load.month["to"], "company": "bench"}
        with httpx.Client(base_url=base, timeout=120) as c:
            c.cookies.set("vks_session", creds["operator"])
            before = c.get("/api/v1/summary", params=summary).json()
            headers = {"Authorization": f"Bearer {creds['ingest']}"}
            resend = (sent_alone + sent_loaded)[:20]
            for body in resend:
                c.post("/api/v1/ingest", content=body, headers=headers).raise_for_status()
            after = c.get("/api/v1/summary", params=summary).json()
        print(f"re-sending {len(resend)} batches changed the figures: {before != after}")
        accepted = 1000 * len(sent_alone + sent_loaded)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
        log.close()
    import duckdb

    con = duckdb.connect(str(data / "analytics.duckdb"), read_only=True)
    stored = con.execute("SELECT count(*) FROM connections WHERE starts_with(id, 'load-')").fetchone()[0]
    con.close()
    print(f"accepted {accepted:,} records, stored {stored:,}: {'equal' if stored == accepted else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
