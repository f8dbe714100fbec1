"""The ``tribes`` command line.

Sub-commands live in their own modules and are imported only when used, so
``tribes --help`` stays fast and one broken optional dependency does not take
every command down.  Conventions every command follows: docs/cli.md.
"""
from __future__ import annotations

import importlib
import logging
import sys

import click

from tribes import __version__

# command name -> "module:attribute".  One line per command; keep sorted.
COMMANDS: dict[str, str] = {
    "agent": "tribes.cli.agent:agent",
    "bench": "tribes.cli.bench:bench",
    "config": "tribes.cli.config:config",
    "dashboard": "tribes.cli.dashboard:dashboard",
    "decode": "tribes.cli.decode:decode",
    "demo": "tribes.cli.demo:demo",
    "javaser": "tribes.cli.javaser:javaser",
    "join": "tribes.cli.join:join",
    "keeper": "tribes.cli.keeper:keeper",
    "members": "tribes.cli.members:members",
    "send": "tribes.cli.send:send",
    "sessions": "tribes.cli.sessions:sessions",
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


def configure_logging(verbose: int, quiet: int) -> None:
    level = logging.WARNING + 10 * (quiet - verbose)
    level = max(logging.DEBUG, min(logging.CRITICAL, level))
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if verbose or quiet:  # the package's hierarchy (tribes.membership, ...), also when the root logger
        logging.getLogger("tribes").setLevel(level)  # was configured before (basicConfig is then a no-op)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tribes")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.option("-q", "--quiet", count=True, help="Less log output.")
def cli(verbose: int, quiet: int) -> None:
    """Tomcat cluster (Tribes) tools: join a cluster, watch members and sessions, decode captures."""
    configure_logging(verbose, quiet)


def main() -> None:
    cli(prog_name="tribes")


if __name__ == "__main__":  # pragma: no cover
    main()
