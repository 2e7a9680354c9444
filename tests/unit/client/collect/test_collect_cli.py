"""``stats-collect``: option checks, ``check`` naming the offending key, Python sources by -s."""

from __future__ import annotations

import io
import textwrap

import pytest

from stats_client.collect import cli

GOOD = """\
sources:
  - name: tracker
    url: http://127.0.0.1:9/summary
    metrics:
      - {name: open_incidents, type: gauge, path: $.open}
"""


def write(tmp_path, text, name="collect.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_check_accepts_a_good_file_without_polling(tmp_path):
    out = io.StringIO()
    assert cli.main(["check", "--config", str(write(tmp_path, GOOD))], environ={}, out=out) == 0
    assert "ok (1 sources: tracker)" in out.getvalue()


def test_check_names_the_key_and_line(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("type: gauge", "type: meter"))
    assert cli.main(["check", "--config", str(path)], environ={}) == 2
    err = capsys.readouterr().err
    assert "sources[0].metrics[0].type (line 5): must be one of counter, gauge" in err


def test_check_reports_a_missing_python_module(tmp_path, capsys):
    path = write(tmp_path, "sources:\n  - name: billing\n    python: missing_module_xyz\n")
    assert cli.main(["check", "--config", str(path)], environ={}) == 2
    assert "sources[0].python: cannot import missing_module_xyz" in capsys.readouterr().err


def test_check_imports_a_python_source_file_relative_to_the_config(tmp_path):
    (tmp_path / "billing_source.py").write_text(
        textwrap.dedent(
            """
            from stats_client.collect import PythonSource, register_metric, register_source

            @register_source("billing-cli-test")
            class Billing(PythonSource):
                @register_metric("invoices_open")
                def invoices(self):
                    return 3
            """
        )
    )
    config = "sources:\n  - name: billing\n    python: billing_source.py\n"
    config += "    collector: billing-cli-test\n"
    out = io.StringIO()
    assert cli.main(["check", "--config", str(write(tmp_path, config))], environ={}, out=out) == 0
    assert "billing" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dry-run"], "--dry-run needs --once"),
        ([], "give --config FILE"),
        (["-s", "nope-not-registered", "--once"], None),
    ],
    ids=["dry-run-alone", "nothing-to-run", "unknown-source"],
)
def test_usage_errors(argv, message, capsys):
    if message is None:
        assert cli.main(argv, environ={}) == 2
        assert "no Python source named 'nope-not-registered'" in capsys.readouterr().err
        return
    with pytest.raises(SystemExit) as caught:
        cli.main(argv, environ={})
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_config_is_an_error(tmp_path, capsys):
    assert cli.main(["--config", str(tmp_path / "none.yaml"), "--once"], environ={}) == 2
    assert "cannot read" in capsys.readouterr().err


def test_events_without_a_token_fail_at_start(tmp_path, capsys):
    path = write(tmp_path, "events: {enabled: true}\n" + GOOD)
    assert cli.main(["--config", str(path), "--once"], environ={}) == 2
    assert "events.access_token: is required when events are enabled" in capsys.readouterr().err
    assert cli.main(["--config", str(path), "--once", "--no-events"], environ={}) == 1
