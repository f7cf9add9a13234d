"""``python -m orchestration.publish.report WAREHOUSE_DIR``: rebuild the report, open nothing."""

from orchestration.publish.report.page import main

raise SystemExit(main())
