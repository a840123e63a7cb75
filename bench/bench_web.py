"""Web benchmarks (issue 3), not tests: `python bench/bench_web.py --n 1000000`.

Builds a store of N connections of one company over a year (the files of bench_core.py, imported
through the CLI), serves it with uvicorn on loopback, and measures: `/api/v1/summary` and the
full dashboard page for a one-year range (p50/p95, wall time over loopback, so a little above
server time), and ingest API throughput with 1,000-record batches.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--batches", type=int, default=100, help="ingest batches of 1,000 records")
    a = ap.parse_args()
    os.environ.setdefault("VKURSE_STATS_NOW", "2026-06-01T00:00:00+03:00")
    import uvicorn
    from bench_core import generate, latency, run_import

    from vkurse_stats.config import Settings
    from vkurse_stats.service import open_services
    from vkurse_stats.store.accounts import AccountStore
    from vkurse_stats.web.app import create_app

    pq, _ = generate(a.n, a.work)
    tmp = Path(tempfile.mkdtemp(prefix="vkweb-", dir=a.work))
    try:
        run_import(tmp, [pq], "connection")
        svc = open_services(Settings(data_dir=tmp))
        accounts = AccountStore(svc.meta.engine)
        acct, _ = accounts.create_account("bench@vkurse.ru", role="operator", password="bench-password-1")
        accounts.set_password(acct.id, "bench-password-1")  # no forced change on first sign-in
        sid, _ = accounts.create_session(acct.id)
        _, read = accounts.create_token("read", None, label="bench")
        _, ingest = accounts.create_token("ingest", "bench", label="bench")
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(svc, accounts=accounts), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        year = {"from": "2025-01-01", "to": "2025-12-31", "company": "bench"}
        print(f"vkurse-stats web benchmark: N={a.n:,} connections, {os.cpu_count()} cores")
        with httpx.Client(base_url=base, timeout=60) as c:
            api = {"Authorization": f"Bearer {read}"}
            assert c.get("/api/v1/summary", params=year, headers=api).status_code == 200
            p50, p95 = latency(lambda: c.get("/api/v1/summary", params=year, headers=api).raise_for_status(), 30)
            print(f"  /api/v1/summary, 1 year : p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
            c.cookies.set("vks_session", sid)
            page = c.get("/dashboard", params=year)
            assert page.status_code == 200 and "bench" in page.text, page.status_code
            p50, p95 = latency(lambda: c.get("/dashboard", params=year).raise_for_status(), 20)
            print(f"  dashboard page, 1 year  : p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
            c.cookies.clear()
            bodies = []
            for b in range(a.batches):
                rows = [
                    {
                        "kind": "connection",
                        "id": f"live-{b}-{i}",
                        "company_id": "bench",
                        "call_id": f"lk{b}-{i // 2}",
                        "transport": "webrtc",
                        "joined_at": 1748700000000 + b * 60000 + i,
                        "left_at": 1748700000000 + b * 60000 + i + 300000,
                    }
                    for i in range(1000)
                ]
                bodies.append("\n".join(json.dumps(r) for r in rows).encode())
            t = time.perf_counter()
            for body in bodies:
                r = c.post("/api/v1/ingest", content=body, headers={"Authorization": f"Bearer {ingest}"})
                assert r.status_code == 200 and r.json()["accepted"] == 1000, r.text
            secs = time.perf_counter() - t
            print(f"  ingest API, 1,000/batch : {a.batches * 1000 / secs:,.0f} records/s ({a.batches} batches)")
        server.should_exit = True
        svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
