"""A Dagster logger that prints one line per step event, for ``dtsen run`` in a terminal."""

from __future__ import annotations

import logging
import sys
import time

from dagster import DagsterEventType, logger

_SHOWN = {
    DagsterEventType.STEP_START: "start",
    DagsterEventType.STEP_SUCCESS: "done",
    DagsterEventType.STEP_FAILURE: "FAILED",
    DagsterEventType.STEP_SKIPPED: "skipped",
    DagsterEventType.ASSET_CHECK_EVALUATION: "check",
}


class _ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if event is None or event.event_type not in _SHOWN:
            return
        label = _SHOWN[event.event_type]
        step = event.step_key or ""
        detail = ""
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            step = data.check_name
            detail = "passed" if data.passed else "FAILED"
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            error = event.event_specific_data.error
            detail = (error.message.strip().splitlines() or [""])[-1][:300] if error else ""
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f}s] {label:<8} {step} {detail}".rstrip(), file=sys.stderr, flush=True)


@logger(description="One line per step start/finish/failure, for terminals.")
def progress_logger(init_context):
    log = logging.getLogger("dtsen.progress")
    log.setLevel(logging.DEBUG)
    log.handlers = [_ProgressHandler()]
    log.propagate = False
    return log
