"""The ``okane`` command line: run the local stack, migrate, check the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from okane_core.app import admin, expiry, settlements
from okane_core.app.context import Okane, build_okane
from okane_core.app.reconciliation import check_ledger
from okane_core.app.warming import TARGETS, parse_duration, warm_now
from okane_core.banksim import BankSimulator
from okane_core.cache.client import create_redis
from okane_core.db.engine import create_engine
from okane_core.db.migrate import upgrade
from okane_core.errors import OkaneError
from okane_core.ledger.repository.transactions import BankPayment
from okane_core.localsecrets import local_secrets
from okane_core.localstack import Endpoints, local_endpoints
from okane_core.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(help="OKANE: wallet and P2P payments.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger maintenance.", no_args_is_help=True)
bank_app = typer.Typer(
    help="The bank simulator: signed callbacks to bank-webhook.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(bank_app, name="bank")
admin_app = typer.Typer(
    help="The admin role: granted and revoked here, never claimed.", no_args_is_help=True
)
app.add_typer(admin_app, name="admin")

log = logging.getLogger("okane")


def _with_okane(
    settings: Settings, name: str, work: Callable[[Okane, Endpoints], Coroutine[None, None, T]]
) -> T:
    """Run ``work`` with this process's use-case context, against the configured database and
    Redis (or the local stack's)."""

    async def run(endpoints: Endpoints) -> T:
        engine = create_engine(settings, endpoints.database_url, application_name=f"okane-{name}")
        redis = create_redis(endpoints.redis_url)
        try:
            return await work(build_okane(settings, engine, redis), endpoints)
        finally:
            await redis.aclose()
            await engine.dispose()

    with local_endpoints(settings) as endpoints:
        return asyncio.run(run(endpoints))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations up to REVISION."""
    settings = load_settings()
    with local_endpoints(settings) as endpoints:
        upgrade(endpoints.database_url, revision)
    typer.echo(f"database at {revision}")


@ledger_app.command("check")
def ledger_check() -> None:
    """Check every ledger invariant; the last line is a JSON summary. Exits 1 on a violation."""
    settings = load_settings()

    async def check(okane: Okane, _: Endpoints) -> dict[str, object]:
        report = await check_ledger(okane.uow)
        for violation in report.violations:
            typer.echo(f"VIOLATION {violation.check} {violation.subject}: {violation.detail}")
        typer.echo(f"checked {len(report.checks)} invariants over {report.checked}")
        return report.summary()

    summary = _with_okane(settings, "ledger-check", check)
    typer.echo(json.dumps(summary, sort_keys=True))
    raise typer.Exit(1 if summary["violations"] else 0)


@ledger_app.command("expire")
def ledger_expire(limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100_000) -> None:
    """Set aside top-ups and withdrawals past their deadline (at most LIMIT) as ``unknown``
    until the bank answers (holds kept), one short transaction each."""
    settings = load_settings()

    async def expire(okane: Okane, _: Endpoints) -> int:
        return await expiry.expire_overdue(okane, limit=limit)

    overdue = _with_okane(settings, "ledger-expire", expire)
    typer.echo(json.dumps({"overdue": overdue}))


@app.command("warm")
def warm_command(
    targets: Annotated[
        str, typer.Option(help="comma-separated: balances,profiles,contacts,history")
    ] = ",".join(TARGETS),
    users: Annotated[int | None, typer.Option(min=1, help="warm the N most active users")] = None,
    active_within: Annotated[
        str | None, typer.Option(help="warm users active within this long, e.g. 24h or 7d")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Load the hot set into Redis. The last output line is a JSON summary."""
    if users is not None and active_within is not None:
        raise typer.BadParameter("use --users or --active-within, not both")
    chosen = [t.strip() for t in targets.split(",") if t.strip()]
    unknown = set(chosen) - set(TARGETS)
    if unknown or not chosen:
        raise typer.BadParameter(f"targets must be among {', '.join(TARGETS)}")
    try:
        window = None if active_within is None else parse_duration(active_within)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    settings = load_settings()

    async def run(okane: Okane, endpoints: Endpoints) -> dict[str, Any]:
        with _progress() as advance:
            summary = await warm_now(
                settings,
                okane.uow,
                endpoints.redis_url,
                targets=chosen,
                users=users,
                active_within=window,
                batch=batch,
                progress=advance,
            )
        return summary.as_dict()

    typer.echo(json.dumps(_with_okane(settings, "warm", run), sort_keys=True))


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a terminal; nothing otherwise (the summary line is for machines)."""
    if not sys.stderr.isatty():
        yield lambda _done, _total: None
        return
    with Progress(
        TextColumn("warming"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("users", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@app.command("up")
def up() -> None:
    """Run the whole stack in the foreground: PostgreSQL and Redis (unless URLs are configured),
    migrations, user-api and bank-webhook. Ctrl-C (or SIGTERM) stops everything."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with local_endpoints(settings) as endpoints:
        upgrade(endpoints.database_url)
        env = {
            "OKANE_DATABASE_URL": endpoints.database_url,
            "OKANE_REDIS_URL": endpoints.redis_url,
            # The local stack has no real bank: its simulator's pages confirm top-ups, and
            # send the callbacks to this stack's bank-webhook.
            "OKANE_BANK_SIMULATOR": os.environ.get("OKANE_BANK_SIMULATOR", "true"),
            # Nor an SMS or email gateway: the codes that prove phones and emails are shown
            # at http://127.0.0.1:8000/dev/mailbox.
            "OKANE_DEV_MAILBOX": os.environ.get("OKANE_DEV_MAILBOX", "true"),
            "OKANE_BANK_WEBHOOK_URL": os.environ.get(
                "OKANE_BANK_WEBHOOK_URL",
                f"http://{settings.bank_webhook_host}:{settings.bank_webhook_port}/webhooks/bank",
            ),
            **local_secrets(settings),
        }
        services = [
            (
                "okane_user_api.app:create_app",
                settings.user_api_host,
                settings.user_api_port,
                settings.user_api_workers,
            ),
            (
                "okane_bank_webhook.app:create_app",
                settings.bank_webhook_host,
                settings.bank_webhook_port,
                1,
            ),
        ]
        children = [
            _serve(target, host, port, workers, env=env, metrics=settings.data_dir / "metrics")
            for target, host, port, workers in services
        ]
        for (target, host, port, _), _ in zip(services, children, strict=True):
            log.info("%s listening on http://%s:%s", target.split(".")[0], host, port)
        log.info("the wallet: http://%s:%s/", settings.user_api_host, settings.user_api_port)
        try:
            while not stopping.wait(0.5):
                for child in children:
                    if child.poll() is not None:
                        log.error("a service exited with %s; stopping", child.returncode)
                        stopping.set()
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
    log.info("stopped")


def _webhook_secret(settings: Settings) -> str:
    if settings.bank_webhook_secret is not None:
        return settings.bank_webhook_secret.get_secret_value().split()[0]
    return local_secrets(settings)["OKANE_BANK_WEBHOOK_SECRET"]


def _waiting(settings: Settings, limit: int) -> list[BankPayment]:
    async def waiting(okane: Okane, _: Endpoints) -> list[BankPayment]:
        return await settlements.waiting_payments(okane.uow, limit=limit)

    return _with_okane(settings, "bank", waiting)


@bank_app.command("list")
def bank_list(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50) -> None:
    """Top-ups and withdrawals waiting for the bank, oldest first."""
    settings = load_settings()
    rows = _waiting(settings, limit)
    for row in rows:
        expires = "-" if row.expires_at is None else f"{row.expires_at:%Y-%m-%d %H:%M:%S}"
        typer.echo(
            f"{row.kind:<10} {row.reference}  {row.amount:>12} paise  "
            f"{row.customer} ({row.phone})  expires {expires}"
        )
    typer.echo(json.dumps({"pending": len(rows)}))


def _settle(reference: str, *, approve: bool, amount: int | None) -> None:
    settings = load_settings()
    match = next((r for r in _waiting(settings, 10_000) if r.reference == reference), None)
    if match is None and amount is None:
        typer.echo(f"{reference} is not pending; pass --amount to send the callback anyway")
        raise typer.Exit(2)
    kind = match.kind if match else ("topup" if reference.startswith("tp_") else "withdrawal")
    paise = amount if amount is not None else (match.amount if match else 0)
    if match is not None:  # the simulated bank's own record, for status inquiries

        async def note(okane: Okane, _: Endpoints) -> None:
            await settlements.record_decision(okane.uow, reference, succeeded=approve)

        _with_okane(settings, "bank", note)
    simulator = BankSimulator(settings.bank_webhook_url, _webhook_secret(settings))
    event = f"{kind}.{'succeeded' if approve else 'failed'}"
    delivery = asyncio.run(simulator.deliver(event, reference, paise))
    typer.echo(
        json.dumps({"status": delivery.status, "event_id": delivery.event_id, **delivery.body})
    )
    raise typer.Exit(0 if delivery.status == 200 else 1)


@bank_app.command("approve")
def bank_approve(
    reference: str, amount: Annotated[int | None, typer.Option(help="paise")] = None
) -> None:
    """Confirm a pending top-up or withdrawal (sends a signed callback)."""
    _settle(reference, approve=True, amount=amount)


@bank_app.command("decline")
def bank_decline(
    reference: str, amount: Annotated[int | None, typer.Option(help="paise")] = None
) -> None:
    """Refuse a pending top-up or withdrawal (sends a signed callback)."""
    _settle(reference, approve=False, amount=amount)


def _set_role(user: str, *, grant: bool) -> None:
    settings = load_settings()
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        operator = f"uid {os.getuid()}"
    actor = f"cli:{operator}"

    async def change(okane: Okane, _: Endpoints) -> dict[str, Any]:
        changed = await admin.set_role(okane, user, admin=grant, actor=actor)
        return {"user": str(changed.id), "name": changed.name, "admin": changed.is_admin}

    try:
        typer.echo(json.dumps(_with_okane(settings, "admin", change)))
    except OkaneError as error:
        typer.echo(f"{error.code}: {error.message}", err=True)
        raise typer.Exit(2) from error


@admin_app.command("grant")
def admin_grant(user: Annotated[str, typer.Argument(help="user id, phone or email")]) -> None:
    """Give USER the admin role (recorded in the audit log)."""
    _set_role(user, grant=True)


@admin_app.command("revoke")
def admin_revoke(user: Annotated[str, typer.Argument(help="user id, phone or email")]) -> None:
    """Take the admin role from USER; their next admin request is refused."""
    _set_role(user, grant=False)


@admin_app.command("list")
def admin_list() -> None:
    """Who holds the admin role."""
    settings = load_settings()

    async def listed(okane: Okane, _: Endpoints) -> list[dict[str, Any]]:
        return [
            {"user": str(u.id), "name": u.name, "phone": u.phone, "email": u.email}
            for u in await admin.admins(okane)
        ]

    for row in _with_okane(settings, "admin", listed):
        typer.echo(json.dumps(row))


def _serve(
    target: str, host: str, port: int, workers: int, *, env: dict[str, str], metrics: Path
) -> subprocess.Popen[bytes]:
    """A uvicorn of ``workers`` processes; their metrics files go in a fresh directory that
    /metrics adds up."""
    directory = metrics / target.split(".", maxsplit=1)[0]
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            target,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env={**os.environ, **env, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        start_new_session=True,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
