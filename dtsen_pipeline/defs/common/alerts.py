"""Alerts: what a failed run or a late month says, and where it goes (config/alerts.yaml): a
webhook (HTTP POST of JSON, Slack-compatible) and e-mail over SMTP.

An alert carries the run id, the job, the month, the failed step and a reason, never personal
data: the reason is an error message of the pipeline (which names files, columns and counts, not
values), cut short, and any run of 16 digits (a NIK's shape) in it is masked. A delivery that
fails is returned as a line for the caller to log; it never raises.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from dtsen_pipeline.lib import paths
from dtsen_pipeline.lib.settings import Settings, Text, no_repeats, read_yaml, validate

REASON_LIMIT = 600
_NIK_LIKE = re.compile(r"(?<!\d)\d{16}(?!\d)")


def _url(value: str) -> str:
    if value and not re.match(r"https?://", value):
        raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
    return value


def _env_name(value: str) -> str:
    if value and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", value):
        raise ValueError(f"must name an environment variable (A-Z, 0-9, _), not {value!r}")
    return value


Day = Annotated[int, Field(ge=1, le=28)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class _Late(Settings):
    landed_by_day: Day
    published_by_day: Day


class _Webhook(Settings):
    url: Annotated[str, AfterValidator(_url)] = ""
    url_env: EnvName = ""
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10


class _Email(Settings):
    smtp_host: str = ""
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    starttls: bool = False
    username: str = ""
    password_env: EnvName = ""
    sender: Text = "dtsen@localhost"
    recipients: Annotated[list[Text], AfterValidator(no_repeats)] = []


class AlertSettings(Settings):
    late: _Late
    webhook: _Webhook
    email: _Email

    def webhook_url(self) -> str:
        return self.webhook.url or os.environ.get(self.webhook.url_env or "-", "")

    def targets(self) -> list[str]:
        """The targets in force: ``webhook``, ``email``."""
        out = ["webhook"] if self.webhook_url() else []
        return out + (["email"] if self.email.smtp_host and self.email.recipients else [])


def _problems(raw: object) -> list[tuple[str, str]]:
    email = raw.get("email") if isinstance(raw, dict) else None
    if isinstance(email, dict) and email.get("smtp_host") and not email.get("recipients"):
        return [("email.recipients", "smtp_host is set but nobody is listed to receive alerts")]
    return []


def load_alerts(config_dir: Path) -> AlertSettings:
    """``config_dir``/alerts.yaml, every problem listed with its field."""
    path = config_dir / "alerts.yaml"
    raw = read_yaml(path)
    return validate(AlertSettings, raw, path, problems=_problems(raw))


def settings() -> AlertSettings:
    """The alert settings in force, read at each alert (an edit applies at the next one)."""
    return load_alerts(paths.config_dir())


def masked(text: str) -> str:
    """``text`` as an alert may carry it: NIK-shaped numbers masked, at most REASON_LIMIT long."""
    text = _NIK_LIKE.sub("<16 digits masked>", " ".join(str(text).split()))
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Alert:
    kind: str  # run_failed | month_late
    reason: str
    run_id: str = ""
    job: str = ""
    partition: str = ""
    step: str = ""

    def fields(self) -> dict[str, str]:
        return {k: masked(v) for k, v in asdict(self).items()}

    def text(self) -> str:
        f = self.fields()
        if self.kind == "run_failed":
            head = f"dtsen: run {f['run_id']} of {f['job']} FAILED"
            head += f" for {f['partition']}" if f["partition"] else ""
            head += f" at step {f['step']}" if f["step"] else ""
            return f"{head}: {f['reason']}"
        return f"dtsen: {f['partition']} is late: {f['reason']}"


def _post(url: str, alert: Alert, timeout: float) -> None:
    body = json.dumps({"text": alert.text(), "dtsen": alert.fields()}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only)
        response.read()


def _mail(config: _Email, alert: Alert, timeout: float) -> None:
    message = EmailMessage()
    message["Subject"] = alert.text()[:150]
    message["From"] = config.sender
    message["To"] = ", ".join(config.recipients)
    message.set_content(alert.text() + "\n\n" + json.dumps(alert.fields(), indent=2) + "\n")
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.username:
            smtp.login(config.username, os.environ.get(config.password_env or "-", ""))
        smtp.send_message(message)


def deliver(alert: Alert, config: AlertSettings | None = None) -> list[str]:
    """Send ``alert`` to every target in force; one line per target saying how it went (a failure
    is a line too, never an exception: an alert must not fail what it reports on)."""
    try:
        config = config or settings()
    except Exception as exc:  # a broken alerts.yaml: said, not raised
        return [f"alerts.yaml could not be read: {masked(exc)}"]
    timeout = config.webhook.timeout_seconds
    senders = {
        "webhook": lambda: _post(config.webhook_url(), alert, timeout),
        "email": lambda: _mail(config.email, alert, timeout),
    }
    lines = []
    for target in config.targets():
        try:
            senders[target]()
            lines.append(f"{target}: delivered")
        except Exception as exc:
            lines.append(f"{target}: NOT delivered ({type(exc).__name__}: {masked(exc)})")
    return lines or ["no alert target configured (config/alerts.yaml)"]
