"""`python -m govctl run`: the broker, the five services and the demo city, on one machine."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import typer
from rich.console import Console

from govctl import demo
from govctl.processes import REPO, SERVICES, Stack, infra, postgres_roles
from shared.runtime.auth import issue_token, secret

cli = typer.Typer(add_completion=False, help="Run and drive the governance platform locally.")
console = Console()


@cli.command()
def run(
    postgres: bool = typer.Option(False, help="Use PostgreSQL instead of embedded SQLite."),
    cases: int = typer.Option(40, help="Sample cases to report in the demo city."),
    fresh: bool = typer.Option(False, help="Start from empty stores and topics."),
) -> None:
    """Start everything, load the demo city with sample cases, print the URLs; Ctrl-C stops."""
    data_dir = REPO / "var"
    if fresh:
        infra("kafka", "clean")
        _remove_sqlite(data_dir)
    console.print("[bold]starting Kafka[/] (first run fetches the jars from Maven Central)")
    infra("kafka", "start")
    env = {"GOV_DATA_DIR": str(data_dir), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
           "GOV_LOG_JSON": "true"}
    owner_url = None
    if postgres:  # two roles: migrated as the owner, the services run as runtime roles
        infra("postgres", "start")
        owner_url, database = postgres_roles()
        env.update(database)
    stack = Stack(env=env, log_dir=data_dir / "logs", owner_url=owner_url)
    try:
        console.print("[bold]starting services[/]: " + ", ".join(SERVICES))
        stack.start()
        _load_demo(stack, cases)
        _print_urls(stack)
        _wait_for_interrupt()
    finally:
        console.print("[bold]stopping[/]")
        stack.stop()
        infra("kafka", "stop")
        if postgres:
            infra("postgres", "stop")


def _load_demo(stack: Stack, count: int) -> None:
    loaded = demo.load(stack.url("intake"), stack.url("dispatch"), count, secret(REPO / "var"))
    kept = f" ({loaded.kept} kept from an earlier run)" if loaded.kept else ""
    console.print(f"demo city 莆阳市: {loaded.reported} cases reported{kept}, "
                  f"{loaded.dispatched} dispatched now")


def _print_urls(stack: Stack) -> None:
    console.print("\n[bold green]platform is up[/]")
    for name in SERVICES:
        console.print(f"  {name:<12} {stack.url(name)}/docs")
    console.print(f"  case list    {stack.url('projections')}/api/cases")
    console.print(f"  [bold]web pages    {stack.url('portal')}/[/] (pick a demo identity)")
    console.print("  try:         curl -s localhost:8101/api/categories | head\n"
                  "Ctrl-C stops everything.")


def _wait_for_interrupt() -> None:
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stopping:
        time.sleep(0.5)


def _remove_sqlite(data_dir: Path) -> None:
    for path in data_dir.glob("*.sqlite*"):
        os.remove(path)


@cli.command()
def token(
    sub: str = typer.Argument(..., help="user id"),
    role: str = typer.Argument(..., help="grid_worker, dispatcher, department_staff, ..."),
    place: str = typer.Argument(..., help="area code of the user's place, e.g. 350300"),
    name: str = typer.Option("", help="display name"),
    department: str | None = typer.Option(None, help="department code, for staff"),
) -> None:
    """Print a signed token for the local platform (the secret in var/auth.secret)."""
    typer.echo(issue_token(sub, role, place, name, department, key=secret(REPO / "var")))


@cli.command()
def stop() -> None:
    """Stop the local broker and database (services stop with `run`)."""
    infra("kafka", "stop")
    infra("postgres", "stop")


if __name__ == "__main__":
    cli()
