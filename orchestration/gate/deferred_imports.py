"""``scipy.stats`` loaded when first used, not when Great Expectations is imported.

Great Expectations imports every one of its core expectations when it is imported, and three of
them (the KL-divergence and the two KS-test ones) import ``scipy.stats`` at their top: about
0.5-0.7 s of a run's CPU (scipy.stats and what it imports, nearly 500 modules), for expectations
the gate never evaluates. :func:`defer_scipy_stats` installs an import finder that gives
``scipy.stats`` the standard library's lazy loader (``importlib.util.LazyLoader``): importing it
returns at once, and the module is executed, whole and as usual, at the first use of any of its
names. Nothing else changes: an expectation that uses it gets the real module.

The gate's package installs it (``orchestration/gate/__init__.py``) before anything imports Great
Expectations; installing it imports nothing. No Dagster import.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

DEFERRED = "scipy.stats"


class _DeferredModuleFinder(importlib.abc.MetaPathFinder):
    """Finds ``scipy.stats`` as the path finder does, with its loader made lazy."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != DEFERRED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def defer_scipy_stats() -> None:
    """Install the finder once, unless ``scipy.stats`` is already imported."""
    if DEFERRED in sys.modules or any(
        isinstance(finder, _DeferredModuleFinder) for finder in sys.meta_path
    ):
        return
    sys.meta_path.insert(0, _DeferredModuleFinder())
