"""``make dev``: ``dagster dev`` (UI, daemon, code server) that stops on Ctrl-C and SIGTERM.

Started straight from make, ``dagster dev`` and its six children outlived both signals (all alive
90 s later): a child started by a non-interactive shell may inherit SIGINT ignored, and
``dagster dev`` itself did not always stop within a minute of its process group being signalled.
This launcher:

- starts ``dagster dev`` in its own process group with the default signal handlers;
- on SIGINT, SIGTERM or SIGHUP sends SIGINT to that group (``dagster dev``'s own graceful stop:
  the daemon finishes its tick, the UI closes), then SIGTERM after ``GRACE_S`` seconds, then
  SIGKILL: every process of the group is gone, always;
- dies with its parent (``PR_SET_PDEATHSIG``): ``kill <make's pid>`` reaches it as SIGTERM.

Usage: ``python -m orchestration.dev <dagster dev arguments>``; exits with ``dagster dev``'s status.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 15.0
PR_SET_PDEATHSIG = 1
_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _default_signals() -> None:
    for number in _STOPS:
        signal.signal(number, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(process: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to the process group, until none of it is left."""
    pgid = process.pid
    for number, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, number)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            process.poll()
            if not _group_alive(pgid):
                return
            time.sleep(0.2)


def main(argv: list[str]) -> int:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    dagster = str(Path(sys.executable).with_name("dagster"))
    stopping: list[int] = []

    def on_signal(number: int, _frame) -> None:
        stopping.append(number)

    for number in _STOPS:
        signal.signal(number, on_signal)
    process = subprocess.Popen(
        [dagster, "dev", *argv], start_new_session=True, preexec_fn=_default_signals
    )
    while process.poll() is None and not stopping:
        time.sleep(0.2)
    if stopping:
        print(f"\nmake dev: stopping dagster dev (signal {stopping[0]})", file=sys.stderr)
    stop_group(process)
    return process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
