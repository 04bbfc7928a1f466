"""Suggestions off the run loop: a suggester driven from its own thread, so that a slow
algorithm (a Gaussian process refitting at each suggestion) never keeps the loop from
recording finished trials, stopping trials or writing the status. Every call to the
suggester goes through that one thread, in order, so it needs no locking of its own.
`InlineSuggester` is the same interface for algorithms that take a fraction of a
millisecond (random, sobol, grid): for them a thread costs more than it saves."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from controller.algorithms.base import Suggestion, TrialSuggester


class Pending(Protocol):
    """Suggestions being computed: a Future, or `Ready` where they already are."""

    def done(self) -> bool: ...

    def result(self) -> list[Suggestion]: ...

    def add_done_callback(self, fn: Callable[[Any], object]) -> None: ...


class BackgroundSuggester:
    def __init__(self, inner: TrialSuggester):
        self._inner = inner
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="suggester")

    @property
    def exhausted(self) -> bool:
        return self._inner.exhausted

    def request(self, count: int) -> Future[list[Suggestion]]:
        """Start computing `count` suggestions; the future holds them."""
        return self._thread.submit(self._inner.suggest_trials, count)

    def observe(self, trial: str, suggestion: Suggestion, value: float | None) -> None:
        """Queued after any suggestion being computed; the loop does not wait for it."""
        self._thread.submit(self._inner.trial_finished, trial, suggestion, value)

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)


class Ready:
    """Suggestions computed already, or the error computing them raised (raised again
    where they are read, as a Future does)."""

    def __init__(self, value: list[Suggestion] | None, error: Exception | None = None):
        self._value, self._error = value, error

    def done(self) -> bool:
        return True

    def result(self) -> list[Suggestion]:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        fn(self)


class InlineSuggester:
    """BackgroundSuggester's interface, computed on the caller's thread: `request`
    returns them ready."""

    def __init__(self, inner: TrialSuggester):
        self._inner = inner

    @property
    def exhausted(self) -> bool:
        return self._inner.exhausted

    def request(self, count: int) -> Ready:
        try:
            return Ready(self._inner.suggest_trials(count))
        except Exception as err:  # raised where the loop reads the result, as in the background
            return Ready(None, err)

    def observe(self, trial: str, suggestion: Suggestion, value: float | None) -> None:
        self._inner.trial_finished(trial, suggestion, value)

    def close(self) -> None:
        pass
