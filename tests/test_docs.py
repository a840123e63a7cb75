"""The README stays true: every command, every API endpoint and every metric is documented."""

from __future__ import annotations

from pathlib import Path

from vkurse_stats.cli import cli
from vkurse_stats.metrics.definitions import METRICS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_is_in_the_readme() -> None:
    for name, cmd in cli.commands.items():
        assert f"vkurse-stats {name}" in README, name
        for sub in getattr(cmd, "commands", {}):
            assert sub in README, f"{name} {sub}"


def test_every_api_endpoint_is_in_the_readme() -> None:
    from vkurse_stats.web.api import router

    for route in router.routes:
        path = getattr(route, "path", "")
        assert path.rsplit("/", 1)[-1] in README, path


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
