"""Composition root of the portal: settings, the upstream services, the HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from services.portal.api import router
from shared.runtime.settings import ServiceSettings

HERE = Path(__file__).resolve().parent
PORT = 8100
DEFAULT_UPSTREAMS = {"intake": 8101, "dedup": 8102, "dispatch": 8103, "supervision": 8104,
                     "projections": 8105}


class PortalSettings(ServiceSettings):
    service_name: str = "portal"
    # GOV_UPSTREAMS='{"intake": "http://127.0.0.1:8101", ...}': where each service answers.
    upstreams: dict[str, str] = Field(default_factory=lambda: {
        name: f"http://127.0.0.1:{port}" for name, port in DEFAULT_UPSTREAMS.items()})
    static_dir: Path = HERE / "static"
    vendor_dir: Path = HERE / "node_modules"
    max_upload_bytes: int = 10 << 20


def create_app(settings: PortalSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            app.state.client = client
            yield

    app = FastAPI(title="Portal 门户", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(router)
    app.mount("/", StaticFiles(directory=settings.static_dir, html=True), name="pages")
    return app
