import pytest
import stalwart
from stalwart._clock import current_clock

@pytest.mark.anyio
async def test_probe(clock):
    assert current_clock() is clock
    await stalwart.asleep(3)
    assert clock.monotonic() == 3
