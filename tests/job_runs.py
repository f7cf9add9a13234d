"""Running the whole review job in-process over a fixture's raw exports, as
``poverty-warehouse run`` does, for the hand-worked pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def run_job(raw_dir: Path, warehouse_dir: Path, years: list[str], pii_key: str):
    """Run the job once over ``years``; (success, failed steps, failed checks, warehouse dir)."""
    warehouse_dir.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.setenv("POVERTY_PII_KEY", pii_key)
        from orchestration.base.partitions import review_year_partitions
        from orchestration.base.resources import build_resources
        from orchestration.base.settings import Settings
        from orchestration.definitions import POVERTY_REVIEW_JOB, build_definitions
        from orchestration.instance import ephemeral_instance

        # Entered, the instance makes its state storage the current one, which resolving the
        # job reads: a storage an earlier test left current may already be disposed. The
        # command's unrecorded instance, as `poverty-warehouse run --no-record` uses.
        with ephemeral_instance() as instance:
            settings = Settings(raw_dir=raw_dir, warehouse_dir=warehouse_dir)
            job = build_definitions(build_resources(settings)).resolve_job_def(POVERTY_REVIEW_JOB)
            instance.add_dynamic_partitions(review_year_partitions.name, years)
            result = job.execute_in_process(
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": years[0],
                    "dagster/asset_partition_range_end": years[-1],
                },
                raise_on_error=False,
            )
            failures = [
                (event.step_key, event.event_specific_data.error.message.splitlines()[0])
                for event in result.all_events
                if event.event_type_value == "STEP_FAILURE"
            ]
            failed_checks = [
                (evaluation.check_name, "/".join(evaluation.asset_key.path))
                for evaluation in result.get_asset_check_evaluations()
                if not evaluation.passed
            ]
    return result.success, failures, failed_checks, warehouse_dir
