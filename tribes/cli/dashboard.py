"""``tribes dashboard``: a cluster member of its own serving the live dashboard (and, optionally, metrics).

    tribes dashboard --config server.xml                       # http://127.0.0.1:8090/
    tribes dashboard --config server.xml --http 10.0.0.5:8090 --http-auth ops.auth --http-actions

It is ``tribes join --config ... --http ...`` without the event lines: the node follows every context
it hears of, holds their sessions (so it can show users and search them) and serves the page.
Exit status as ``tribes join``: 0 on SIGTERM or --duration, 130 Ctrl-C, 3 bad configuration, 4 could
not bind or join.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import click

from tribes.cli.common import NetworkOptions, network_options
from tribes.cli.node import config_options, explicit_flags
from tribes.cli.observe import ObserveOptions, observe_options

log = logging.getLogger("tribes.cli.dashboard")

DEFAULT_HTTP = ("127.0.0.1", 8090)

DASHBOARD_EXAMPLES = """\b
Examples:
  tribes dashboard --config conf/server.xml --bind 10.0.0.5
  tribes dashboard --config conf/server.xml --bind 10.0.0.5 --http 127.0.0.1:8090 --metrics 127.0.0.1:9404
  tribes dashboard --config conf/server.xml --http-auth ops.auth --http-actions --no-http-values

\b
The page binds to 127.0.0.1 unless --http names another address. --http-auth FILE holds a line
'token: SECRET' and/or 'user:password' lines (chmod 600); operator actions (invalidate a session,
force a user's logout) need --http-actions and those credentials.
"""


@click.command("dashboard", epilog=DASHBOARD_EXAMPLES)
@network_options
@config_options
@click.option("--context", "contexts", multiple=True, metavar="PATH",
              help="Fetch this context's sessions at start (/app; others are followed as heard).")
@observe_options
def dashboard(net: NetworkOptions, config_path: str | None = None, properties: tuple[str, ...] = (),
              jvm_route: str | None = None, contexts: tuple[str, ...] = (),
              observe: ObserveOptions | None = None) -> None:
    """Join the cluster and serve a live web dashboard of it (default http://127.0.0.1:8090/)."""
    from tribes.cli.liveview import run_join
    obs = observe or ObserveOptions()
    obs = dataclasses.replace(obs, http=obs.http or DEFAULT_HTTP, role="dashboard")
    logging.getLogger("tribes.cli.events").setLevel(logging.WARNING)
    raise SystemExit(asyncio.run(run_join(
        net, as_json=True, live=False, config_path=config_path, properties=properties, jvm_route=jvm_route,
        contexts=contexts, explicit=explicit_flags(), sessions=True, observe=obs, quiet=True)))
