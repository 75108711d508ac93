"""The circuit breaker's state machine, with a hand-driven clock."""

from __future__ import annotations

from okane_core.cache.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_probes_after_cooldown() -> None:
    clock = Clock()
    seen: list[BreakerState] = []
    breaker = CircuitBreaker(threshold=3, cooldown=2, clock=clock, on_change=seen.append)
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is BreakerState.CLOSED
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now = 1.9
    assert not breaker.allow()
    clock.now = 2.0
    assert breaker.allow()  # the one probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # nobody else while probing
    assert breaker.succeeded() is True
    assert breaker.state is BreakerState.CLOSED
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=1, clock=clock)
    breaker.failed()
    clock.now = 1.0
    assert breaker.allow()
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    clock.now = 2.0
    assert breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=1, clock=Clock())
    breaker.failed()
    assert breaker.succeeded() is False
    breaker.failed()
    assert breaker.state is BreakerState.CLOSED
