"""Network flags (and the group's other options) before or after the sub-command (issue 12).

``tribes sessions create --bind 10.0.0.5 ...`` used to fail with "No such option '--bind'"."""
from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from tribes.cli import sessions as sessions_cli
from tribes.cli.common import NetworkOptions, SharedOptionsGroup, network_options


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stop `tribes sessions <cmd>` where it would join the cluster: record what it would join with."""
    seen: list[dict[str, Any]] = []

    async def fake_act(p: dict[str, Any], contexts: Any, action: Any) -> int:
        seen.append({**p, "contexts": tuple(contexts)})
        return 0

    monkeypatch.setattr(sessions_cli, "_act", fake_act)
    return seen


@pytest.mark.parametrize("args", [
    ["--bind", "127.0.0.1", "--mcast-port", "45999", "--json", "create", "--context", "/app", "user=alice"],
    ["create", "--bind", "127.0.0.1", "--mcast-port", "45999", "--json", "--context", "/app", "user=alice"],
    ["--mcast-port", "45999", "create", "--context", "/app", "--bind", "127.0.0.1", "--json", "user=alice"],
])
def test_sessions_flags_before_or_after_the_subcommand(captured: list[dict[str, Any]], args: list[str]) -> None:
    result = CliRunner().invoke(sessions_cli.sessions, args)
    assert result.exit_code == 0, result.output
    p = captured[-1]
    assert p["net"].bind == "127.0.0.1" and p["net"].mcast_port == 45999 and p["as_json"] is True
    assert p["contexts"] == ("/app",)


def test_sessions_subcommand_flag_wins_and_defaults_do_not_override(captured: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(sessions_cli.sessions, ["--bind", "127.0.0.1", "--jvm-route", "a",
                                                        "remove", "--bind", "127.0.0.2", "ID", "n"])
    assert result.exit_code == 0, result.output
    p = captured[-1]
    assert p["net"].bind == "127.0.0.2"          # given after the sub-command: wins
    assert p["jvm_route"] == "a"                 # not given after: the group's value stays
    assert p["net"].mcast_port == 45564          # defaults of the copied options change nothing


def test_unknown_option_after_the_subcommand_still_fails(captured: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(sessions_cli.sessions, ["create", "--bogus", "1"])
    assert result.exit_code == 2 and "No such option" in result.output and not captured


def test_shared_options_group_on_its_own() -> None:
    @click.group(cls=SharedOptionsGroup)
    @network_options
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def top(ctx: click.Context, net: NetworkOptions, as_json: bool) -> None:
        ctx.obj = {"net": net, "as_json": as_json}

    out: list[Any] = []

    @top.command("show")
    @click.option("--bind", "bind", default="own")  # a sub-command's own option is not replaced
    @click.pass_context
    def show(ctx: click.Context, bind: str) -> None:
        out.append((bind, ctx.obj["net"].receiver_port, ctx.obj["as_json"]))

    result = CliRunner().invoke(top, ["show", "--receiver-port", "4100", "--json", "--bind", "x"])
    assert result.exit_code == 0, result.output
    assert out == [("x", 4100, True)]
