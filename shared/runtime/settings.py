"""Settings from the environment. Nothing connects when this module is imported."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Shared by all services; a service adds its own fields in a subclass."""

    model_config = SettingsConfigDict(env_prefix="GOV_", extra="ignore")

    service_name: str = "service"
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # Unset: an embedded SQLite file per service under data_dir.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Path("var")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    consumer_group: str | None = None  # default: the service name
    consumer_max_records: int = Field(default=500, ge=1)
    consumer_poll_ms: int = Field(default=100, ge=1)
    relay_batch_size: int = Field(default=500, ge=1)
    relay_idle_ms: int = Field(default=50, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def group_id(self) -> str:
        return self.consumer_group or self.service_name

    def sqlite_path(self) -> Path:
        return self.data_dir / f"{self.service_name}.sqlite"

    def sqlalchemy_url(self) -> str:
        """The read-model URL: psycopg 3 driver on PostgreSQL, else the service's SQLite file."""
        if self.database_url:
            return postgres_sqlalchemy_url(self.database_url)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.sqlite_path()}"


def postgres_sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
