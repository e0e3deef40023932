"""`stalwart demo`: a naive client and a stalwart client against the same faults.

Each scenario starts two `FlakyServer`s with the same faults and seed, one per client,
so each server's request count is exactly that client's upstream load. Both clients get
the same arrivals (`rate` calls per second, taken by `concurrency` worker threads): a
client whose workers are tied up makes fewer calls and drops the arrivals that waited
too long for a worker, as a real service with a bounded pool does.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Final, Protocol

import httpx

import stalwart
from stalwart.httpx import hedging_pipeline, origin, standard_pipeline

from .._clock import SYSTEM_CLOCK
from .._flaky import FlakyServer
from ._metrics import CallRecord, ClientResult, Metrics, StalwartEvents, Tally
from ._scenarios import DEADLINE, NAIVE_PAUSES, NAIVE_TIMEOUT, Outcome, Scenario

__all__ = ["Progress", "Settings", "Stalwart", "View", "run_demo"]

#: An arrival that waited this long for a free worker is dropped, not served late.
PATIENCE: Final = 1.0
#: How long the end of a scenario waits for calls still running before cutting them:
#: every stalwart call ends within its deadline; a naive call stuck on a hang does not.
GRACE: Final = DEADLINE
#: The bound on joining a worker after the cut (servers stopped, waits cancelled: the
#: calls end in milliseconds; this only keeps a bug from hanging the demo).
JOIN_TIMEOUT: Final = 5.0
#: How often the live view and the load samples are refreshed.
TICK: Final = 0.25
PATH: Final = "/orders/42"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The demo's options (`duration` None: each scenario's own default)."""

    scenarios: Sequence[Scenario]
    duration: float | None
    concurrency: int
    rate: float
    seed: int

    def duration_of(self, scenario: Scenario) -> float:
        """How long `scenario` runs."""
        return scenario.duration if self.duration is None else self.duration


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A scenario in progress, for the live view."""

    scenario: Scenario
    duration: float
    elapsed: float
    #: The last update, once every call has ended or been cut.
    final: bool
    workers: int
    naive: Metrics
    stalwart: Metrics
    #: The stalwart client's upstream: the partition of its breaker and budget.
    origin: str
    breaker: str
    budget: str
    load: dict[str, list[tuple[float, int]]]


class View(Protocol):
    """Where the demo shows what it does (live table, plain lines, or nothing)."""

    def begin(self, scenario: Scenario, duration: float, settings: Settings) -> None:
        """A scenario starts."""

    def update(self, progress: Progress) -> None:
        """The numbers so far, a few times per second (from the main thread)."""

    def end(self, scenario: Scenario, outcome: Outcome) -> None:
        """The scenario is over, its workers and servers stopped."""

    def close(self) -> None:
        """Stop showing the scenario (also when it is interrupted); idempotent."""


# -- the two clients ----------------------------------------------------------------------------


class _Client(Protocol):
    label: str

    def call(self) -> str | None:
        """One call: None on success, else what failed (a status or an exception name)."""

    def close(self) -> None:
        """Release the connections."""


class Naive:
    """What people hand-roll: one shared `httpx.Client(timeout=5.0)` and 3 attempts,
    retrying any `httpx.HTTPError`, 5xx or 429 after a fixed 0.1 s then 0.2 s (no jitter,
    no budget, no breaker, `Retry-After` ignored)."""

    label = "naive"

    def __init__(self, url: str, stop: threading.Event) -> None:
        self._url = url
        self._stop = stop
        self._http = httpx.Client(timeout=NAIVE_TIMEOUT)

    def call(self) -> str | None:
        failure: str | None = None
        for pause in (*NAIVE_PAUSES, None):
            try:
                response = self._http.get(self._url)
            except httpx.HTTPError as error:
                failure = type(error).__name__
            else:
                status = response.status_code
                if status < 500 and status != 429:
                    return None if response.is_success else str(status)
                failure = str(status)
            if pause is None or self._stop.is_set():
                break
            # The demo's stop event ends the pause at once when the scenario is cut.
            SYSTEM_CLOCK.sleep(pause, self._stop)
        return failure

    def close(self) -> None:
        self._http.close()


class Stalwart:
    """`stalwart.Client()` with its standard pipeline (`hedge=True`: hedged reads), one
    client shared by the workers, so they share its breaker and retry budget; every call
    under `stalwart.deadline(2.0)`.

    The pipelines are made here and handed to the client, as `stalwart.Client()` would
    make them itself, so that the breaker and the budget can be read without reaching
    into the client's private transport.
    """

    label = "stalwart"

    def __init__(self, url: str, *, hedge: bool) -> None:
        self._url = url
        pipeline = standard_pipeline()
        read_pipeline = hedging_pipeline() if hedge else None
        self._http = stalwart.Client(pipeline=pipeline, read_pipeline=read_pipeline)
        # GETs go through the read pipeline when there is one.
        strategies = (read_pipeline or pipeline).strategies
        self.breaker = next(s for s in strategies if isinstance(s, stalwart.CircuitBreaker))
        budgets = [getattr(s, "budget", None) for s in strategies]
        self.budget = next(b for b in budgets if isinstance(b, stalwart.RetryBudget))
        # The partition key of the per-origin breaker and budget: "http://127.0.0.1:PORT".
        self.key = origin(httpx.Request("GET", url))

    def call(self) -> str | None:
        try:
            with stalwart.deadline(DEADLINE):
                response = self._http.get(self._url)
        except stalwart.Cancelled:
            raise  # the scenario was cut: not an outcome
        except (stalwart.StalwartError, httpx.HTTPError) as error:
            return type(error).__name__
        return None if response.is_success else str(response.status_code)

    def breaker_state(self) -> str:
        """The breaker of the upstream's origin: `closed`, `open 3.2s` (left), ..."""
        stats = self.breaker.statistics(self.key)
        state = stats.state.value.replace("_", "-")
        if stats.state is stalwart.CircuitState.OPEN and stats.retry_after:
            return f"{state} {stats.retry_after:.1f}s"
        return state

    def budget_left(self) -> str:
        """Retries the origin's budget would allow right now."""
        return f"{self.budget.statistics(self.key).available:.0f}"

    def close(self) -> None:
        self._http.close()


# -- one scenario ----------------------------------------------------------------------------


class _Arrivals:
    """The calls one client is asked to make: arrival k is due at `start + k / rate`;
    each free worker takes the next one."""

    __slots__ = ("_end", "_lock", "_next", "_rate", "_start")

    def __init__(self, start: float, end: float, rate: float) -> None:
        self._start = start
        self._end = end
        self._rate = rate
        self._next = 0
        self._lock = threading.Lock()

    def claim(self) -> float | None:
        """The due time of the next arrival, or None once the scenario is over."""
        with self._lock:
            index = self._next
            due = self._start + index / self._rate
            if due >= self._end:
                return None
            self._next += 1
        return due

    def _due_by(self, moment: float) -> int:
        """How many arrivals are due at or before `moment`."""
        moment = min(moment, self._end - 1e-9)
        if moment < self._start:
            return 0
        return math.floor((moment - self._start) * self._rate) + 1

    def waiting(self, now: float) -> int:
        """Arrivals no worker has taken though they are overdue by more than PATIENCE
        (every one still untaken, once the scenario is over): dropped, in effect."""
        moment = now if now >= self._end else now - PATIENCE
        with self._lock:
            return max(0, self._due_by(moment) - self._next)


def _work(
    client: _Client,
    arrivals: _Arrivals,
    tally: Tally,
    origin_time: float,
    stop: threading.Event,
    scopes: list[stalwart.Scope],
    finished: dict[str, float],
) -> None:
    worker = threading.get_ident()
    clock = SYSTEM_CLOCK
    try:
        # A scope per worker: cancelling it ends the stalwart client's waits at once.
        with stalwart.cancel_scope() as scope:
            scopes.append(scope)
            while not stop.is_set():
                due = arrivals.claim()
                if due is None:
                    return
                now = clock.monotonic()
                if due > now:
                    clock.sleep(due - now, stop)
                    if stop.is_set():
                        return
                elif now - due > PATIENCE:
                    tally.drop()
                    continue
                started = clock.monotonic()
                tally.begin(worker, started - origin_time)
                failure = client.call()
                ended = clock.monotonic()
                tally.end(worker, CallRecord(started - origin_time, ended - started, failure))
    except stalwart.Cancelled:
        pass  # the scenario was cut while this worker waited
    finally:
        finished[threading.current_thread().name] = clock.monotonic()


class _EventLog:
    """Counts what the stalwart client's strategies report, with breaker transitions
    timed from the scenario's start."""

    def __init__(self, origin_time: float) -> None:
        self._origin = origin_time
        self._lock = threading.Lock()
        self.events = StalwartEvents(breaker=[])

    def __call__(self, event: stalwart.Event) -> None:
        with self._lock:
            events = self.events
            if isinstance(event, stalwart.RetryScheduled):
                events.retries += 1
                events.hinted_retries += event.hinted
            elif isinstance(event, stalwart.RetryBudgetExhaustedEvent):
                events.budget_refusals += 1
            elif isinstance(event, stalwart.HedgeStarted):
                events.hedges += 1
            else:
                state = _BREAKER_EVENTS.get(type(event))
                if state is not None and events.breaker is not None:
                    when = SYSTEM_CLOCK.monotonic() - self._origin
                    events.breaker.append((when, state))

    def snapshot(self) -> StalwartEvents:
        with self._lock:
            return dataclasses.replace(self.events, breaker=self.events.transitions())


_BREAKER_EVENTS: Final[dict[type[stalwart.Event], str]] = {
    stalwart.CircuitOpened: "open",
    stalwart.CircuitHalfOpened: "half-open",
    stalwart.CircuitClosed: "closed",
    stalwart.CircuitIsolated: "isolated",
}


@contextmanager
def _listening(listener: Callable[[stalwart.Event], object]) -> Iterator[None]:
    remove = stalwart.add_listener(listener)
    try:
        yield
    finally:
        remove()


def run_scenario(scenario: Scenario, settings: Settings, view: View) -> Outcome:
    """Run one scenario to its end (or until interrupted) and return what it showed.

    Whatever happens, the workers are stopped, the servers stopped and the clients
    closed before this returns or raises.
    """
    duration = settings.duration_of(scenario)
    faults = scenario.faults(duration)
    stop = threading.Event()
    scopes: list[stalwart.Scope] = []
    threads: list[threading.Thread] = []
    finished: dict[str, float] = {}
    with ExitStack() as cleanup:
        servers = {
            label: FlakyServer(faults, seed=settings.seed, record=0)
            for label in ("naive", "stalwart")
        }
        for server in servers.values():
            server.start()
            cleanup.callback(server.stop)
        naive = Naive(servers["naive"].url + PATH, stop)
        cleanup.callback(naive.close)
        smart = Stalwart(servers["stalwart"].url + PATH, hedge=scenario.hedge)
        cleanup.callback(smart.close)
        clients: dict[str, _Client] = {"naive": naive, "stalwart": smart}

        def cut() -> None:
            # Runs first on the way out (ExitStack unwinds last-in first): wake every
            # wait, then the servers' stop closes hung connections, then join.
            stop.set()
            for scope in scopes:
                scope.cancel()

        cleanup.callback(_join, threads)
        cleanup.callback(_stop_all, servers.values())
        cleanup.callback(cut)

        start = SYSTEM_CLOCK.monotonic()
        end = start + duration
        for server in servers.values():
            # Re-arm the faults: their outage window now counts from `start`.
            server.faults = faults
        events = _EventLog(start)
        cleanup.enter_context(_listening(events))
        tallies = {label: Tally() for label in clients}
        arrivals = {label: _Arrivals(start, end, settings.rate) for label in clients}
        load: dict[str, list[tuple[float, int]]] = {label: [(0.0, 0)] for label in clients}
        for label, client in clients.items():
            for index in range(settings.concurrency):
                thread = threading.Thread(
                    target=_work,
                    args=(client, arrivals[label], tallies[label], start, stop, scopes, finished),
                    name=f"stalwart-demo-{label}-{index}",
                    daemon=True,  # never keeps the process alive, whatever happens
                )
                threads.append(thread)
                thread.start()
        view.begin(scenario, duration, settings)
        cleanup.callback(view.close)

        def sample(now: float) -> None:
            for label, server in servers.items():
                load[label].append((now - start, server.statistics().received))

        def metrics(label: str, now: float) -> Metrics:
            waiting = arrivals[label].waiting(now)
            return tallies[label].metrics(load[label][-1][1], waiting=waiting)

        def progress(now: float, *, final: bool = False) -> Progress:
            return Progress(
                scenario=scenario,
                duration=duration,
                elapsed=min(now - start, duration),
                final=final,
                workers=settings.concurrency,
                naive=metrics("naive", now),
                stalwart=metrics("stalwart", now),
                origin=smart.key,
                breaker=smart.breaker_state(),
                budget=smart.budget_left(),
                load={label: list(samples) for label, samples in load.items()},
            )

        limit = scenario.limit(settings.rate)
        tick = start
        while (now := SYSTEM_CLOCK.monotonic()) < end:
            tick = min(tick + TICK, end)  # on a fixed grid: the samples do not drift
            SYSTEM_CLOCK.sleep(tick - now, stop)
            now = SYSTEM_CLOCK.monotonic()
            sample(now)
            if limit is not None:
                for label, server in servers.items():
                    server.faults = faults.replace(error_rate=_excess(load[label], limit))
            view.update(progress(now))
        # No new calls now; the ones still running get GRACE to finish.
        for thread in threads:
            thread.join(max(0.0, end + GRACE - SYSTEM_CLOCK.monotonic()))
        now = SYSTEM_CLOCK.monotonic()
        # A client's wall time runs until its last call ended, or until the cut.
        ended = {}
        for label in clients:
            names = [t.name for t in threads if t.name.startswith(f"stalwart-demo-{label}-")]
            ended[label] = max(finished.get(name, now) for name in names)
            tallies[label].close(now - start)
        sample(now)
        view.update(progress(now, final=True))
        results = {
            label: ClientResult(
                label=label,
                metrics=metrics(label, now),
                wall_time=ended[label] - start,
                records=tallies[label].records(),
                load=load[label],
                by_status=dict(servers[label].statistics().by_status),
            )
            for label in clients
        }
        outcome = Outcome(
            duration=duration,
            naive=results["naive"],
            stalwart=results["stalwart"],
            events=events.snapshot(),
        )
    view.end(scenario, outcome)
    return outcome


def _excess(samples: Sequence[tuple[float, int]], limit: float) -> float:
    """The share of requests above `limit` per second, over the last second of samples:
    what a rate-limited upstream refuses."""
    now, received = samples[-1]
    before = [sample for sample in samples if sample[0] <= now - 1.0]
    then, earlier = before[-1] if before else samples[0]
    if now <= then:
        return 0.0
    rate = (received - earlier) / (now - then)
    return 0.0 if rate <= limit else round(1.0 - limit / rate, 3)


def _stop_all(servers: Iterable[FlakyServer]) -> None:
    for server in servers:
        server.stop()


def _join(threads: list[threading.Thread]) -> None:
    deadline = SYSTEM_CLOCK.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - SYSTEM_CLOCK.monotonic()))


def run_demo(settings: Settings, view: View) -> list[tuple[Scenario, Outcome]]:
    """Every scenario of `settings`, in order."""
    return [(scenario, run_scenario(scenario, settings, view)) for scenario in settings.scenarios]
