"""Progress on stderr: a bar on a terminal, one line per package in a log."""

from __future__ import annotations

import datetime as dt
import io

from stats_service.export.progress import Progress
from stats_service.export.window import Window

WINDOW = Window(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, tzinfo=dt.UTC))


def test_off_a_terminal_there_is_one_line_per_package_and_none_per_page():
    stream = io.StringIO()
    progress = Progress(stream, WINDOW, tty=False)
    progress.events(5000, WINDOW.since_ns + 10)
    progress.stored("job-0001.tar.gz", 1234567)
    progress.done("done")
    assert stream.getvalue() == "stored job-0001.tar.gz (1,234,567 bytes)\ndone\n"


def test_on_a_terminal_the_bar_fills_with_the_share_of_the_window_covered():
    stream = io.StringIO()
    progress = Progress(stream, WINDOW, tty=True)
    halfway = WINDOW.since_ns + (WINDOW.until_ns - WINDOW.since_ns) // 2
    progress.events(5000, halfway)
    progress.stored("job-0001.tar.gz", 2_000_000)
    text = stream.getvalue()
    assert "\r[" + "#" * 15 + "." * 15 + "]  50% 5,000 events, 1 package(s), 2.0 MB" in text
    assert "\n" not in text
    progress.done("finished")
    assert stream.getvalue().endswith("\r\x1b[Kfinished\n")


def test_no_stream_means_silence():
    progress = Progress(None, WINDOW)
    progress.events(1, WINDOW.since_ns)
    progress.stored("x", 1)
    progress.done("y")
