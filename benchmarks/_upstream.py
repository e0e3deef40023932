"""Upstream servers for the HTTP overhead scenario, each in a process of its own.

A server in the client's process shares its GIL: every request would then pay for the
server's Python code too, and the client's overhead would look smaller than it is.
`serve(kind)` starts `python -m benchmarks._upstream KIND` and yields its base URL:

- `raw`: a do-nothing asyncio server that answers every request head with one fixed
  200 response (keep-alive, pipelining; no bodies expected): as fast as a Python
  server gets;
- `flaky`: `stalwart.testing.FlakyServer()` with no faults (h11 parses every request).

The child prints its port on stdout, then serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["KINDS", "serve"]

KINDS = ("raw", "flaky")
_ROOT = Path(__file__).resolve().parent.parent

_BODY = b'{"ok": true, "attempt": 1, "path": "/"}'
_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(_BODY),
    _BODY,
)


class _Answer(asyncio.Protocol):
    """Answers each request head (up to the blank line) with the fixed response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            buffer = buffer[end + 4 :]
            answers += 1
        self.buffer = buffer
        if answers and self.transport is not None:
            self.transport.write(_RESPONSE * answers)


async def _raw() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Answer, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def _flaky() -> None:
    from stalwart.testing import FlakyServer

    with FlakyServer(record=0) as server:
        print(server.port, flush=True)
        sys.stdin.read()


def main(kind: str) -> None:
    if kind == "raw":
        asyncio.run(_raw())
    elif kind == "flaky":
        _flaky()
    else:
        raise SystemExit(f"unknown upstream {kind!r}; expected one of {KINDS}")


@contextmanager
def serve(kind: str) -> Iterator[str]:
    """Run upstream `kind` in a child process; yield `http://127.0.0.1:PORT`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._upstream", kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=_ROOT,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"upstream {kind!r} did not start (it printed {line!r})")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "raw")
