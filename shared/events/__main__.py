"""`python -m shared.events schema DIR`: export the JSON Schema of every integration event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shared.events.registry import all_event_classes

cli = typer.Typer(add_completion=False, help="Integration event contracts.")


@cli.callback()
def main() -> None:
    """Integration event contracts (a group, so that `schema` stays a subcommand)."""


@cli.command()
def schema(out: Annotated[Path, typer.Argument()] = Path("docs/events/schema")) -> None:
    """Write one JSON Schema file per event type."""
    out.mkdir(parents=True, exist_ok=True)
    for cls in sorted(all_event_classes(), key=lambda c: c.event_type):
        document = cls.model_json_schema(mode="serialization")
        document["properties"]["event_type"] = {"const": cls.event_type}
        document["properties"]["schema_version"] = {"const": cls.schema_version}
        document.setdefault("required", []).extend(["event_type", "schema_version"])
        path = out / f"{cls.event_type}.v{cls.schema_version}.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        typer.echo(str(path))


if __name__ == "__main__":
    cli()
