"""Suggestions off the run loop: a suggester driven from its own thread, so that a slow
algorithm (a Gaussian process refitting at each suggestion) never keeps the loop from
recording finished trials, stopping trials or writing the status. Every call to the
suggester goes through that one thread, in order, so it needs no locking of its own.
`InlineSuggester` is the same interface for algorithms that take a fraction of a
millisecond (random, sobol, grid): for them a thread costs more than it saves."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from controller.suggestion import Suggestion, TrialSuggester


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


class InlineSuggester:
    """BackgroundSuggester's interface, computed on the caller's thread: `request`
    returns a future that is already done."""

    def __init__(self, inner: TrialSuggester):
        self._inner = inner

    @property
    def exhausted(self) -> bool:
        return self._inner.exhausted

    def request(self, count: int) -> Future[list[Suggestion]]:
        done: Future[list[Suggestion]] = Future()
        try:
            done.set_result(self._inner.suggest_trials(count))
        except Exception as err:  # raised where the loop reads the result, as in the background
            done.set_exception(err)
        return done

    def observe(self, trial: str, suggestion: Suggestion, value: float | None) -> None:
        self._inner.trial_finished(trial, suggestion, value)

    def close(self) -> None:
        pass
