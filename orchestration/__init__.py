"""The poverty warehouse's orchestration: one Dagster code location (``definitions.py``)."""

from orchestration.base import dbt_core_apart

# Before anything of this package imports dagster-dbt: the Dagster processes never import
# dbt-core (orchestration/base/dbt_core_apart.py).
dbt_core_apart.install()
