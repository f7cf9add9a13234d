"""The quality gate: Great Expectations suites run inside DuckDB, their results and the blocking
check before the publish.

``scipy.stats`` is deferred here, before any module of the package imports Great Expectations
(``deferred_imports``).
"""

from orchestration.gate.deferred_imports import defer_scipy_stats

defer_scipy_stats()
