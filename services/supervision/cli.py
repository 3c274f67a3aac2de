"""`python -m services.supervision verify CASE_ID`: walk a case's hash chain from the
store this service is configured for (DATABASE_URL, or the SQLite file in GOV_DATA_DIR)."""

from __future__ import annotations

import json
import uuid

import typer

from services.supervision.application import SupervisionApplication, SupervisionSettings
from shared.runtime.store import NotFoundError

cli = typer.Typer(add_completion=False, help="Supervision service tools.")


@cli.callback()
def main() -> None:
    """Without a command, `python -m services.supervision` runs the service."""


@cli.command()
def verify(case_id: uuid.UUID) -> None:
    """Verify the case's archive: exit 0 if intact, 1 at the first broken entry, 2 if the
    case is unknown. Prints the report as JSON."""
    app = SupervisionApplication(SupervisionSettings(service_name="supervision"))
    try:
        report = app.verify(case_id)
    except NotFoundError as exc:
        typer.echo(json.dumps({"case_id": str(case_id), "error": exc.message}), err=True)
        raise typer.Exit(2) from None
    finally:
        app.close()
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if not report["ok"]:
        broken = report["first_broken"]
        typer.echo(f"BROKEN: case {broken['case_id']} entry {broken['broken_at']}: "
                   f"{broken['reason']}", err=True)
        raise typer.Exit(1)
