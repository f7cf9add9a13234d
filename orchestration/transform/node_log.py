"""The line the dbt asset logs for each node dbt finished, which the command's display shows.

``orchestration/transform/assets.py`` logs ``dbt node <node> <outcome>`` for each model or seed
built and each test failed, or ``dbt node not run: …`` once when its inputs are those of the last
build; ``orchestration/progress.py`` prints those lines as they come. The
prefix has this module of its own (no Dagster import) so the command reads it without loading
the dbt assets, which need dbt's manifest.
"""

DBT_NODE_LOG_PREFIX = "dbt node "
DBT_NOT_RUN = "not run: "
"""What follows the prefix on the one line of a dbt step that did not run dbt."""
