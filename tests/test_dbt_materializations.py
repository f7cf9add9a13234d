"""The project's one-statement ``table`` and ``view`` materializations
(``dbt_project/macros/materializations/``), run by the real dbt on a scratch project.

The scratch project holds only those macros (copied from the repository) and two models, so
that each property is seen alone: a model whose SQL fails leaves the previous relation as it was,
a model that changes kind replaces the old relation, and a model asking for what the
materializations leave out stops with a message instead of being built without it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest

from orchestration.base.settings import DBT_PROJECT_DIR
from orchestration.transform.assets import _failed_nodes

MODEL = """\
{{{{ config(materialized=var("kind", "{kind}")) }}}}
{{% if var("persist", false) %}}{{{{ config(persist_docs={{"relation": true}}) }}}}{{% endif %}}
select n, {{{{ "error('the model failed on purpose')" if var("fail", false) else "'v' || n" }}}}
    as label
from range({{{{ var("rows", 3) }}}}) t(n)
"""


@pytest.fixture
def project(tmp_path):
    """A dbt project with the repository's materializations, a table model and a view model."""
    root = tmp_path / "scratch"
    shutil.copytree(DBT_PROJECT_DIR / "macros" / "materializations", root / "macros" / "lean")
    (root / "models").mkdir()
    (root / "models" / "a_table.sql").write_text(MODEL.format(kind="table"), encoding="utf-8")
    (root / "models" / "a_view.sql").write_text(MODEL.format(kind="view"), encoding="utf-8")
    (root / "dbt_project.yml").write_text(
        "name: scratch\nversion: '1.0.0'\nconfig-version: 2\nprofile: scratch\n"
        "flags:\n  send_anonymous_usage_stats: false\n",
        encoding="utf-8",
    )
    (root / "profiles.yml").write_text(
        "scratch:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {json.dumps(str(tmp_path / 'scratch.duckdb'))}\n      threads: 1\n",
        encoding="utf-8",
    )
    return root


class Invocation(NamedTuple):
    returncode: int
    stdout: str  # each node's status and message


def _dbt(project: Path, *args: str, variables: dict | None = None) -> Invocation:
    """dbt in this process (``dbtRunner``): the real CLI's code, without a new interpreter and
    dbt's 1.5 s import for each of the module's invocations."""
    from dbt.cli.main import dbtRunner

    command = [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    command += ["--log-path", str(project / "logs"), "--target-path", str(project / "target")]
    command += ["--quiet"]
    if variables:
        command += ["--vars", json.dumps(variables)]
    result = dbtRunner().invoke(command)
    lines = [str(result.exception)] if result.exception else []
    for node in getattr(result.result, "results", None) or []:
        lines.append(f"{node.node.name}: {node.status} {node.message}")
    return Invocation(0 if result.success else 1, "\n".join(lines))


def _relations(project: Path) -> dict[str, tuple[str, list[tuple]]]:
    """Each relation of the scratch warehouse: its kind and its rows."""
    with duckdb.connect(str(project.parent / "scratch.duckdb")) as con:
        kinds = con.execute(
            "select table_name, table_type from information_schema.tables order by 1"
        ).fetchall()
        return {
            name: (kind, con.execute(f"select * from {name} order by n").fetchall())
            for name, kind in kinds
        }


def test_a_failing_model_leaves_the_previous_table_and_view(project):
    built = _dbt(project, "run", variables={"rows": 2})
    assert built.returncode == 0, built.stdout
    before = _relations(project)
    assert before == {
        "a_table": ("BASE TABLE", [(0, "v0"), (1, "v1")]),
        "a_view": ("VIEW", [(0, "v0"), (1, "v1")]),
    }

    # A table whose SQL fails while it runs. (A view's SQL runs only when the view is read; a
    # view whose SQL does not bind, a column gone, fails below.)
    failed = _dbt(project, "run", "--select", "a_table", variables={"rows": 5, "fail": True})
    assert failed.returncode == 1
    assert "the model failed on purpose" in failed.stdout
    # The pipeline's one line names the model with the start of the database's error.
    line = _failed_nodes(project / "target")
    assert line.startswith("dbt build failed on 1 node(s): a_table (error: "), line
    assert "the model failed on purpose" in line
    assert _relations(project) == before

    (project / "models" / "a_view.sql").write_text(
        "{{ config(materialized='view') }} select no_such_column from range(4) t(n)",
        encoding="utf-8",
    )
    failed = _dbt(project, "run", "--select", "a_view")
    assert failed.returncode == 1
    assert "no_such_column" in failed.stdout
    assert _relations(project)["a_view"] == before["a_view"]
    # Nothing of the other materializations' renames is left behind.
    assert set(_relations(project)) == {"a_table", "a_view"}


def test_a_model_that_changes_kind_replaces_the_relation_of_the_other_kind(project):
    assert _dbt(project, "run").returncode == 0
    swapped = _dbt(project, "run", variables={"kind": "view", "rows": 4})
    assert swapped.returncode == 0, swapped.stdout
    assert _relations(project) == {
        "a_table": ("VIEW", [(n, f"v{n}") for n in range(4)]),
        "a_view": ("VIEW", [(n, f"v{n}") for n in range(4)]),
    }
    back = _dbt(project, "run", variables={"kind": "table", "rows": 1})
    assert back.returncode == 0, back.stdout
    assert _relations(project) == {
        "a_table": ("BASE TABLE", [(0, "v0")]),
        "a_view": ("BASE TABLE", [(0, "v0")]),
    }


def test_a_model_asking_for_what_the_materializations_leave_out_stops_with_a_message(project):
    assert _dbt(project, "run").returncode == 0
    before = _relations(project)
    refused = _dbt(project, "run", variables={"persist": True, "rows": 6})
    assert refused.returncode == 1
    for name, kind in (("a_table", "table"), ("a_view", "view")):
        assert (
            f"{name} asks for persist_docs, which this project's one-statement {kind} "
            "materialization (macros/materializations/) does not do"
        ) in refused.stdout
    assert _relations(project) == before
