"""``--metrics ADDR:PORT`` and ``--http ADDR:PORT`` (the live dashboard) for the long-running commands.

``tribes join``, ``tribes agent`` and ``tribes keeper`` take them; ``tribes dashboard`` is a node of its
own with the dashboard on. Both bind to 127.0.0.1 unless an address is given. Operator actions
(invalidate a session, force a user's logout) are off unless ``--http-actions`` is given, and then
need the token or a user:password of ``--http-auth FILE`` (docs/observability.md).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import click

log = logging.getLogger("tribes.cli.observe")

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["ObserveOptions", "observe_options", "Observing"]


@dataclass(frozen=True)
class ObserveOptions:
    metrics: tuple[str, int] | None = None
    http: tuple[str, int] | None = None
    auth_file: str | None = None
    actions: bool = False
    show_values: bool = True
    role: str | None = None            # tribes_node_info's role (default: the command's name)

    @property
    def wanted(self) -> bool:
        return self.metrics is not None or self.http is not None


def _listen(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    from tribes.metrics.server import parse_listen
    try:
        return parse_listen(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def observe_options(func: F) -> F:
    """Adds the options and passes them as ``observe: ObserveOptions``."""
    @functools.wraps(func)
    def wrapper(*args: Any, metrics: tuple[str, int] | None = None, http: tuple[str, int] | None = None,
                http_auth: str | None = None, http_actions: bool = False, http_values: bool = True,
                **kw: Any) -> Any:
        if http_actions and not http_auth:
            raise click.BadParameter("operator actions need --http-auth FILE (a token, or user:password lines)",
                                     param_hint="--http-actions")
        kw["observe"] = ObserveOptions(metrics, http, http_auth, http_actions, http_values)
        return func(*args, **kw)

    opts = [
        click.option("--metrics", callback=_listen, default=None, metavar="ADDR:PORT",
                     help="Serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR defaults to 127.0.0.1)."),
        click.option("--http", callback=_listen, default=None, metavar="ADDR:PORT",
                     help="Serve the live dashboard at http://ADDR:PORT/ (ADDR defaults to 127.0.0.1)."),
        click.option("--http-auth", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
                     help="Dashboard credentials: a line 'token: SECRET' and/or 'user:password' lines."),
        click.option("--http-actions", is_flag=True, default=False,
                     help="Enable the dashboard's operator actions (invalidate, forced logout); needs --http-auth."),
        click.option("--http-values/--no-http-values", default=True, show_default=True,
                     help="Whether the dashboard may show session attribute values (off: names and types only)."),
    ]
    for o in reversed(opts):
        wrapper = o(wrapper)
    return wrapper  # type: ignore[return-value]


class Observing:
    """The observer of one node and its HTTP servers (made before the node, started after it)."""

    def __init__(self, options: ObserveOptions, role: str) -> None:
        from tribes.metrics.observer import Observer
        self.options = options
        self.role = options.role or role
        self.observer = Observer()
        self.servers: list[Any] = []
        self.dashboard: Any = None

    @property
    def interceptors(self) -> list[Any]:
        return [self.observer.interceptor]

    def attach(self, channel: Any, cluster: Any) -> None:
        self.observer.attach(channel, cluster, role=self.role)

    async def start(self, logout: Callable[[Any, str], Any] | None = None) -> None:
        """Serve what was asked for; OSError (a clear message) when an address cannot be bound."""
        from tribes.metrics.server import AsgiServer, metrics_app
        o = self.options
        try:
            if o.metrics is not None:
                srv = AsgiServer(metrics_app(self.observer), *o.metrics, what="metrics")
                await srv.start()
                self.servers.append(srv)
                click.echo(f"metrics: http://{o.metrics[0]}:{srv.port}/metrics", err=True)
            if o.http is not None:
                from tribes.dashboard.app import DashboardSettings, create_app
                from tribes.dashboard.auth import CredentialsError, load_credentials
                try:
                    creds = load_credentials(o.auth_file) if o.auth_file else None
                except CredentialsError as exc:
                    raise OSError(f"--http-auth {exc}") from None
                if logout is None:
                    from tribes.keeper.logins import force_logout
                    logout = force_logout
                settings = DashboardSettings(actions=o.actions, show_values=o.show_values, credentials=creds,
                                             logout=logout)
                app = create_app(self.observer, settings)
                self.dashboard = app.state.dashboard
                srv = AsgiServer(app, *o.http, what="dashboard", limit_concurrency=256)
                await srv.start()
                self.servers.append(srv)
                click.echo(f"dashboard: http://{o.http[0]}:{srv.port}/ (operator actions "
                           f"{'on' if o.actions else 'off'})", err=True)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self.dashboard is not None:
            self.dashboard.close()
        for srv in reversed(self.servers):
            try:
                await srv.stop()
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.warning("stopping %s: %s", srv.what, exc)
        self.servers.clear()
