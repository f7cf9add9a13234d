"""Work a step leaves running (orchestration/base/background.py): waited for, failures said."""

from __future__ import annotations

import threading
import time

from orchestration.base import background


def test_finish_waits_for_the_work_and_names_what_failed() -> None:
    done: list[str] = []
    release = threading.Event()

    def slow() -> None:
        release.wait(5)
        time.sleep(0.05)
        done.append("slow")

    def broken() -> None:
        raise ValueError("no site directory")

    background.start("slow-work", slow)
    background.start("broken-work", broken)
    assert done == []
    release.set()
    messages = background.finish()
    assert done == ["slow"]
    assert messages == ["broken-work failed: ValueError: no site directory"]
    assert background.finish() == []


def test_a_second_start_of_the_same_work_waits_for_the_first() -> None:
    order: list[str] = []
    release = threading.Event()

    def first() -> None:
        release.wait(5)
        order.append("first")

    background.start("pages", first)
    threading.Timer(0.1, release.set).start()
    background.start("pages", lambda: order.append("second"))
    assert background.finish("pages") == []
    assert order == ["first", "second"]
