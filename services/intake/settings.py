"""Intake's settings (GOV_ environment variables), beside the shared ones."""

from __future__ import annotations

from pydantic import Field

from shared.runtime.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    # Extra place registry files (comma-separated) beside the demo city, the shipped
    # Los Angeles registry and whatever `python -m shared.places load` put in
    # <GOV_DATA_DIR>/places/.
    place_registries: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)  # a report is text: 64 KiB
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # one photo
    index_poll_ms: int = Field(default=200, ge=10)
