"""Running one service: event store, relay, consumer, HTTP, all in one process.

Each service describes itself with a `ServiceSpec` in its `bootstrap.py` (the
composition root); `run(spec)` is its whole `__main__`. Nothing connects until `start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import uvicorn
import uvloop
from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import IntegrityError, Recording
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.runtime.auth import check_config
from shared.runtime.collector import freeze_survivors, sweep
from shared.runtime.consumer import BatchConsumer, Parser
from shared.runtime.kafka import ensure_topics, idempotent_producer
from shared.runtime.logs import configure_logging
from shared.runtime.relay import OutboxRelay, Translate
from shared.runtime.resilience import keep_running
from shared.runtime.settings import ServiceSettings
from shared.runtime.store import DomainError, NotFoundError, ServiceApplication

log = logging.getLogger(__name__)


@dataclass
class ServiceSpec:
    """What makes one service: its sink, what it reads and writes, its routes."""

    name: str
    port: int  # default HTTP port (GOV_HTTP_PORT overrides)
    build: Callable[[ServiceSettings], Any]  # a ServiceApplication, or a read model Sink
    consumes: Sequence[str] = ()
    publishes: str | None = None
    translate: Translate | None = None
    routers: Sequence[APIRouter] = ()
    # Extra loops run beside the consumer and relay (timers, index tailers).
    background: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    settings_class: type[ServiceSettings] = ServiceSettings
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Topics in `consumes` whose messages are not integration events: topic -> parser.
    parsers: dict[str, Parser] = field(default_factory=dict)


class Runtime:
    def __init__(self, spec: ServiceSpec, settings: ServiceSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.sink: Any = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: BatchConsumer | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.failed = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        await ensure_topics(s.kafka_bootstrap_servers)
        self.sink = await asyncio.to_thread(self.spec.build, s)
        self.producer = idempotent_producer(s.kafka_bootstrap_servers, s.service_name)
        await self.producer.start()
        if isinstance(self.sink, ServiceApplication) and self.spec.publishes:
            self.relay = self._relay(self.sink, self.producer)
            self._spawn("relay", self.relay.run())
        if self.spec.consumes:
            self.consumer = BatchConsumer(
                self.sink,
                self.spec.consumes,
                bootstrap_servers=s.kafka_bootstrap_servers,
                group_id=s.group_id,
                service=s.service_name,
                max_records=s.consumer_max_records,
                poll_ms=s.consumer_poll_ms,
                fetch_min_bytes=s.consumer_fetch_min_bytes,
                fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
                parsers=self.spec.parsers,
            )
            await self.consumer.start()
            self._spawn("consumer", self.consumer.run())
        for loop in self.spec.background:
            name = getattr(loop, "__name__", "background")
            self._spawn(name, keep_running(functools.partial(loop, self), name))
        # Startup's million objects, and later every full collection's survivors, are
        # never walked again: a full collection stopped the service for 100-360 ms.
        freeze_survivors()
        self._spawn("sweep", sweep())

    def _relay(self, app: ServiceApplication, producer: AIOKafkaProducer) -> OutboxRelay:
        assert self.spec.publishes and self.spec.translate
        relay = OutboxRelay(app, producer, self.spec.publishes, self.spec.translate)
        loop = asyncio.get_running_loop()

        def hand(recordings: list[Recording[Any]]) -> None:  # on the recording thread
            relay.hand(recordings)
            loop.call_soon_threadsafe(relay.wakeup.set)

        app.on_recorded.append(hand)
        return relay

    def _spawn(self, name: str, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._on_task_done)
        self.tasks.append(task)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            # A loop that died must not leave a half-working process: exit, get restarted.
            log.critical("task failed", exc_info=task.exception(), extra={"task": task.get_name()})
            self.failed.set()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.consumer:
            await self.consumer.stop()
        if self.relay:
            await self.relay.stop()
        if self.producer:
            await self.producer.stop()
        close = getattr(self.sink, "close", None)
        if close:
            await asyncio.to_thread(close)

    async def ready(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.to_thread(self.sink.health_check)
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - a probe reports any failure as not ready
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            assert self.producer is not None
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
            checks["broker"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["broker"] = f"error: {type(exc).__name__}"
        return checks


class RefuseNul:
    """Refuses a request whose path, query or JSON body carries a NUL character (422).
    No text here may hold one, and PostgreSQL's text columns cannot: let through, it failed
    deep inside a query as a 500, or later in a consumer. Binary bodies (photos) pass."""

    ANSWER = JSONResponse({"detail": [{"loc": ["request"], "type": "value_error",
                                       "msg": "NUL characters are not allowed"}]},
                          status_code=422)
    # JSON bodies are small (intake refuses more than 64 KiB with a 413 of its own); a
    # longer one is scanned this far and the rest streams on untouched.
    SCAN_BYTES = 1 << 20

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await self.ANSWER(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            await self.app(scope, receive, send)
            return
        body, messages = b"", []
        while len(body) <= self.SCAN_BYTES:  # read ahead, then replay to the app
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        if b"\\u0000" in body:
            await self.ANSWER(scope, receive, send)
            return

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def create_http_app(spec: ServiceSpec, runtime: Runtime) -> FastAPI:
    app = FastAPI(title=spec.title or spec.name, version="0.1.0")
    app.add_middleware(RefuseNul)
    app.state.runtime = runtime
    for router in spec.routers:
        app.include_router(router)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _concurrent_write)

    @app.get("/internal/alive", include_in_schema=False)
    async def alive() -> dict[str, str]:
        return {"status": "alive", "service": spec.name}

    @app.get("/internal/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        checks = await runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ok, **checks}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = 404 if isinstance(exc, NotFoundError) else 409
    return JSONResponse({"rule": exc.rule, "detail": exc.message}, status_code=status)


async def _concurrent_write(request: Request, exc: Exception) -> JSONResponse:
    """Optimistic concurrency: someone changed the case first; nothing was recorded."""
    return JSONResponse(
        {"rule": "concurrent_update", "detail": "the case changed meanwhile; retry"},
        status_code=409,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Field errors without echoing the submitted values (they may be personal data)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


# Rows a list may skip: within a 32-bit count, so no database is asked for an OFFSET it
# cannot hold (10**19 was a 500 on PostgreSQL, found by the API fuzz test).
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


async def application(request: Request) -> Any:
    """FastAPI dependency: the service's application (or read model); async, as `caller`."""
    return request.app.state.runtime.sink


async def serve(spec: ServiceSpec, settings: ServiceSettings) -> int:
    runtime = Runtime(spec, settings)
    await runtime.start()
    http = create_http_app(spec, runtime)
    server = uvicorn.Server(
        uvicorn.Config(http, host=settings.http_host, port=settings.http_port,
                       log_config=None, access_log=False, lifespan="off")
    )
    # uvicorn captures SIGINT/SIGTERM while serving and re-raises them when done; these
    # handlers then receive the re-raised signal instead of the default (kill at once),
    # so the runtime below still stops cleanly.
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    serving = asyncio.create_task(server.serve())
    waiters = [asyncio.create_task(stopping.wait()), asyncio.create_task(runtime.failed.wait())]
    log.info("started", extra={"port": settings.http_port})
    await asyncio.wait([serving, *waiters], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    for w in waiters:
        w.cancel()
    await runtime.stop()
    log.info("stopped")
    return 1 if runtime.failed.is_set() else 0


def run(spec: ServiceSpec) -> None:
    check_config()  # production: no start without the users' and the services' keys
    settings = spec.settings_class(service_name=spec.name)
    if "GOV_HTTP_PORT" not in os.environ:
        settings.http_port = spec.port
    configure_logging(spec.name, settings.log_level, settings.log_json)
    raise SystemExit(uvloop.run(serve(spec, settings)))
