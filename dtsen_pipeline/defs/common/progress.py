"""A Dagster logger that prints one line per step event, for ``dtsen run`` in a terminal."""

from __future__ import annotations

import logging
import re
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


_DBT_ERRORS = "Errors parsed from dbt logs:"
# Info messages shown beside the step events: the linkage step's phases as they start.
_PROGRESS_FROM = ("linkage ",)


def redact(text: str) -> str:
    """Keep personal values out of a message built from a tool's error text: long digit runs (a NIK,
    a KK number) and the quoted value of a conversion error are replaced."""
    text = re.sub(r"\d{8,}", "<number>", text)
    return re.sub(
        r"((?:string|value|literal)\s+)'[^']*'", r"\1'<value>'", text, flags=re.IGNORECASE
    )


def failure_reason(error) -> str:
    """The innermost message of a Dagster step error: the one our code raised, without the
    ``Error occurred while executing op`` wrappers, on one line. ``error`` is a SerializableErrorInfo.
    For dbt, the errors dbt reported (which model or test, and why), not the command line."""
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None or not error.message.strip():
        return "failed (no message)"
    message = error.message.strip()
    # "package.module.ExtractError: text" -> "ExtractError: text"
    head, sep, tail = message.partition(": ")
    kind = head.rsplit(".", 1)[-1] if sep and "\n" not in head else ""
    body = tail if kind else message
    if _DBT_ERRORS in body:
        exit_code = re.search(r"failed with exit code `?(\d+)`?", body)
        errors = [
            line.strip() for line in body.split(_DBT_ERRORS, 1)[1].splitlines() if line.strip()
        ]
        body = (
            f"dbt exited with code {exit_code.group(1) if exit_code else '?'}: "
            + " | ".join(errors)
            if errors
            else "dbt failed (no error parsed; see the run's dbt log)"
        )
    else:
        body = " | ".join(line.strip() for line in body.splitlines() if line.strip())
    return redact(f"{kind}: {body}" if kind else body)


class _ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", {})
        event = meta.get("dagster_event")
        if event is None:
            # The linkage step's own progress (its phases take minutes at scale; counts only).
            message = str(meta.get("orig_message") or "")
            if record.levelno >= logging.INFO and message.startswith(_PROGRESS_FROM):
                self._print("", meta.get("step_key") or "", message)
            return
        if event.event_type not in _SHOWN:
            return
        label = _SHOWN[event.event_type]
        step = event.step_key or ""
        detail = ""
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            step = f"{data.asset_key.to_user_string()} {data.check_name}"
            detail = (
                "passed"
                if data.passed
                else ("failed (warning)" if data.severity.value == "WARN" else "FAILED")
            )
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            detail = failure_reason(event.event_specific_data.error)[:1000]
        self._print(label, step, detail)

    def _print(self, label: str, step: str, detail: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f}s] {label:<8} {step} {detail}".rstrip(), file=sys.stderr, flush=True)


@logger(description="One line per step start/finish/failure, for terminals.")
def progress_logger(init_context):
    log = logging.Logger("dtsen.progress", logging.DEBUG)  # per run, not in the global registry
    log.addHandler(_ProgressHandler())
    return log
