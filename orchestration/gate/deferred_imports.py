"""``scipy.stats`` and ``altair`` loaded when first used, not when Great Expectations is imported.

Great Expectations imports every one of its core expectations when it is imported, and three of
them (the KL-divergence and the two KS-test ones) import ``scipy.stats`` at their top: about
0.5-0.7 s of a run's CPU (scipy.stats and what it imports, nearly 500 modules), for expectations
the gate never evaluates. The KL-divergence one also imports ``altair`` (its Vega-Lite modules
and narwhals: about 0.2 s of CPU), which it uses only to draw its own charts.
:func:`defer_unused_imports` installs an import finder that gives those modules the standard
library's lazy loader (``importlib.util.LazyLoader``): importing one returns at once, and the
module is executed, whole and as usual, at the first use of any of its names. Nothing else
changes: an expectation that uses one gets the real module.

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

# Imported by name (``import x`` / ``import x as y``) and used only inside the expectations
# the gate does not evaluate; a ``from x import name`` would execute the module at once.
DEFERRED = ("scipy.stats", "altair")


class _DeferredModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the ``DEFERRED`` modules as the path finder does, with their loaders made lazy."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in DEFERRED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def defer_unused_imports() -> None:
    """Install the finder once, unless every ``DEFERRED`` module is already imported."""
    if all(name in sys.modules for name in DEFERRED) or any(
        isinstance(finder, _DeferredModuleFinder) for finder in sys.meta_path
    ):
        return
    sys.meta_path.insert(0, _DeferredModuleFinder())
