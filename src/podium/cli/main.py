"""``podium`` command line entry point."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from podium.config import Settings, load_settings


def _services(settings: Settings):  # type: ignore[no-untyped-def]
    from podium.clock import SystemClock
    from podium.services.accounts import AccountService
    from podium.storage.db import Database

    db = Database(settings.database_url)
    return db, AccountService(db, SystemClock(), settings)


async def _with_accounts(settings: Settings, work: Callable[[Any], Awaitable[None]]) -> None:
    db, accounts = _services(settings)
    try:
        await db.migrate()
        await work(accounts)
    finally:
        await db.close()


def plain_http_warning(host: str, public_url: str) -> str | None:
    """Why serving ``host`` at ``public_url`` will disappoint, if it will: browsers give a page
    the microphone only in a secure context (HTTPS, or http://localhost itself)."""
    if public_url.startswith("https://"):
        return None
    try:
        local = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        local = host == "localhost"
    if local:
        return None
    return (f"warning: serving {host} over plain HTTP ({public_url}). Browsers on other "
            "machines can listen but not speak: the microphone needs HTTPS. Put a TLS proxy "
            "in front (docs/deployment.md, \"nginx\") and set PODIUM_PUBLIC_URL=https://...")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from podium.api.app import create_app

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    from podium.logconfig import setup_logging, uvicorn_log_config

    setup_logging(settings.log_format)  # PODIUM_LOG_FORMAT=json: one JSON object per line
    credentials: list[tuple[str, str]] = []

    async def first_run(accounts: Any) -> None:
        made = await accounts.ensure_first_admin()
        if made:
            credentials.append(made)

    asyncio.run(_with_accounts(settings, first_run))
    print(f"Podium {settings.mode} server: open {settings.public_url}", flush=True)
    warning = plain_http_warning(settings.host, settings.public_url)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if credentials:
        user, password = credentials[0]
        print(f"First run: sign in as '{user}' with password: {password}", flush=True)
        print("(shown once; reset it with `podium admin reset-password admin`)", flush=True)
    else:
        print("Sign in with your account; `podium admin create-user NAME` makes another.",
              flush=True)
    uvicorn.run(create_app(settings, manage_gc=True), host=settings.host, port=settings.port,
                log_level="info", ws_max_size=64 * 1024, proxy_headers=False,
                log_config=uvicorn_log_config())


def cmd_migrate(args: argparse.Namespace) -> None:
    async def nothing(_: Any) -> None:
        print("database is up to date")

    asyncio.run(_with_accounts(load_settings(), nothing))


def cmd_create_user(args: argparse.Namespace) -> None:
    from podium.services.security import generate_password

    async def work(accounts: Any) -> None:
        password = generate_password()
        await accounts.create_user(args.username, args.username, password, is_admin=args.admin)
        print(password)

    asyncio.run(_with_accounts(load_settings(), work))


def cmd_reset_password(args: argparse.Namespace) -> None:
    from podium.services.security import generate_password

    async def work(accounts: Any) -> None:
        password = generate_password()
        await accounts.set_password(args.username, password)
        print(password)

    asyncio.run(_with_accounts(load_settings(), work))


def cmd_token(args: argparse.Namespace) -> None:
    async def work(accounts: Any) -> None:
        user = await accounts.by_username(args.username)
        _, token = await accounts.create_token(user.id, args.name)
        print(token)

    asyncio.run(_with_accounts(load_settings(), work))


def cmd_invite(args: argparse.Namespace) -> None:
    settings = load_settings()

    async def work(accounts: Any) -> None:
        user = await accounts.by_username(args.username)
        _, code = await accounts.create_invite(user)
        print(f"{settings.public_url}/invite/{code}")

    asyncio.run(_with_accounts(settings, work))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="podium", description="Live audio rooms.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        func=cmd_migrate)

    invite = sub.add_parser("invite", help="print a new invite link made by USERNAME")
    invite.add_argument("username")
    invite.set_defaults(func=cmd_invite)

    admin = sub.add_parser("admin", help="administration").add_subparsers(dest="action",
                                                                             required=True)
    create = admin.add_parser("create-user", help="create a member and print its password")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true")
    create.set_defaults(func=cmd_create_user)
    token = admin.add_parser("token", help="print a new API token for a member")
    token.add_argument("username")
    token.add_argument("--name", default="cli")
    token.set_defaults(func=cmd_token)
    reset = admin.add_parser("reset-password", help="set and print a new password")
    reset.add_argument("username")
    reset.set_defaults(func=cmd_reset_password)

    from podium.cli.bot import add_bot_commands

    add_bot_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - a clear line, not a traceback, for known errors
        from podium.services.errors import ServiceError

        if isinstance(exc, ServiceError):
            print(f"error: {exc.message}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
