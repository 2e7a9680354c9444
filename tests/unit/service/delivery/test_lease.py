"""The forwarding lease: one holder at a time, across objects and processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from stats_service.delivery.lease import FileLease, MemoryLeases, lease_path


def test_the_lease_file_sits_beside_the_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "data" / "outbox.sqlite3"
    assert lease_path(outbox) == tmp_path / "data" / "outbox.sqlite3.forwarder-lease"


def test_one_file_lease_holder_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "lease"
    first, second = FileLease(path), FileLease(path)
    assert first.try_acquire()
    assert first.try_acquire()  # holding it already
    assert not second.try_acquire()
    assert (first.held, second.held) == (True, False)
    first.release()
    first.release()  # releasing twice is harmless
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()
    assert path.exists()  # never deleted: every holder must lock the same file


def test_a_file_lease_is_free_again_once_its_holder_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "lease"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from stats_service.delivery.lease import FileLease
                lease = FileLease(Path({str(path)!r}))
                assert lease.try_acquire()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        lease = FileLease(path)
        assert not lease.try_acquire()
        holder.kill()
        holder.wait(10)
        assert lease.try_acquire()
        lease.release()
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_memory_leases_exclude_each_other_by_name() -> None:
    leases = MemoryLeases()
    first, second, other = leases.lease(), leases.lease(), leases.lease("other")
    assert first.try_acquire()
    assert not second.try_acquire()
    assert other.try_acquire()  # another name, another lease
    first.release()
    assert second.try_acquire()
    assert second.held
    assert not first.held
