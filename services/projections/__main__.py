"""`python -m services.projections`: serve; `rebuild` and `compare` for operators."""

from __future__ import annotations

import asyncio
import os

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from services.projections.bootstrap import SPEC
from services.projections.readmodel import CaseReadModel
from services.projections.rebuild import REBUILD_BATCH
from services.projections.rebuild import rebuild as run_rebuild
from shared.runtime.service import run
from shared.runtime.settings import ServiceSettings

cli = typer.Typer(add_completion=False, help="The projections service and its read models.")
console = Console()


@cli.callback(invoke_without_command=True)
def main(ctx: typer.Context) -> None:
    """Without a command: run the service (consumer, HTTP API, live updates)."""
    if ctx.invoked_subcommand is None:
        run(SPEC)


@cli.command()
def rebuild(
    target: str = typer.Option(SPEC.name, help="read model to rebuild (its schema or SQLite "
                                               "file); another name builds beside the live one"),
    batch: int = typer.Option(REBUILD_BATCH, min=1, max=20_000,
                              help="messages per poll, recorded in partition batches"),
    workers: int = typer.Option(1, min=1, max=64,
                                help="processes, each with a share of the partitions "
                                     "(PostgreSQL only)"),
) -> None:
    """Drop the read model and rebuild it from the case topics, from offset 0."""
    settings = ServiceSettings(service_name=target)
    if workers > 1 and not settings.database_url:
        console.print("[red]--workers needs PostgreSQL[/] (DATABASE_URL): SQLite takes one "
                      "writer at a time")
        raise typer.Exit(2)
    if target == SPEC.name and _live_service_answers():
        console.print("[red]the projections service is running[/]: stop it first, or "
                      "rebuild beside it with --target projections-next")
        raise typer.Exit(2)
    with Progress("[bold]rebuilding[/] " + target, BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("messages", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = asyncio.run(run_rebuild(settings, batch, show, workers))
    console.print(f"rebuilt {target}: {result.messages} messages, {result.events} events "
                  f"in the case files, {result.seconds:.1f}s ({result.rate:,.0f} messages/s)")


@cli.command()
def compare(other: str = typer.Argument(..., help="the read model to compare with"),
            live: str = typer.Option(SPEC.name, help="the read model taken as reference")
            ) -> None:
    """Compare two read models table by table (e.g. a rebuild with the live one)."""
    a = CaseReadModel(ServiceSettings(service_name=live)).snapshot()
    b = CaseReadModel(ServiceSettings(service_name=other)).snapshot()
    differ = [name for name in a if a[name] != b.get(name)]
    for name in a:
        mark = "[red]differs[/]" if name in differ else "[green]equal[/]"
        rows = f"{len(a[name]):>9} rows {len(b.get(name, [])):>9} rows"
        console.print(f"  {name:<18} {rows}  {mark}")
    raise typer.Exit(1 if differ else 0)


def _live_service_answers() -> bool:
    port = os.environ.get("GOV_HTTP_PORT", str(SPEC.port))
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/internal/alive", timeout=1)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json().get("service") == SPEC.name


if __name__ == "__main__":
    cli()
