"""Work a step leaves running while the run goes on, finished before the run ends.

The gate's Data Docs (Great Expectations renders a few dozen HTML pages: 0.3 s of a small run)
are an audit convenience, not part of the gate's verdict: the verdict and every expectation's
outcome are in ``audit.validation_results`` before the gate's step ends. The gate therefore
renders them on a thread of its own (``start``) while the run checks its result and publishes;
the publish step, and the command once the run is over, wait for it (``finish``) and say when
it failed. The thread is not a daemon: a run process whose publish was skipped (a blocked gate)
still waits for the pages before it exits.

No Dagster import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_LOCK = threading.Lock()
_PENDING: dict[str, tuple[threading.Thread, list[str]]] = {}


def start(name: str, work: Callable[[], object]) -> None:
    """Run ``work`` on a thread called ``name``; an earlier work of that name is waited for
    first (two renderings of the same pages never overlap)."""
    finish(name)
    errors: list[str] = []

    def run() -> None:
        try:
            work()
        except Exception as error:
            errors.append(f"{name} failed: {type(error).__name__}: {error}")
            logger.warning("%s failed", name, exc_info=True)

    thread = threading.Thread(target=run, name=name, daemon=False)
    with _LOCK:
        _PENDING[name] = (thread, errors)
    thread.start()


def finish(name: str | None = None) -> list[str]:
    """Wait for the pending work called ``name`` (every pending work when None); the message of
    each that failed."""
    with _LOCK:
        names = [name] if name is not None else list(_PENDING)
        pending = [_PENDING.pop(n) for n in names if n in _PENDING]
    messages: list[str] = []
    for thread, errors in pending:
        thread.join()
        messages.extend(errors)
    return messages
