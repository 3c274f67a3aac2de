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
    # True: `python -m govctl.migrate` made the schema as its owner, and database_url is a
    # runtime role that may not (and does not try to) create, alter or own anything.
    database_migrated: bool = False
    # A read model's writer (projections: the projector role, which sees every area while
    # the readers see their caller's only). Unset: database_url.
    database_writer_url: str | None = None
    # The owner, for `python -m govctl.migrate` only: never given to a service.
    database_owner_url: str | None = None
    data_dir: Path = Path("var")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    consumer_group: str | None = None  # default: the service name
    consumer_max_records: int = Field(default=500, ge=1)
    consumer_poll_ms: int = Field(default=100, ge=1)
    # The broker answers a fetch once this much is waiting or the wait is over: under load
    # a fetch carries many messages (a few requests, not one per message), idle it costs
    # at most the wait in latency per hop. Each poll costs every consumer a transaction
    # and its relay a round: at 20 ms the two cores were saturated by polls of one or two
    # cases at 150 reports/s (p99 intake -> dispatched 6.6 s at 200/s); at 50 ms, 0.9 s.
    consumer_fetch_min_bytes: int = Field(default=16_384, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=50, ge=0)
    # Aggregates a consumer keeps as it recorded them (prefetch.RecentAggregates); 0: none.
    aggregate_cache_size: int = Field(default=2048, ge=0)
    relay_batch_size: int = Field(default=500, ge=1)
    relay_idle_ms: int = Field(default=50, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def group_id(self) -> str:
        return self.consumer_group or self.service_name

    def sqlite_path(self) -> Path:
        return self.data_dir / f"{self.service_name}.sqlite"

    def sqlalchemy_url(self, writer: bool = False) -> str:
        """The read-model URL: psycopg 3 driver on PostgreSQL, else the service's SQLite file.
        `writer`: the writer's role when one is configured."""
        url = (self.database_writer_url if writer else None) or self.database_url
        if url:
            return postgres_sqlalchemy_url(url)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.sqlite_path()}"


def postgres_sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
