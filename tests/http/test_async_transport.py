"""The async transport's rules, on in-memory transports and the fake clock, on asyncio
and trio: the same decisions as the sync transport, with real cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import stalwart
from stalwart.testing import FakeClock

from .conftest import Flavour

pytestmark = pytest.mark.anyio


class Script:
    """An async MockTransport handler answering from a script, recording every attempt."""

    def __init__(self, flavour: Flavour, *answers: Any) -> None:
        self.flavour = flavour
        self.answers = list(answers)
        self.requests: list[Any] = []
        self.log: list[str] = []

    async def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        self.log.append(f"attempt {len(self.requests)}")
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            return await answer(request)
        return self.flavour.http.Response(answer)


def client(flavour: Flavour, script: Script, **options: Any) -> Any:
    transport = flavour.stalwart.AsyncResilientTransport(
        flavour.http.MockTransport(script), **options
    )
    return flavour.http.AsyncClient(transport=transport, base_url="http://api.test")


async def test_503s_are_retried(flavour: Flavour, clock: FakeClock) -> None:
    script = Script(flavour, 503, 503, 200)
    async with client(flavour, script) as c:
        assert (await c.get("/x")).status_code == 200
    assert len(script.requests) == 3


async def test_failed_responses_are_closed_before_the_wait(
    flavour: Flavour, clock: FakeClock, events: list[stalwart.Event]
) -> None:
    http = flavour.http
    script = Script(flavour, 0)

    class Body(http.AsyncByteStream):  # type: ignore[misc, name-defined]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"busy"

        async def aclose(self) -> None:
            script.log.append("closed")

    async def busy(request: Any) -> Any:
        return http.Response(503, stream=Body())

    script.answers = [busy, 200]

    def note_waits(event: stalwart.Event) -> None:
        if isinstance(event, stalwart.RetryScheduled):
            script.log.append("wait")

    remove = stalwart.add_listener(note_waits)
    try:
        async with client(flavour, script) as c:
            assert (await c.get("/x")).status_code == 200
    finally:
        remove()
    assert script.log == ["attempt 1", "closed", "wait", "attempt 2"]


async def test_the_last_failure_response_is_returned(flavour: Flavour, clock: FakeClock) -> None:
    script = Script(flavour, 502)
    async with client(flavour, script) as c:
        response = await c.get("/x")
    assert response.status_code == 502
    assert len(script.requests) == 3


async def test_post_is_retried_only_with_a_key(flavour: Flavour, clock: FakeClock) -> None:
    script = Script(flavour, 503, 200)
    async with client(flavour, script) as c:
        assert (await c.post("/o")).status_code == 503
    script = Script(flavour, 503, 200)
    async with client(flavour, script, idempotency_keys=True) as c:
        assert (await c.post("/o")).status_code == 200
    assert len({r.headers["idempotency-key"] for r in script.requests}) == 1


async def test_a_post_cancelled_by_its_attempt_timeout_is_not_retried(
    flavour: Flavour, clock: FakeClock
) -> None:
    async def hang(request: Any) -> Any:
        await stalwart.asleep(3600)  # cancelled at the per-attempt timeout (10 s)

    script = Script(flavour, hang, 200)
    async with client(flavour, script) as c:
        with pytest.raises(stalwart.DeadlineExceeded) as caught:
            await c.post("/orders", timeout=60.0)
    assert len(script.requests) == 1
    assert clock.monotonic() == pytest.approx(10.0)
    assert any("POST is not idempotent" in note for note in caught.value.__notes__)


async def test_a_get_cancelled_by_its_attempt_timeout_is_retried(
    flavour: Flavour, clock: FakeClock
) -> None:
    async def hang(request: Any) -> Any:
        await stalwart.asleep(3600)

    script = Script(flavour, hang, 200)
    async with client(flavour, script) as c:
        assert (await c.get("/x", timeout=60.0)).status_code == 200
    assert len(script.requests) == 2


async def test_the_callers_deadline_cancels_the_attempt(flavour: Flavour, clock: FakeClock) -> None:
    async def hang(request: Any) -> Any:
        await stalwart.asleep(3600)

    script = Script(flavour, hang)
    async with client(flavour, script) as c:
        with pytest.raises(stalwart.DeadlineExceeded):
            async with stalwart.deadline(2.5):
                await c.get("/x", timeout=60.0)
    assert clock.monotonic() == pytest.approx(2.5)
    assert len(script.requests) == 1


async def test_retry_after_is_honoured(flavour: Flavour, clock: FakeClock) -> None:
    async def busy(request: Any) -> Any:
        return flavour.http.Response(429, headers={"Retry-After": "3"})

    script = Script(flavour, busy, 200)
    async with client(flavour, script) as c:
        assert (await c.get("/x")).status_code == 200
    assert clock.monotonic() == pytest.approx(3.0)


async def test_a_consumed_streaming_body_is_not_sent_again(
    flavour: Flavour, clock: FakeClock
) -> None:
    http = flavour.http

    async def read_then_fail(request: Any) -> Any:
        await request.aread()
        raise http.ReadError("reset")

    async def body() -> AsyncIterator[bytes]:
        yield b"chunk"

    script = Script(flavour, read_then_fail, 200)
    async with client(flavour, script) as c:
        with pytest.raises(http.ReadError) as caught:
            await c.put("/upload", content=body())
    assert len(script.requests) == 1
    assert any("streaming body" in note for note in caught.value.__notes__)


@pytest.mark.parametrize(("chunks", "ends"), [(1, "normally"), (2, "at the deadline")])
async def test_a_body_past_its_deadline_ends_at_the_next_chunk_not_at_its_end(
    flavour: Flavour, clock: FakeClock, chunks: int, ends: str
) -> None:
    """The deadline passing while the caller handles a chunk ends the body when another
    chunk comes, not when the body turns out to be complete."""
    http = flavour.http

    class Body(http.AsyncByteStream):  # type: ignore[misc, name-defined]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for _ in range(chunks):
                yield b"chunk"

    async def answer(request: Any) -> Any:
        return http.Response(200, stream=Body())

    transport = flavour.stalwart.AsyncResilientTransport(
        http.MockTransport(Script(flavour, answer)),
        pipeline=stalwart.Pipeline(stalwart.Timeout(total=1.0)),
    )
    response = await transport.handle_async_request(http.Request("GET", "http://api.test/x"))
    received = []
    if ends == "normally":
        async for chunk in response.stream:
            received.append(chunk)
            clock.advance(2.0)  # the caller is slow with it: the deadline passes
        assert received == [b"chunk"]
    else:
        with pytest.raises(stalwart.DeadlineExceeded):
            async for chunk in response.stream:
                received.append(chunk)
                clock.advance(2.0)
        assert received == [b"chunk"]
