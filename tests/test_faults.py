"""Faults: a full disk, and processes killed in the middle of an import or of HTTP ingest.

After any of them the figures equal those of the stored records (a rebuild), and re-sending
what was not acknowledged gives the figures of a clean import. The disk-full test mounts a small
tmpfs (it needs root, as CI has; elsewhere it skips).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import FAST_HASHER
from vkurse_stats.config import Settings
from vkurse_stats.service import open_services
from vkurse_stats.store.accounts import AccountStore
from vkurse_stats.web import create_app

NOW = "2026-03-20T12:00:00+03:00"
CLI = [sys.executable, "-m", "vkurse_stats.cli"]
BASE_MS = 1_772_600_000_000  # 2026-03-04


def records(n: int, offset: int = 0, *, company: str = "acme", moved: bool = False) -> list[dict[str, Any]]:
    """``n`` connections of calls, 3 per call, over two weeks of March; ``moved`` shifts every
    one by ten minutes (a re-sent, corrected version)."""
    shift = 600_000 if moved else 0
    out = []
    for i in range(offset, offset + n):
        joined = BASE_MS + (i * 7919 % (14 * 86_400)) * 1000 + shift
        out.append(
            {
                "kind": "connection",
                "id": f"c{i}",
                "company_id": company,
                "call_id": f"k{i // 3}",
                "transport": "webrtc" if i % 4 else "webrtmp",
                "joined_at": joined,
                "left_at": joined + 60_000 * (1 + i % 90),
                "user_id": f"u{i % 500}",
                "client": "web",
            }
        )
    return out


def second_set() -> list[dict[str, Any]]:
    """Half of the first set again, moved, and new records: more than one of the store's write
    units (an import commits a unit at a time and applies the rollups at its end)."""
    return records(3000, 1500, moved=True) + records(250_000, 10_000)


def write_jsonl(path: Path, recs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def report(data: Path) -> dict[str, Any]:
    """The March report of acme as the CLI prints it (opening the store applies what a killed
    process left unapplied)."""
    out = subprocess.run(
        [*CLI, "--data-dir", str(data), "report", "--company", "acme", "--from", "2026-03-01", "--to", "2026-03-31"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "VKURSE_STATS_NOW": NOW},
    )
    return dict(json.loads(out.stdout))


def rebuilt_report(data: Path) -> dict[str, Any]:
    subprocess.run(
        [*CLI, "--data-dir", str(data), "rebuild"],
        check=True,
        capture_output=True,
        env={**os.environ, "VKURSE_STATS_NOW": NOW},
    )
    return report(data)


def run_import(data: Path, *files: Path, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--data-dir", str(data), "import", *map(str, files), *kw.pop("args", [])],
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "VKURSE_STATS_NOW": NOW},
    )


def clean_figures(tmp: Path, second: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of a clean import of the first set of records and then ``second``."""
    run_import(tmp / "clean", write_jsonl(tmp / "clean-first.jsonl", records(3000)))
    run_import(tmp / "clean", write_jsonl(tmp / "clean-second.jsonl", second))
    return report(tmp / "clean")


def _kill_when_written(proc: subprocess.Popen[Any], wal: Path, grown: int, deadline: float = 60) -> None:
    """kill -9 once the store's write-ahead log has grown by ``grown`` bytes (some batches are
    committed, and the import goes on)."""
    start = time.monotonic()
    size = wal.stat().st_size if wal.exists() else 0
    while time.monotonic() - start < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size >= size + grown:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_import_leaves_figures_of_its_stored_records(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = write_jsonl(tmp_path / "first.jsonl", records(3000))
    second = write_jsonl(tmp_path / "second.jsonl", second_set())
    run_import(data, first)
    # Batches of a little more than one write unit: the first is committed half-way.
    proc = subprocess.Popen(
        [*CLI, "--data-dir", str(data), "import", "--batch-size", "130000", str(second)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "VKURSE_STATS_NOW": NOW},
    )
    _kill_when_written(proc, data / "analytics.duckdb.wal", 1_000_000)
    assert proc.returncode == -signal.SIGKILL, "the import ended before it was killed"
    after_kill = report(data)
    assert after_kill == rebuilt_report(data)
    run_import(data, second)  # re-sent whole: what was stored is replaced by itself
    assert report(data) == clean_figures(tmp_path, second_set())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(data: Path, port: int) -> subprocess.Popen[Any]:
    proc = subprocess.Popen(
        [*CLI, "--data-dir", str(data), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "VKURSE_STATS_NOW": NOW},
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def test_a_killed_server_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    """kill -9 while ingest requests stream in: after a restart every acknowledged record is
    stored, the figures are those of the stored records, and re-sending the rest gives the
    figures of a clean import."""
    data = tmp_path / "data"
    run_import(data, write_jsonl(tmp_path / "first.jsonl", records(3000)))
    meta = open_services(Settings(data_dir=data, fixed_now=NOW))
    token = AccountStore(meta.meta.engine, hasher=FAST_HASHER).create_token("ingest", None, "kill")[1]
    meta.close()
    second = second_set()[:23_000]
    bodies = ["\n".join(json.dumps(r) for r in second[i : i + 500]) for i in range(0, len(second), 500)]
    port = _free_port()
    server = _serve(data, port)
    acknowledged: set[str] = set()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            for n, body in enumerate(bodies):
                if n == len(bodies) // 2:
                    server.send_signal(signal.SIGKILL)
                    server.wait()
                try:
                    r = c.post("/api/v1/ingest", content=body)
                except httpx.HTTPError:
                    break
                assert r.status_code == 200, r.text
                acknowledged.update(json.loads(line)["id"] for line in body.splitlines())
    finally:
        server.kill()
        server.wait()
    assert acknowledged
    svc = open_services(Settings(data_dir=data, fixed_now=NOW))
    stored = {r[0] for r in svc.analytics.rows("SELECT id FROM connections")}
    svc.close()
    assert acknowledged <= stored
    assert report(data) == rebuilt_report(data)
    server = _serve(data, port)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            for body in bodies:
                assert c.post("/api/v1/ingest", content=body).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert report(data) == clean_figures(tmp_path, second)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_answers_507_and_the_server_recovers_by_itself(small_disk: Path, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    svc = open_services(
        Settings(data_dir=small_disk / "data", fixed_now=NOW, database_url=f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    )
    accounts = AccountStore(svc.meta.engine, hasher=FAST_HASHER)
    token = accounts.create_token("ingest", None, "disk")[1]
    read = accounts.create_token("read", None, "disk")[1]
    auth = {"Authorization": f"Bearer {token}"}
    svc.ingest_lines([json.dumps(r) for r in records(1000)])
    before = svc.analytics.rows("SELECT count(*) FROM connections")[0][0]
    big = "\n".join(json.dumps({**r, "device": "x" * 200}) for r in records(30_000, 50_000))
    filler = small_disk / "filler"
    stat = os.statvfs(small_disk)
    with open(filler, "wb") as f:
        f.write(b"\0" * (stat.f_bavail * stat.f_frsize - 200_000))
    march = {"from": "2026-03-01", "to": "2026-03-31", "company": "acme"}
    try:
        with TestClient(create_app(svc, accounts=accounts)) as c:
            r = c.post("/api/v1/ingest", content=big, headers=auth)
            assert r.status_code == 507, r.text
            assert "disk is full" in r.json()["error"] and r.headers["retry-after"]
            ready = c.get("/readyz")
            assert ready.status_code == 503 and "disk" in ready.json()["checks"]
            assert c.get("/healthz").status_code == 200
            filler.unlink()
            assert c.get("/readyz").status_code == 200  # reopened by itself, no restart
            assert svc.analytics.rows("SELECT count(*) FROM connections")[0][0] == before
            r = c.post("/api/v1/ingest", content=big, headers=auth)
            assert r.status_code == 200 and r.json()["accepted"] == 30_000
            summary = c.get("/api/v1/summary", params=march, headers={"Authorization": f"Bearer {read}"})
            assert summary.status_code == 200
    finally:
        filler.unlink(missing_ok=True)
        svc.close()
    shutil.rmtree(small_disk / "data", ignore_errors=True)


def test_the_cli_says_in_one_line_that_the_disk_is_full(small_disk: Path, tmp_path: Path) -> None:
    data = small_disk / "data"
    run_import(data, write_jsonl(tmp_path / "first.jsonl", records(1000)))
    big = write_jsonl(tmp_path / "big.jsonl", [{**r, "device": "x" * 300} for r in records(60_000, 50_000)])
    stat = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 300_000))
    done = run_import(data, big, check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "disk is full" in done.stderr and "Traceback" not in done.stderr
