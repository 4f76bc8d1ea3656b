"""The report server answers its owner only (issue 31): bound to 127.0.0.1, and a connection made
by another local user is refused, while the owner's plain links (the UI's) keep working."""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request

import pytest

from dtsen_pipeline.lib import reports


@pytest.fixture()
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("DTSEN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DTSEN_REPORTS_DIR", raising=False)
    page = tmp_path / "reports" / "linkage" / "2025-01" / "match_weights.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body>charts: counts only</body></html>", encoding="utf-8")
    httpd = reports.server(0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(reports.PORT_ENV, str(httpd.server_address[1]))
    yield httpd, page
    httpd.shutdown()
    httpd.server_close()


def test_the_server_listens_on_loopback_only(served):
    httpd, _ = served
    assert httpd.server_address[0] == "127.0.0.1"


def test_the_owner_opens_the_ui_s_links(served):
    _, page = served
    with urllib.request.urlopen(reports.url(page), timeout=10) as response:
        assert response.status == 200
        assert b"counts only" in response.read()
    with urllib.request.urlopen(reports.url(anchor="2025-01"), timeout=10) as response:
        assert b"DTSEN reports" in response.read()  # the index, written on the request


def test_another_local_user_is_refused(served):
    """A server owned by another user (as ``make ui`` run by someone else would be): this
    process's connections, whose owner the kernel's socket table names, get 403, page and index."""
    _, page = served
    theirs = reports.server(0, owner_uid=os.getuid() + 1)
    thread = threading.Thread(target=theirs.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{theirs.server_address[1]}"
        for target in (f"{base}/{page.relative_to(page.parents[2]).as_posix()}", f"{base}/"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(target, timeout=10)
            assert refused.value.code == 403
            body = refused.value.read().decode()
            assert "counts only" not in body and "owner" in body
    finally:
        theirs.shutdown()
        theirs.server_close()


def test_a_socket_that_is_not_connected_has_no_owner(served):
    httpd, _ = served
    assert reports.peer_uid(1, httpd.server_address[1]) is None
