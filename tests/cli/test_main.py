"""The `stalwart` command as a whole: version, help, usage errors, Ctrl-C, rich missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

import stalwart
from stalwart.cli import RICH_MISSING, _main, main

from .conftest import Main, run_stalwart

COMMANDS = ["demo", "flaky", "get", "post", "request"]


def test_version(stalwart_main: Main) -> None:
    """`stalwart --version` prints `stalwart <version>`."""
    result = stalwart_main("--version")
    assert result.status == 0
    assert result.out == f"stalwart {stalwart.__version__}\n"


def test_python_dash_m_runs_the_command() -> None:
    """`python -m stalwart` is the same command as the `stalwart` script."""
    result = run_stalwart(["--version"])
    assert result.returncode == 0
    assert result.stdout == f"stalwart {stalwart.__version__}\n"


def test_help_lists_the_commands_with_examples(stalwart_main: Main) -> None:
    """The top-level help names every command and shows examples."""
    result = stalwart_main("--help")
    assert result.status == 0
    for command in COMMANDS:
        assert command in result.out
    assert "examples:" in result.out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(stalwart_main: Main, command: str) -> None:
    """`stalwart COMMAND --help` explains the command and shows examples of it."""
    result = stalwart_main(command, "--help")
    assert result.status == 0
    assert "examples:" in result.out
    assert f"stalwart {command}" in result.out.split("examples:")[1]


@pytest.mark.parametrize("command", ["get", "post", "request"])
def test_request_help_documents_the_exit_statuses(stalwart_main: Main, command: str) -> None:
    """The exit statuses of the request commands are in their help."""
    out = stalwart_main(command, "--help").out
    for status in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130 "):
        assert f"\n  {status}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve"], "invalid choice: 'serve'"),
        (["--nope"], "the following arguments are required: COMMAND"),
        (["demo", "--nope"], "unrecognized arguments: --nope"),
        (["get"], "the following arguments are required: URL"),
    ],
)
def test_usage_errors_exit_2(stalwart_main: Main, args: list[str], message: str) -> None:
    """A bad command line: argparse's usage message, exit status 2, no traceback."""
    result = stalwart_main(*args)
    assert result.status == 2
    assert message in result.err
    assert "usage: stalwart" in result.err
    assert "Traceback" not in result.err


def test_usage_error_in_a_child_process() -> None:
    """The same from the shell: exit status 2, usage on stderr, no traceback."""
    result = run_stalwart(["demo", "--duration", "-1"])
    assert result.returncode == 2
    assert "argument --duration: must be > 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, stalwart_main: Main) -> None:
    """A Ctrl-C anywhere ends the command with status 130 and no traceback."""

    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_main, "run", interrupted)
    result = stalwart_main("demo")
    assert result.status == 130
    assert result.err == ""


def test_an_unexpected_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, stalwart_main: Main
) -> None:
    """A bug shows as one line (STALWART_DEBUG=1 shows the traceback), status 1."""

    def broken(*args: object) -> int:
        raise RuntimeError("something broke")

    monkeypatch.setattr("stalwart.cli._flaky.run", broken)
    monkeypatch.delenv("STALWART_DEBUG", raising=False)
    result = stalwart_main("flaky")
    assert result.status == 1
    assert result.err == (
        "stalwart: error: RuntimeError: something broke "
        "(unexpected; STALWART_DEBUG=1 shows the traceback)\n"
    )
    monkeypatch.setenv("STALWART_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something broke"):
        stalwart_main("flaky")


def test_without_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Without rich, one line says what to install, and the status is 1."""
    monkeypatch.setitem(sys.modules, "rich", None)  # `import rich` now raises ImportError
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    assert captured.err == RICH_MISSING + "\n"
    assert RICH_MISSING == "the stalwart command needs rich: pip install 'stalwart[cli]'"


@pytest.mark.realtime
def test_a_closed_stdout_ends_quietly() -> None:
    """`stalwart demo | head -1`: the reader goes away; no traceback, status 141."""
    process = subprocess.Popen(
        [sys.executable, "-m", "stalwart", "demo", "--scenario", "transient", "--duration", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        process.stdout.close()
        err = process.stderr.read() if process.stderr is not None else ""
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr is not None:
            process.stderr.close()
        process.wait()
    assert process.returncode == 141
    assert "Traceback" not in err
