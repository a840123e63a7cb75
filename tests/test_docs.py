"""The README stays true: every command, every API endpoint and every metric is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vkurse_stats.cli import cli
from vkurse_stats.metrics.definitions import METRICS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands() -> list[tuple[str, Any]]:
    """Every command and subcommand, by its full name."""
    out: list[tuple[str, Any]] = []
    for name, cmd in cli.commands.items():
        out.append((name, cmd))
        out.extend((f"{name} {sub}", subcmd) for sub, subcmd in getattr(cmd, "commands", {}).items())
    return out


def test_every_command_and_option_is_in_the_readme() -> None:
    for name, cmd in _commands():
        assert f"vkurse-stats {name}" in README or name.split()[-1] in README, name
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help":
                    assert opt in README, f"vkurse-stats {name} {opt}"
    for param in cli.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert opt in README, f"vkurse-stats {opt}"


def test_every_api_endpoint_is_in_the_readme() -> None:
    from vkurse_stats.web.app import create_app

    del create_app  # the routers are registered on import of the app module
    from vkurse_stats.web import api, insight

    for router in (api.router, insight.router):
        for route in router.routes:
            path = getattr(route, "path", "")
            assert path in README, path


def test_every_metric_is_in_the_readme() -> None:
    for m in METRICS:
        section, _, name = m.id.partition(".")
        assert m.id in README or f"{section}.{name}" in README or name in README, m.id


def test_every_setting_is_in_the_readme() -> None:
    """Every VKURSE_STATS_* variable the code reads (through config.env or by its full name)."""
    import re

    package = Path(__file__).resolve().parent.parent / "vkurse_stats"
    names: set[str] = set()
    for path in package.rglob("*.py"):
        text = path.read_text()
        names.update(re.findall(r"\benv\(\"([A-Z_]+)\"", text))
        names.update(m.removeprefix("VKURSE_STATS_") for m in re.findall(r"VKURSE_STATS_[A-Z_]+", text))
    names.discard("")
    assert names, "no settings found"
    for name in sorted(names):
        assert f"VKURSE_STATS_{name}" in README, name
