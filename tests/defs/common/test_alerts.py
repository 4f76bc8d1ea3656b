"""Alerts reach a real webhook (HTTP) and a real mailbox (SMTP) on this machine (issue 32): a run
that fails says its run id, job, month, failed step and reason, without personal data; a late
month is said once; a target that cannot be reached is logged and never fails anything."""

import email
import json
import shutil
import socket
import socketserver
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterEventType,
    DagsterInstance,
    asset,
    build_run_status_sensor_context,
    materialize,
)

from dtsen_pipeline.defs.common import alerts
from dtsen_pipeline.defs.common.monitoring import late_alerts, run_failure_alert
from dtsen_pipeline.defs.common.partitions import monthly_partitions
from dtsen_pipeline.lib import paths

NIK = "3276014512900001"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Enough of SMTP (RFC 5321) for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self):
        def say(line: str) -> None:
            self.wfile.write(f"{line}\r\n".encode())

        say("220 localhost test SMTP")
        data, lines = False, []
        for raw in self.rfile:
            text = raw.decode().rstrip("\r\n")
            if data:
                if text == ".":
                    self.server.messages.append(email.message_from_string("\n".join(lines)))
                    data, lines = False, []
                    say("250 queued")
                else:
                    lines.append(text[1:] if text.startswith("..") else text)
            elif text[:4].upper() in ("EHLO", "HELO"):
                say("250 localhost")
            elif text[:4].upper() == "DATA":
                data = True
                say("354 end with .")
            elif text[:4].upper() == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")


def _serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def sinks(tmp_path, monkeypatch):
    """A webhook and an SMTP server on 127.0.0.1, and a configuration that alerts both."""
    hook = _serve(ThreadingHTTPServer(("127.0.0.1", 0), _Hook))
    hook.posts = []
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    smtp = _serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp))
    smtp.messages = []
    config = tmp_path / "config"
    shutil.copytree(paths.CONFIG_DIR, config)
    text = (config / "alerts.yaml").read_text()
    text = text.replace('  url: ""', f"  url: http://127.0.0.1:{hook.server_port}/hook")
    text = text.replace('smtp_host: ""', "smtp_host: 127.0.0.1")
    text = text.replace("smtp_port: 25", f"smtp_port: {smtp.server_address[1]}")
    text = text.replace("recipients: []", "recipients: [ops@dinsos.example]")
    (config / "alerts.yaml").write_text(text)
    monkeypatch.setenv("DTSEN_CONFIG_DIR", str(config))
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path / "data"))
    yield hook, smtp, config
    hook.shutdown()
    smtp.shutdown()


def _failed_run(instance):
    """A real run of a month that fails in its step, with a NIK in the error (as a careless
    message could have it)."""

    @asset(partitions_def=monthly_partitions, key=["publish", "dtsen_release"])
    def release(context: AssetExecutionContext):
        raise ValueError(
            f"publish {context.partition_key}: the quality gate failed for dtsen_individu "
            f"(row {NIK} refused)"
        )

    result = materialize(
        [release], partition_key="2025-03", instance=instance, raise_on_error=False
    )
    assert not result.success
    [failure] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
    return instance.get_run_by_id(result.run_id), failure.dagster_event


def _alert_the_failure(instance, run, event):
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
    ).for_run_failure()
    run_failure_alert(context)


def test_a_failed_run_is_alerted_to_the_webhook_and_by_mail(sinks):
    hook, smtp, _ = sinks
    with DagsterInstance.ephemeral() as instance:
        run, event = _failed_run(instance)
        _alert_the_failure(instance, run, event)
    [(content_type, posted)] = hook.posts
    assert content_type == "application/json"
    fields = posted["dtsen"]
    assert fields["kind"] == "run_failed" and fields["run_id"] == run.run_id
    assert fields["job"] == run.job_name and fields["partition"] == "2025-03"
    assert fields["step"] == "publish__dtsen_release"
    assert "the quality gate failed for dtsen_individu" in fields["reason"]
    assert posted["text"].startswith(
        f"dtsen: run {run.run_id} of {run.job_name} FAILED for 2025-03"
    )
    [mail] = smtp.messages
    assert mail["To"] == "ops@dinsos.example" and run.run_id in mail["Subject"]
    body = mail.get_payload()
    assert "publish__dtsen_release" in body and "quality gate failed" in body
    for said in (json.dumps(posted), mail.as_string()):
        assert NIK not in said and "<16 digits masked>" in said


def test_an_unreachable_target_is_logged_and_the_other_still_alerted(sinks):
    hook, smtp, config = sinks
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    text = (config / "alerts.yaml").read_text()
    (config / "alerts.yaml").write_text(
        text.replace(f"127.0.0.1:{hook.server_port}", f"127.0.0.1:{closed}")
    )
    alert = alerts.Alert(kind="run_failed", reason="x", run_id="r1", job="monthly_refresh_job")
    lines = alerts.deliver(alert)
    assert (
        lines[0].startswith("webhook: NOT delivered (URLError") and lines[1] == "email: delivered"
    )
    assert not hook.posts and len(smtp.messages) == 1
    with DagsterInstance.ephemeral() as instance:  # the sensor itself does not raise either
        run, event = _failed_run(instance)
        _alert_the_failure(instance, run, event)
    assert len(smtp.messages) == 2


def test_a_late_month_is_alerted_once(sinks):
    hook, smtp, _ = sinks
    said: dict[str, list[str]] = {}
    # The 29th: past both days of the shipped alerts.yaml (20: landed, 28: published).
    late = late_alerts(datetime(2025, 3, 29, 2, tzinfo=UTC), said)
    assert [(a.partition, a.kind) for a in late] == [("2025-03", "month_late")] * 2
    assert "no file has landed for 2025-03 by day 20" in late[0].reason
    assert "2025-03 is not published by day 28" in late[1].reason
    for alert in late:
        assert alerts.deliver(alert) == ["webhook: delivered", "email: delivered"]
    assert [p["dtsen"]["partition"] for _, p in hook.posts] == ["2025-03", "2025-03"]
    assert "2025-03 is late" in smtp.messages[0]["Subject"]
    assert late_alerts(datetime(2025, 3, 30, 2, tzinfo=UTC), said) == []  # said once
    assert late_alerts(datetime(2025, 3, 10, 2, tzinfo=UTC), {}) == []  # not late yet
