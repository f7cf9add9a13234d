"""The runs whose gate result a step may use: its own, then the runs it re-executes.

Shared by the gate's blocking check and the publish, which both look up the build of their run
(``orchestration.base.build_record.build_id_for_run``). One of the few base modules that import
Dagster: it reads the run's parent from the Dagster instance.
"""

from dagster import AssetCheckExecutionContext, AssetExecutionContext


def run_lineage(context: AssetExecutionContext | AssetCheckExecutionContext) -> list[str]:
    """This run's id, then its parent's, up to the run it re-executes (newest first).

    A run re-executed from failure (or one re-running only the check and the publish) skips the
    gate step that already succeeded: its build is the one its parent recorded.
    """
    lineage = [context.run.run_id]
    parent = context.run.parent_run_id
    while parent and parent not in lineage:
        lineage.append(parent)
        record = context.instance.get_run_by_id(parent)
        parent = record.parent_run_id if record is not None else None
    return lineage
