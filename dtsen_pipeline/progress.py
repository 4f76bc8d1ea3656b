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


def failure_reason(error) -> str:
    """The innermost message of a Dagster step error: the one our code raised, without the
    ``Error occurred while executing op`` wrappers. ``error`` is a SerializableErrorInfo."""
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None or not error.message.strip():
        return "failed (no message)"
    message = error.message.strip().splitlines()[0]
    # "package.module.ExtractError: text" -> "ExtractError: text"
    head, sep, tail = message.partition(": ")
    return f"{head.rsplit('.', 1)[-1]}{sep}{tail}" if sep else message


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
            detail = failure_reason(event.event_specific_data.error)[:300]
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f}s] {label:<8} {step} {detail}".rstrip(), file=sys.stderr, flush=True)


@logger(description="One line per step start/finish/failure, for terminals.")
def progress_logger(init_context):
    log = logging.Logger("dtsen.progress", logging.DEBUG)  # per run, not in the global registry
    log.addHandler(_ProgressHandler())
    return log
