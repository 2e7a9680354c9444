"""The application factory: ``create_app(settings)`` builds the FastAPI app.

Nothing is created at import time. The lifespan opens the store and builds the
authenticator and ingestor (the core), then starts the subsystems
(:mod:`stats_service.components`) in order; at shutdown it stops them in
reverse order, then closes the store (pending writes first).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from stats_service import __version__
from stats_service.api.component import Component
from stats_service.api.dependencies import Components
from stats_service.api.errors import install_error_handlers
from stats_service.api.fastlane import IngestFastLane
from stats_service.api.routes import events, health, influx, ping, tokens
from stats_service.api.slashes import TrailingSlashMiddleware
from stats_service.auth import AccessFile, Authenticator, TokenSigner
from stats_service.auth.legacy import LegacyTokens
from stats_service.backends import build_store
from stats_service.components import ComponentSpec
from stats_service.delivery.queue import DeliveryReporter
from stats_service.ingest import Ingestor
from stats_service.observability import configure_logging, install_observability
from stats_service.observability.gauges import StoreSnapshot
from stats_service.settings import Settings, settings_from_environment
from stats_service.storage.base import EventStore, LocalStore
from stats_service.subsystems import SUBSYSTEMS

__all__ = ["create_app", "create_app_from_env"]

_log = logging.getLogger(__name__)

_DESCRIPTION = """\
Token-authenticated analytics ingestion. Apps POST events to `/log/event` (one)
or `/log/events` (batches); a 2xx means the events are durable. Send
`Authorization: Token <token>`; tokens come from `stats-service token create`.
Every error body is `{"error": {"code", "message", "details"}}`.
"""


class ServiceApp(FastAPI):
    """FastAPI with ASGI layers in front of it.

    ``front_layers`` wrap the whole application (FastAPI's own entry, the
    server-error handler, the middleware, the router), first one innermost.
    The ingest lane goes there: the requests it answers skip every layer.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.front_layers: list[Callable[[ASGIApp], ASGIApp]] = []
        self._front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self._front
        if front is None:
            front = partial(FastAPI.__call__, self)
            for layer in self.front_layers:
                front = layer(front)
            self._front = front
        await front(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    store: EventStore | None = None,
    clock: Callable[[], float] = time.time,
    fast_lane: bool = True,
    subsystems: Sequence[ComponentSpec] = SUBSYSTEMS,
) -> FastAPI:
    """A ready-to-serve app for these settings.

    ``store`` overrides the configured backend (tests); ``fast_lane=False``
    serves ``POST /log/event`` through the router too (tests compare both);
    ``subsystems`` replaces the registered ones (tests).
    """
    keys = settings.check_serving()
    extensions = tuple(
        component for spec in subsystems if (component := spec.component(settings)) is not None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = (
            store
            if store is not None
            else build_store(settings, metrics=metrics, kafka_metrics=metrics)
        )
        await backend.open()
        if isinstance(backend, DeliveryReporter):
            metrics.watch_outbox(backend.status_sync)
        elif isinstance(backend, LocalStore):
            metrics.watch_outbox(partial(_local_store_snapshot, backend))
        authenticator = Authenticator(
            TokenSigner(keys),
            AccessFile(
                settings.resolved_access_file,
                clock=clock,
                reload_interval_seconds=settings.token_reload_interval_seconds,
            ),
            clock=clock,
            legacy=(
                LegacyTokens.load(settings.resolved_legacy_secret_file).verify
                if settings.accept_legacy_tokens
                else None
            ),
        )
        ingestor = Ingestor(
            backend,
            measurement=settings.measurement,
            limits=settings.limits,
            tag_keys=frozenset(settings.tag_keys),
        )
        core = Components(settings, backend, ingestor, authenticator, metrics, extensions)
        try:
            await _start(extensions, core)
        except BaseException:
            metrics.watch_outbox(None)
            await backend.close()
            raise
        app.state.components = core
        # Everything built so far lives as long as the app: keep it out of the
        # cyclic collector's scans, which otherwise cost ingestion measurable CPU.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await _stop(extensions)
            metrics.watch_outbox(None)
            await backend.close()

    app = ServiceApp(
        title="stats-service",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    install_error_handlers(app)
    app.include_router(ping.router)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(tokens.router)
    for extension in extensions:
        for router in extension.routers():
            app.include_router(router)
    events.document_page_size(app, settings.max_page_size)
    app.include_router(influx.router)
    app.add_middleware(TrailingSlashMiddleware)
    # Last, so that it wraps every other middleware.
    observability = install_observability(
        app,
        version=__version__,
        metrics_enabled=settings.metrics_enabled,
        access_log=settings.access_log,
    )
    metrics = observability.metrics
    if fast_lane:
        app.front_layers.append(
            partial(IngestFastLane, requests=observability.requests, state=app.state)
        )
    return app


def _local_store_snapshot(store: LocalStore) -> StoreSnapshot:
    """The scrape-time state of a store without an outbox: up while writable, no dead letters."""
    return StoreSnapshot(backend_ok=store.writable)


async def _start(extensions: Sequence[Component], core: Components) -> None:
    """Start each subsystem in order; if one fails, stop those started, then raise."""
    started: list[Component] = []
    try:
        for extension in extensions:
            await extension.start(core)
            started.append(extension)
    except BaseException:
        await _stop(started)
        raise


async def _stop(extensions: Sequence[Component]) -> None:
    """Stop the subsystems in reverse order; a failure is logged and the rest still stop."""
    for extension in reversed(extensions):
        try:
            await extension.stop()
        except Exception:  # noqa: BLE001 -- logged; the others and the store must still stop
            _log.exception("stopping the %s subsystem failed", extension.name)


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory stats_service.app:create_app_from_env``.

    Settings come from the environment (and ``$STATS_CONFIG``); used when
    uvicorn itself starts several worker processes.
    """
    settings = settings_from_environment()
    configure_logging(
        log_format=settings.log_format,
        level=settings.log_level,
        secrets_to_hide=settings.signing_keys(),
    )
    return create_app(settings)
