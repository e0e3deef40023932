"""stalwart's benchmarks: stalwart side by side with tenacity, stamina, backoff and
httpx-retries.

Run from the repository root with the project's virtual environment:

```sh
.venv/bin/python -m benchmarks               # the full run, a few minutes (make bench)
.venv/bin/python -m benchmarks --quick       # every scenario, small, in seconds (make bench-quick)
.venv/bin/python -m benchmarks --only machinery growth --json /tmp/bench.json
```

Four scenarios, each measuring every contender in one run, in interleaved rounds, so
that the noise of the machine falls on all of them alike:

- `machinery`: the cost of the retry machinery around a no-op, sync and async;
- `http`: a GET on loopback through a bare httpx client and through the resilient
  ones, against a server in another process;
- `faults`: behaviour against `stalwart.testing.FlakyServer` under transient errors, a
  full outage, a slow tail, a hanging upstream and `429 Retry-After`;
- `growth`: the cost of partitioned state (one circuit per key) as the keys grow.

Nothing here asserts on timing: budgets are reported as met or MISSED, and the exit
status is non-zero only when a benchmark crashes. See `docs/benchmarks.md`.
"""
