"""A service app on the in-memory store with tokens of each scope, driven in-process.

Tests take it with ``harness_factory = make_harness_factory`` style fixtures of their own
(see the tokens and console tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from stats_service.app import create_app
from stats_service.auth import AccessFile, TokenSigner
from stats_service.components import ComponentSpec
from stats_service.settings import load_settings
from stats_service.storage.memory import MemoryStore
from stats_service.subsystems import SUBSYSTEMS

__all__ = ["KEY", "NOW", "Harness", "harness_factory"]

KEY = "k" * 48
NOW = 1_800_000_000.0

T = TypeVar("T")


@dataclass
class Harness:
    """``run(scenario)`` serves the app for one scenario; tokens by scope in ``tokens``."""

    data_dir: Path
    tokens: dict[str, str]
    env: Mapping[str, str]
    subsystems: Sequence[ComponentSpec]

    def run(self, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
        settings = load_settings(None, self.env)
        app = create_app(
            settings, store=MemoryStore(), clock=lambda: NOW, subsystems=self.subsystems
        )

        async def serve() -> T:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    return await scenario(client)

        return asyncio.run(serve())

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.tokens[scope]}"}


def harness_factory(tmp_path: Path) -> Callable[..., Harness]:
    """Builds harnesses on ``tmp_path``: ``build(extra_env=..., subsystems=...)``."""

    def build(
        extra_env: Mapping[str, str] | None = None,
        subsystems: Sequence[ComponentSpec] = SUBSYSTEMS,
    ) -> Harness:
        access = AccessFile(tmp_path / "access.json")
        signer = TokenSigner([KEY])
        tokens = {}
        for scope in ("read", "write", "admin"):
            record = access.add(f"{scope}-user", [scope], expires_at=None, now=int(NOW) - 60)
            tokens[scope] = signer.issue(record.to_claims())
        env = {"STATS_DATA_DIR": str(tmp_path), "STATS_SECRET_KEYS": KEY, **(extra_env or {})}
        return Harness(tmp_path, tokens, env, subsystems)

    return build
