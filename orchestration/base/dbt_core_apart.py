"""dagster-dbt imported without dbt-core: dbt runs in its own process, never in Dagster's.

dagster-dbt (0.29) imports a few dbt-core modules when it is imported (``dagster_dbt.compat``:
its status and node-type enums, adapter types), about 1 s of every process that loads the
definitions: the command, the code server, each test worker. Nothing of dbt runs in those
processes: dbt runs in its own process (``orchestration.base.dbt_child``), and the dbt resource
skips the in-process adapter handle and the ``dbt --version`` probe
(``orchestration.base.resources.WarehouseDbtCliResource``). dagster-dbt also supports dbt
installations it cannot import (the Fusion engine): ``compat`` then defines those enums itself,
with the same values, and every other dbt import of dagster-dbt is inside the functions that
need it (an in-process adapter, dbt's own selection syntax), none of which this project calls.

``install()`` (run by ``orchestration/__init__.py``, so before anything of this package imports
dagster-dbt) adds an import hook that refuses ``dbt`` and its modules only while ``dagster_dbt``
itself is being imported, and only in a process that has not imported dbt yet (the warm dbt, a
test that runs dbt in-process: dagster-dbt then imports as usual). dbt stays importable
afterwards. What changes in the process:

- dagster-dbt's module-level version of dbt-core is unknown (``DBT_PYTHON_VERSION`` is None);
  the resource gives the dbt CLI's version itself, so dagster-dbt still reads dbt-core's output;
- a dbt selection other than every node (``select="fqn:*"``, the one the dbt assets use) would
  need dbt's selector in-process and fails at definition time, naming the cause;
- Dagster's library registry lists dagster-dbt's engine as "dbt-fusion" with an unknown version.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

_REFUSING = False


def install() -> None:
    """Add the import hook (once)."""
    if not any(isinstance(finder, _DagsterDbtApart) for finder in sys.meta_path):
        sys.meta_path.insert(0, _DagsterDbtApart())


def _is_dbt_core(name: str) -> bool:
    return name == "dbt" or name.startswith("dbt.")


class _DagsterDbtApart(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> Any:
        if _REFUSING and _is_dbt_core(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if name != "dagster_dbt" or any(_is_dbt_core(module) for module in sys.modules):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _LoaderApart(spec.loader)
        return spec


class _LoaderApart(importlib.abc.Loader):
    """dagster_dbt's own loader, refusing dbt's modules while it runs the package."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        global _REFUSING
        _REFUSING = True
        try:
            self._loader.exec_module(module)
        finally:
            _REFUSING = False

    def __getattr__(self, name: str) -> Any:
        # Resource readers, source and file names: the wrapped loader's.
        return getattr(self._loader, name)
