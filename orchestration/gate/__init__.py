"""The quality gate: Great Expectations suites run inside DuckDB, their results and the blocking
check before the publish.

``scipy.stats`` and ``altair`` are deferred here, before any module of the package imports Great
Expectations (``deferred_imports``).
"""

from orchestration.gate.deferred_imports import defer_unused_imports

defer_unused_imports()
