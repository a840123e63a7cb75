"""The command line, in-process with click's runner, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import NOW
from vkurse_stats.cli import cli

RECORDS = [
    {"kind": "company", "id": "acme", "name": "ACME", "timezone": "Asia/Yekaterinburg"},
    {
        "kind": "connection",
        "id": "c1",
        "company_id": "acme",
        "call_id": "k1",
        "transport": "webrtc",
        "joined_at": "2026-03-05T10:00:00+05:00",
        "left_at": "2026-03-05T10:20:00+05:00",
        "client": "android",
    },
    {
        "kind": "connection",
        "id": "c2",
        "company_id": "acme",
        "call_id": "k1",
        "transport": "webrtc",
        "joined_at": "2026-03-05T10:05:00+05:00",
        "left_at": "2026-03-05T10:20:00+05:00",
        "user_id": "u7",
    },
]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("VKURSE_STATS_NOW", NOW)

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), *args], input=input)

    return invoke


def test_import_report_roundtrip(run: Any, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n{broken\n")
    res = run("import", str(f), "--json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert (body["accepted"], body["rejected"], body["errors"][0]["line"]) == (3, 1, 4)
    res = run("report", "--company", "acme", "--from", "2026-03-01", "--to", "2026-03-31")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["timezone"] == "Asia/Yekaterinburg"
    assert rep["metrics"]["calls.speakers"] == {"value": 2, "at": "2026-03-05T10:05:00+05:00"}
    assert len(rep["days"]) == 31
    day5 = rep["days"][4]
    assert day5["date"] == "2026-03-05" and day5["clients"] == {"android": 1, "unknown": 1}


def test_import_from_stdin_and_plain_output(run: Any) -> None:
    res = run("import", "-", input="\n".join(json.dumps(r) for r in RECORDS))
    assert res.exit_code == 0 and "accepted: 3, rejected: 0" in res.output


def test_company_commands(run: Any) -> None:
    assert (
        run(
            "company", "add", "beta", "--name", "Бета", "--timezone", "Asia/Tokyo", "--concurrent-speakers", "10"
        ).exit_code
        == 0
    )
    res = run("company", "set-limits", "beta", "--concurrent-events", "4", "--clear", "concurrent_speakers")
    assert res.exit_code == 0, res.output
    [info] = json.loads(run("company", "list", "--json").output)
    assert info["limits"] == {
        "concurrent_speakers": None,
        "concurrent_events": 4,
        "concurrent_connections": None,
        "storage_bytes": None,
    }
    assert run("company", "set-timezone", "beta", "Europe/Samara").exit_code == 0
    bad = run("company", "set-timezone", "beta", "Nowhere/City")
    assert bad.exit_code != 0 and "unknown timezone 'Nowhere/City'" in bad.output
    dup = run("company", "add", "beta")
    assert dup.exit_code != 0 and "already exists" in dup.output


def test_rebuild_gives_identical_reports(run: Any) -> None:
    run("import", "-", input="\n".join(json.dumps(r) for r in RECORDS))
    before = run("report", "--company", "acme", "--from", "2026-03-01", "--to", "2026-03-31").output
    res = run("rebuild")
    assert res.exit_code == 0 and "rebuilt 1 companies" in res.output
    assert run("report", "--company", "acme", "--from", "2026-03-01", "--to", "2026-03-31").output == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--company", "nope", "--from", "2026-03-01", "--to", "2026-03-02"], "unknown company 'nope'"),
        (["report", "--company", "acme", "--from", "2026-3-1", "--to", "2026-03-02"], "expected a date YYYY-MM-DD"),
        (["import", "missing.jsonl"], "missing.jsonl: no such file"),
        (["import", "x.txt"], "no such file"),
        (["import", "-", "--kind", "meeting"], "unknown kind 'meeting'"),
    ],
)
def test_errors_are_one_clear_line(run: Any, args: list[str], message: str) -> None:
    res = run(*args)
    assert res.exit_code != 0
    assert message in res.output
    assert "Traceback" not in res.output


def test_every_command_has_help(run: Any) -> None:
    for name, cmd in cli.commands.items():
        assert run(name, "--help").exit_code == 0, name
        for sub in getattr(cmd, "commands", {}):
            assert run(name, sub, "--help").exit_code == 0, (name, sub)


def test_real_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "VKURSE_STATS_DATA_DIR": str(tmp_path / "d"), "VKURSE_STATS_NOW": NOW}
    exe = [sys.executable, "-m", "vkurse_stats.cli"]
    data = "\n".join(json.dumps(r) for r in RECORDS).encode()
    out = subprocess.run([*exe, "import", "-", "--json"], input=data, env=env, capture_output=True, check=True)
    assert json.loads(out.stdout)["accepted"] == 3
    out = subprocess.run(
        [*exe, "report", "--company", "acme", "--from", "2026-03-05", "--to", "2026-03-05"],
        env=env,
        capture_output=True,
        check=True,
    )
    assert json.loads(out.stdout)["metrics"]["calls.held"] == {"value": 1}
    bad = subprocess.run(
        [*exe, "report", "--company", "zzz", "--from", "2026-03-05", "--to", "2026-03-05"], env=env, capture_output=True
    )
    assert (
        bad.returncode == 1
        and bad.stderr.decode().strip() == "Error: unknown company 'zzz' (see 'vkurse-stats company list')"
    )


def test_report_csv_and_xlsx_files(run: Any, tmp_path: Path) -> None:
    import openpyxl

    run("import", "-", input="\n".join(json.dumps(r) for r in RECORDS))
    csv_path, xlsx_path = tmp_path / "r.csv", tmp_path / "r.xlsx"
    args = ["report", "--company", "acme", "--from", "2026-03-04", "--to", "2026-03-06"]
    assert run(*args, "--format", "csv", "-o", str(csv_path)).exit_code == 0
    text = csv_path.read_bytes().decode("utf-8-sig").splitlines()
    assert len(text) == 4 and text[2].startswith("2026-03-05;")
    res = run(*args, "--format", "xlsx", "--lang", "en", "-o", str(xlsx_path))
    assert res.exit_code == 0, res.output
    assert "Summary" in openpyxl.load_workbook(xlsx_path, read_only=True).sheetnames
