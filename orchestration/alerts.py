"""Telling someone a run failed: a line in ``OUT/alerts.log``, a command, a webhook.

``run_failure_alert_sensor`` (``orchestration/sensors.py``) calls :func:`send_alert` once per
failed run with the run, the step that failed first and that step's first line of error. Always:

- one line appended to ``OUT/alerts.log``: ``<UTC time> run <id> (<job>, review year <key>)
  failed at <step>: <cause>``.

When configured (environment of the Dagster daemon, e.g. in ``make dev``):

- ``POVERTY_ALERT_COMMAND``: a command (split like a shell would, never run through a shell) run
  with the alert as JSON on its standard input and as ``POVERTY_ALERT_*`` variables (run id, job,
  partition, step, cause, line), e.g. a script that mails the data office; 30 s at most.
- ``POVERTY_ALERT_WEBHOOK``: an http(s) URL the same JSON is POSTed to (a chat channel's incoming
  webhook); 10 s at most.

A command or webhook that fails is itself written to ``alerts.log``; it never raises, so one
broken channel does not silence the log.

No Dagster import.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ALERTS_LOG = "alerts.log"
COMMAND_ENV = "POVERTY_ALERT_COMMAND"
WEBHOOK_ENV = "POVERTY_ALERT_WEBHOOK"
COMMAND_TIMEOUT_S = 30
WEBHOOK_TIMEOUT_S = 10


@dataclass(frozen=True)
class Alert:
    run_id: str
    job: str
    partition: str | None
    step: str | None
    cause: str
    at: str = ""

    @property
    def line(self) -> str:
        year = f", review year {self.partition}" if self.partition else ""
        where = f" at {self.step}" if self.step else ""
        return f"{self.at} run {self.run_id} ({self.job}{year}) failed{where}: {self.cause}"


def first_line(message: str | None) -> str:
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown cause (see the run's logs in the Dagster UI)"


def _log(log_path: Path, line: str) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(line.replace("\n", " ") + "\n")


def send_alert(alert: Alert, warehouse_dir: Path, environ: dict[str, str] | None = None) -> Path:
    """Write the alert to ``warehouse_dir/alerts.log``, then to the configured channels."""
    environ = dict(os.environ) if environ is None else environ
    if not alert.at:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        alert = Alert(**{**asdict(alert), "at": at})
    log_path = Path(warehouse_dir) / ALERTS_LOG
    _log(log_path, alert.line)
    payload = {**asdict(alert), "line": alert.line}
    command = environ.get(COMMAND_ENV, "").strip()
    if command:
        variables = {f"POVERTY_ALERT_{k.upper()}": str(v or "") for k, v in payload.items()}
        try:
            done = subprocess.run(
                shlex.split(command),
                input=json.dumps(payload, ensure_ascii=False),
                text=True,
                capture_output=True,
                timeout=COMMAND_TIMEOUT_S,
                env={**environ, **variables},
                check=False,
            )
            if done.returncode != 0:
                output = (done.stderr or done.stdout).strip()
                detail = f": {first_line(output)}" if output else " (no output)"
                _log(log_path, f"  alert command exited {done.returncode}{detail}")
        except (OSError, ValueError, subprocess.TimeoutExpired) as error:
            _log(log_path, f"  alert command failed: {first_line(str(error))}")
    webhook = environ.get(WEBHOOK_ENV, "").strip()
    if webhook:
        try:
            if not webhook.startswith(("http://", "https://")):
                raise ValueError(f"{WEBHOOK_ENV} must be an http(s) URL")
            request = urllib.request.Request(
                webhook,
                data=json.dumps({"text": alert.line, **payload}, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S):
                pass
        except (OSError, ValueError) as error:
            _log(log_path, f"  alert webhook failed: {first_line(str(error))}")
    return log_path
