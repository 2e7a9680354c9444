"""``stats-probe demo``: a local service, the fault proxy in front of it, and the probe.

Needs ``stats-service`` installed next to the client (the development
install has it). Prints the tracked events every ``--every`` seconds;
change the faults meanwhile with
``curl -X PUT <proxy>/_faults -d '{"drop_share": 0.2}'``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import httpx
from prometheus_client import CollectorRegistry

from stats_client.probe.config import ProbeConfig
from stats_client.probe.metrics import ProbeMetrics
from stats_client.probe.proxy import FaultProxy
from stats_client.probe.runner import Probe

__all__ = ["print_table", "run_demo"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def print_table(probe: Probe, proxy: FaultProxy | None, out: TextIO, now: float) -> None:
    """The newest tracked events and the shares, as a plain table."""
    with probe.lock:
        rows = list(probe.tracker)[-10:]
        shares = dict(probe.tracker.missing_share)
        counts = probe.tracker.counts
    out.write(f"\n{'seq':>5}  {'state':<12} {'age s':>7} {'latency s':>10}\n")
    for sent in rows:
        latency = sent.latency_seconds
        shown = f"{latency:10.3f}" if latency is not None else f"{'-':>10}"
        out.write(f"{sent.seq:>5}  {sent.state.value:<12} {now - sent.due_at:7.1f} {shown}\n")
    share_text = "  ".join(f"{name}={value:.3f}" for name, value in shares.items())
    out.write(
        f"missing share {share_text}; posted={counts.posted} received={counts.received} "
        f"lost={counts.lost} post_failed={counts.post_failed}\n"
    )
    if proxy is not None:
        out.write(f"proxy {proxy.snapshot()}\n")
    out.flush()


def run_demo(
    *,
    every_seconds: float,
    seconds: float,
    drop_share: float,
    delay_share: float,
    delay_seconds: float,
) -> int:
    """Run the demo for ``seconds`` (0: until interrupted)."""
    service_cli = shutil.which("stats-service", path=str(Path(sys.executable).parent))
    if service_cli is None:
        sys.stderr.write("stats-probe demo needs stats-service installed\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="stats-probe-demo-") as tmp:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATS_")}
        env.update(
            STATS_DATA_DIR=str(Path(tmp) / "data"),
            STATS_SECRET_KEYS=secrets.token_urlsafe(48),
            STATS_PORT=str(port),
            STATS_HOST="127.0.0.1",
            STATS_LOG_LEVEL="warning",
            STATS_STREAM_POLL_INTERVAL_SECONDS="0.05",
        )
        token = subprocess.run(  # noqa: S603 -- our own program
            [
                service_cli,
                "token",
                "create",
                "--identity",
                "probe",
                "--scope",
                "read",
                "--scope",
                "write",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        service = subprocess.Popen([service_cli, "serve"], env=env)  # noqa: S603 -- our own program
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            proxy = FaultProxy(url)
            proxy.set_faults(
                drop_share=drop_share, delay_share=delay_share, delay_seconds=delay_seconds
            )
            proxy.start()
            config = ProbeConfig(
                url=proxy.url,
                token=token,
                interval_seconds=1.0,
                post_retries=0,
                confirm_after_seconds=5.0,
                mark_lost_after_seconds=10.0,
                purge_after_seconds=120.0,
                metrics_port=0,
            )
            probe = Probe(config, ProbeMetrics(CollectorRegistry()))
            sys.stdout.write(f"service {url}, proxy {proxy.url} (PUT /_faults to change)\n")
            probe.start()
            started = time.monotonic()
            try:
                while not seconds or time.monotonic() - started < seconds:
                    time.sleep(every_seconds)
                    print_table(probe, proxy, sys.stdout, time.monotonic())
            except KeyboardInterrupt:
                pass
            finally:
                probe.stop()
                proxy.stop()
        finally:
            service.terminate()
            service.wait(15)
    return 0
