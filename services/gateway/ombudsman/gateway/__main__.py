"""`python -m ombudsman.gateway` serves the API (uvicorn); `... create-admin USER` adds a user directly."""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys

import typer
import uvicorn

from ombudsman.contracts.replies import OmbudsmanError
from ombudsman.gateway.settings import GatewaySettings

cli = typer.Typer(add_completion=False, invoke_without_command=True)
_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&])(?:token|access_token|refresh_token)=)[^&\s]*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Access-log lines never show a token passed in a query string (e.g. `/ws/runs/ID?token=...`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            # a token needs `name=`: most lines (no query string) skip the regex
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1****", a) if isinstance(a, str) and "=" in a else a
                                for a in record.args)
        return True


@cli.callback()
def serve(ctx: typer.Context) -> None:
    """Serve the gateway on OMB_GATEWAY_HOST:OMB_GATEWAY_PORT."""
    if ctx.invoked_subcommand:
        return
    settings = GatewaySettings()
    from ombudsman.gateway.auth import TokenService

    try:  # refuse to start without signing keys, with one clear line instead of a traceback
        TokenService(settings)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format='{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    uvicorn.run("ombudsman.gateway.app:app_factory", factory=True, host=settings.gateway_host,
                port=settings.gateway_port, log_level="info", proxy_headers=True, server_header=False,
                # a run's events go to every watcher: compressing each frame once per socket would cost
                # watchers x events deflates for small JSON messages
                ws_per_message_deflate=False)


@cli.command("create-admin")
def create_admin(username: str, role: str = typer.Option("admin", help="admin, user or viewer")) -> None:
    """Create a user (default role admin); the password is read from stdin or prompted."""
    from ombudsman.gateway.admin import create_user

    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("Password: ")
    try:
        user = asyncio.run(create_user(username, password, role))  # type: ignore[arg-type]
    except (OmbudsmanError, ValueError) as exc:
        typer.secho(f"error: {getattr(exc, 'message', exc)}", fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created {user['role']} {user['username']} ({user['id']})")


if __name__ == "__main__":
    cli()
