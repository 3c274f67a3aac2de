"""`python -m govctl.migrate`: make every service's schema as the database owner, then
hand the services a runtime role that owns nothing (docs/architecture.md, authorisation).

    GOV_DATABASE_OWNER_URL=postgresql://governance:...@host/governance \\
        python -m govctl.migrate [NAME ...]     # services or read models; default: all

The tables, indexes and the append-only trigger are made by the services' own setup code
run as the owner (what a service does by itself on a single-URL database), so there is
one definition of each table. Then the runtime role gets its grants, and the projections
read models their reader and writer roles with row-level security. Run it before the
services start (govctl does; on Kubernetes an initContainer); it is idempotent.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import psycopg
import typer

from services.projections import rls
from services.projections.readmodel import CaseReadModel
from shared.runtime.migrations import grant_service
from shared.runtime.service import ServiceSpec
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import ServiceApplication, schema_name

EVENT_SERVICES = ("intake", "dedup", "dispatch", "supervision")
SERVICE_ROLE = "gov_service"  # every service's runtime role; projections' reader
PROJECTOR_ROLE = "gov_projector"  # the projections sink: writes every area

cli = typer.Typer(add_completion=False, help=__doc__)


def owner_settings(spec: ServiceSpec, owner_url: str, name: str | None = None
                   ) -> ServiceSettings:
    """The service's own settings, but connected as the owner and creating its tables."""
    return spec.settings_class(service_name=name or spec.name, database_url=owner_url,
                               database_migrated=False, database_writer_url=None)


def spec_of(service: str) -> ServiceSpec:
    spec: ServiceSpec = importlib.import_module(f"services.{service}.bootstrap").SPEC
    return spec


def migrate_service(owner_url: str, service: str, role: str = SERVICE_ROLE) -> None:
    """Create one event-sourced service's schema as the owner and grant it to `role`."""
    app: ServiceApplication = spec_of(service).build(owner_settings(spec_of(service),
                                                                    owner_url))
    try:
        events_table = app.recorder.events_table_name  # type: ignore[attr-defined]
    finally:
        app.close()
    with psycopg.connect(owner_url) as conn:
        grant_service(conn, schema_name(service), role, [events_table])


def migrate_read_model(owner_url: str, name: str = "projections", reader: str = SERVICE_ROLE,
                       writer: str = PROJECTOR_ROLE) -> None:
    """Create one projections read model (the live one, or a rebuild's target) as the
    owner, then give it its reader and writer under row-level security."""
    CaseReadModel(owner_settings(spec_of("projections"), owner_url, name)).close()
    with psycopg.connect(owner_url) as conn:
        rls.secure(conn, schema_name(name), reader, writer)


def migrate(owner_url: str, names: tuple[str, ...] = ()) -> None:
    """Every service and the live read model, or only `names` (services or read models)."""
    for name in names or (*EVENT_SERVICES, "projections"):
        if name in EVENT_SERVICES:
            migrate_service(owner_url, name)
        else:
            migrate_read_model(owner_url, name)


@cli.command()
def main(only: Annotated[list[str] | None, typer.Argument(
        help="services or read models (e.g. projections-next); default: all")] = None
         ) -> None:
    """Migrate as the owner (GOV_DATABASE_OWNER_URL)."""
    owner_url = ServiceSettings().database_owner_url
    if not owner_url:
        typer.echo("GOV_DATABASE_OWNER_URL is not set", err=True)
        raise typer.Exit(2)
    migrate(owner_url, tuple(only or ()))
    typer.echo("migrated")


if __name__ == "__main__":
    sys.exit(cli())
