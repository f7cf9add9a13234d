"""Python's cyclic garbage collector set for a process that imports a lot, then works.

A run's process imports some 4,500 modules (Dagster, dagster-dbt, Great Expectations, pandas)
whose objects live as long as it does, and the warm dbt imports dbt and parses the project before
its build. CPython's default thresholds, (700, 10, 10), start a collection every 700 new container
objects and, as the imports keep adding long-lived ones, walk all of them again in a full
collection every hundred or so: in a tiny run, 1,350 collections took 1.0 s of the command's
9.3 s (0.8 s of it full ones), and 730 took 0.45 s of the warm dbt's. With ``THRESHOLDS`` the same
run makes 17 and 9 collections, 0.2 s and 0.15 s, and no full one (``docs/performance.md``).

Nothing else changes: reference counting still frees at once every object that is not in a
cycle, and what waits for the collector between two collections is at most ``THRESHOLDS[0]``
new container objects, a few megabytes. The processes that import this much and then run set
it first thing: ``poverty-warehouse`` (``orchestration/cli.py``), the warm dbt
(``orchestration/base/dbt_child.py``) and the test suite's processes (``tests/conftest.py``).

No Dagster import.
"""

from __future__ import annotations

import gc

# A young collection every 50,000 new container objects instead of 700; a middle one every 20 of
# those; a full one after 100 middle ones, and then only when CPython's own rule finds that a
# quarter of the long-lived objects are new since the last.
THRESHOLDS = (50_000, 20, 100)


def collect_less_often() -> None:
    """Set ``THRESHOLDS`` for this process (an explicit ``gc.set_threshold`` after it wins)."""
    gc.set_threshold(*THRESHOLDS)
