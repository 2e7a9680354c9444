"""The component seam: subsystems contribute routes, start and stop with the app, gate
readiness, and add commands to ``stats-service``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from stats_service import cli
from stats_service.api.component import ComponentHealth
from stats_service.api.dependencies import Components
from stats_service.app import create_app
from stats_service.components import ComponentSpec
from stats_service.settings import Settings, load_settings
from stats_service.storage.memory import MemoryStore

KEY = "k" * 48


class Recorder:
    """A component that records its lifetime into a shared list."""

    def __init__(self, name: str, journal: list[str], *, fail_start: bool = False) -> None:
        self._name = name
        self.journal = journal
        self.fail_start = fail_start
        self.ok = True
        self.core: Components | None = None
        router = APIRouter()

        @router.get(f"/{name}/hello")
        async def hello() -> dict[str, str]:
            return {"from": name}

        self._router = router

    @property
    def name(self) -> str:
        return self._name

    def routers(self) -> Sequence[APIRouter]:
        return [self._router]

    async def start(self, core: Components) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self._name} cannot start")
        self.core = core
        self.journal.append(f"start {self._name}")

    async def stop(self) -> None:
        self.journal.append(f"stop {self._name}")

    async def health(self) -> ComponentHealth:
        return ComponentHealth(ok=self.ok, detail="fine" if self.ok else "broken")


def _settings(tmp_path: Path) -> Settings:
    return load_settings(None, {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": KEY})


def _specs(*components: Recorder) -> list[ComponentSpec]:
    return [ComponentSpec(c.name, lambda _settings, c=c: c) for c in components]


def test_components_serve_routes_start_in_order_and_stop_in_reverse(tmp_path: Path) -> None:
    journal: list[str] = []
    first, second = Recorder("first", journal), Recorder("second", journal)
    store = MemoryStore()
    app = create_app(_settings(tmp_path), store=store, subsystems=_specs(first, second))

    async def scenario() -> tuple[int, object, int, object]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                hello = await client.get("/second/hello")
                ready = await client.get("/health/ready")
                second.ok = False
                unready = await client.get("/health/ready")
                return hello.status_code, ready.json(), unready.status_code, unready.json()

    hello, ready, unready_status, unready = asyncio.run(scenario())
    assert hello == 200
    assert journal == ["start first", "start second", "stop second", "stop first"]
    assert first.core is not None
    assert first.core.store is store
    assert ready["status"] == "ok"
    assert ready["components"] == {
        "first": {"ok": True, "detail": "fine"},
        "second": {"ok": True, "detail": "fine"},
    }
    assert unready_status == 503
    assert unready["components"]["second"] == {"ok": False, "detail": "broken"}


def test_without_components_readiness_has_no_components_key(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path), store=MemoryStore(), subsystems=())

    async def scenario() -> dict[str, object]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return (await client.get("/health/ready")).json()

    assert set(asyncio.run(scenario())) == {"status", "storage"}


def test_a_component_that_fails_to_start_stops_the_started_ones_and_the_store(
    tmp_path: Path,
) -> None:
    journal: list[str] = []
    good, bad = Recorder("good", journal), Recorder("bad", journal, fail_start=True)
    store = MemoryStore()
    app = create_app(_settings(tmp_path), store=store, subsystems=_specs(good, bad))

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover - the lifespan never gets here

    with pytest.raises(RuntimeError, match="bad cannot start"):
        asyncio.run(scenario())
    assert journal == ["start good", "stop good"]
    assert asyncio.run(store.health()).ok is False  # closed again


def test_a_spec_that_builds_nothing_adds_nothing(tmp_path: Path) -> None:
    app = create_app(
        _settings(tmp_path), store=MemoryStore(), subsystems=[ComponentSpec("off", lambda _s: None)]
    )
    assert not any(getattr(r, "path", "").startswith("/off") for r in app.routes)


def test_a_spec_must_build_a_component_of_its_own_name(tmp_path: Path) -> None:
    spec = ComponentSpec("one", lambda _s: Recorder("other", []))
    with pytest.raises(ValueError, match="'other' built by spec 'one'"):
        create_app(_settings(tmp_path), store=MemoryStore(), subsystems=[spec])


def test_a_subsystem_adds_its_own_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def add_commands(
        commands: argparse._SubParsersAction[argparse.ArgumentParser],
        parents: list[argparse.ArgumentParser],
    ) -> None:
        def say_hello(settings: Settings, args: argparse.Namespace) -> int:
            print(f"hello {args.name} in {settings.data_dir}")
            return 0

        hello = commands.add_parser("hello", parents=parents, help="say hello")
        hello.add_argument("--name", default="world")
        hello.set_defaults(command=say_hello)

    spec = ComponentSpec("hello", lambda _s: None, add_commands=add_commands)
    monkeypatch.setattr(cli, "SUBSYSTEMS", (spec,))
    monkeypatch.setenv("STATS_DATA_DIR", str(tmp_path))
    assert cli.main(["hello", "--name", "you"]) == 0
    assert capsys.readouterr().out == f"hello you in {tmp_path}\n"
