"""The reports people open from the Dagster UI: GX Data Docs pages and Splink charts under
``data/reports/``, an index of them, and a small HTTP server for them.

Dagster can only copy a file path (``MetadataValue.path``), and a browser will not open a
``file://`` link from a web page, so the reports are served over HTTP on 127.0.0.1 (``make ui``
starts ``python -m dtsen_pipeline.lib.reports`` beside ``dagster dev``) and linked with
``MetadataValue.url``. The port is ``DTSEN_REPORTS_PORT`` (default 3001). The server answers only
the user it runs as (see ``peer_uid``): the reports folder is owner-only, and so is its server.

Every report renders with no network: Splink's charts are saved with Vega inlined
(linkage/explanations.py), and GX Data Docs pages, whose templates load Bootstrap, jQuery, Vega and fonts
from CDNs, are rewritten here to load nothing from outside (a small stylesheet stands in for
Bootstrap). GX's own index is filled by JavaScript from a CDN, so it is replaced by a pointer to
``data/reports/index.html``, which lists every month's suites and charts in plain HTML, and each
release's documentation site (``docs/<release>/index.html``, dbt's static page with everything
inlined: dtsen_pipeline/publish/docs_site.py).
Reports hold counts only (see quality/validate.py), never a NIK or a name.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from dtsen_pipeline.lib import paths

HOST = "127.0.0.1"
PORT_ENV = "DTSEN_REPORTS_PORT"
DEFAULT_PORT = 3001
INDEX = "index.html"


def port() -> int:
    value = os.environ.get(PORT_ENV, "").strip()
    if not value:
        return DEFAULT_PORT
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{PORT_ENV}={value!r} is not a TCP port (1-65535)")
    return int(value)


def url(path: Path | str | None = None, *, anchor: str | None = None) -> str:
    """The address of ``path`` (a file under data/reports/; the index when None) on the report server."""
    root = paths.reports_dir().resolve()
    target = Path(path).resolve() if path is not None else root / INDEX
    if not target.is_relative_to(root):
        raise ValueError(f"{target} is not under the reports folder {root}")
    return f"http://{HOST}:{port()}/{quote(target.relative_to(root).as_posix())}" + (
        f"#{anchor}" if anchor else ""
    )


# --- GX Data Docs without a network ------------------------------------------------------------

_EXTERNAL = [
    # Scripts: those from CDNs, and the inline ones, which all call jQuery (gone with the CDNs). The
    # validation pages of our expectations draw no Vega graph, so nothing shown is lost.
    re.compile(r"<script\b[^>]*>.*?</script>", re.I | re.S),
    re.compile(r"<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>", re.I),  # CDN stylesheets and fonts
    re.compile(
        r"<img\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>", re.I
    ),  # remote logos (carrying an id)
]
_MARK = "<!-- dtsen: offline -->"
OFFLINE_CSS = """
body { font-family: system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1f2933; }
/* Bootstrap would hide these; the sidebar (.sticky: a filter needing jQuery,
   a table of contents) and the newsletter footer go too. */
.modal, .ge-walkthrough-modal, nav, .navbar, .d-none, .popover, .sticky, footer { display: none !important; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #cbd2d9; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f4f8; }
.alert, .card { border: 1px solid #cbd2d9; border-radius: 4px; padding: .5rem 1rem; margin: .5rem 0; }
.text-danger, .alert-danger { color: #ab091e; } .text-success { color: #0e7c4a; }
ul { padding-left: 1.2rem; } h1, h2, h3, h4, h5 { margin: 1rem 0 .5rem; }
/* GX's status icons come from Font Awesome (a CDN font): the same marks as text. */
.fa-check-circle::before { content: "\\2714"; color: #0e7c4a; }
.fa-times::before { content: "\\2718"; color: #ab091e; font-weight: bold; }
.fa-exclamation-triangle::before { content: "\\26A0"; } .fa-question-circle::before { content: "?"; }
.fa-comment::before { content: "\\201D"; } i.fas { font-style: normal; white-space: nowrap; }
"""


def make_offline(page: str) -> str:
    """``page`` (a GX Data Docs page) loading nothing from outside, with a local stylesheet."""
    if _MARK in page:
        return page
    for pattern in _EXTERNAL:
        page = pattern.sub("", page)
    return page.replace("</head>", f"{_MARK}<style>{OFFLINE_CSS}</style></head>", 1)


def make_offline_file(path: Path) -> None:
    path.write_text(make_offline(path.read_text(encoding="utf-8")), encoding="utf-8")


def replace_gx_index(site: Path) -> None:
    """GX's index lists its pages with JavaScript from CDNs (empty offline): point at ours instead."""
    index = site / INDEX
    target = html.escape(os.path.relpath(paths.reports_dir() / INDEX, site))
    index.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url='
        f'{target}"><title>Data Docs</title></head><body><p>The quality reports are listed in '
        f'<a href="{target}">the reports index</a>.</p></body></html>',
        encoding="utf-8",
    )


# --- The index ---------------------------------------------------------------------------------


_RELEASE = re.compile(r"(\d{4}-\d{2})(?:\.r(\d+))?")


def docs_sites() -> list[tuple[str, Path]]:
    """Each release's documentation site (``docs/<release>/index.html``) as (release, page), oldest
    release first."""
    root = paths.reports_dir() / "docs"
    found = []
    for page in root.glob("*/index.html") if root.is_dir() else []:
        m = _RELEASE.fullmatch(page.parent.name)
        if m:
            found.append(((m.group(1), int(m.group(2) or 1)), page.parent.name, page))
    return [(name, page) for _, name, page in sorted(found)]


def _months() -> list[str]:
    found = {name[:7] for name, _ in docs_sites()}
    for folder in (paths.quality_results_dir(), paths.linkage_reports_dir()):
        if folder.is_dir():
            found |= {
                p.name
                for p in folder.iterdir()
                if p.is_dir() and re.fullmatch(r"\d{4}-\d{2}", p.name)
            }
    return sorted(found, reverse=True)


def _link(target: Path, text: str) -> str:
    href = quote(os.path.relpath(target, paths.reports_dir()).replace(os.sep, "/"))
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def render_index() -> str:
    """Every month's quality suites (result, rows, Data Docs page) and linkage charts, newest month
    first, in plain HTML: no script and no stylesheet to fetch."""
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>DTSEN reports</title>',
        f"<style>{OFFLINE_CSS}</style></head><body><h1>DTSEN reports</h1>",
    ]
    sites = docs_sites()
    if sites:
        name, page = sites[-1]
        parts.append(
            f"<p>What a release holds, table by table and column by column: "
            f"{_link(page, f'release {name} documentation (dbt docs)')}.</p>"
        )
    months = _months()
    if not months:
        parts.append(
            "<p>No reports yet: run a month (<code>dtsen run --month YYYY-MM</code> or the Dagster UI).</p>"
        )
    for month in months:
        parts.append(f'<h2 id="{month}">{month}</h2>')
        results = sorted((paths.quality_results_dir() / month).glob("*.json"))
        if results:
            parts.append(
                "<h3>Quality (Great Expectations)</h3><table><tr><th>suite</th><th>passed</th>"
                "<th>rows</th><th>failed expectations</th><th>Data Docs</th></tr>"
            )
            for p in results:
                r = json.loads(p.read_text(encoding="utf-8"))
                page = Path(r["data_docs"]) if r.get("data_docs") else None
                docs = _link(page, "page") if page and page.is_file() else ""
                failed = html.escape(", ".join(r["failed"]))
                parts.append(
                    f"<tr><td>{html.escape(p.stem)}</td><td>{'yes' if r['success'] else '<b>no</b>'}</td>"
                    f"<td>{r['rows']:,}</td><td>{failed}</td><td>{docs}</td></tr>"
                )
            parts.append("</table>")
        released = [(name, page) for name, page in sites if name[:7] == month]
        if released:
            parts.append(
                "<h3>Release documentation (dbt docs)</h3><ul>"
                + "".join(f"<li>{_link(page, f'release {name}')}</li>" for name, page in released)
                + "</ul>"
            )
        charts = sorted((paths.linkage_reports_dir() / month).glob("*.html"))
        if charts:
            parts.append(
                "<h3>Linkage (Splink)</h3><ul>"
                + "".join(f"<li>{_link(c, c.stem.replace('_', ' '))}</li>" for c in charts)
                + "</ul>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_index() -> Path:
    """Write data/reports/index.html (atomically: a check of another step may write it too)."""
    root = paths.reports_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{INDEX}.{os.getpid()}"
    tmp.write_text(render_index(), encoding="utf-8")
    os.replace(tmp, root / INDEX)
    return root / INDEX


# --- The server --------------------------------------------------------------------------------


# Access rule: the reports folder is its owner's (0700), so the server answers only connections
# made by the user it runs as (the folder's owner: ``make ui`` runs as them). Over TCP on
# 127.0.0.1 any local user could connect; Linux names the user of each socket in /proc/net/tcp,
# so the peer's socket is looked up there and a connection of another user is refused (403). Where
# the user cannot be known the connection is refused too. Links stay plain URLs (no token to leak
# into the Dagster UI's metadata or a browser history).
_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_ESTABLISHED = "01"


def peer_uid(peer_port: int, server_port: int) -> int | None:
    """The user id owning the local client socket connected from ``peer_port`` to this server's
    ``server_port``, from the kernel's socket tables; None when it is not found."""
    for table in _TCP_TABLES:
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[3] != _ESTABLISHED:
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == peer_port and remote_port == server_port:
                return int(fields[7])
    return None


class _Handler(SimpleHTTPRequestHandler):
    def _owner_only(self) -> bool:
        """True when the connection is the server's own user's; else answered 403, False."""
        uid = peer_uid(self.client_address[1], self.server.server_address[1])
        if uid == self.server.owner_uid:
            return True
        self.send_error(
            403,
            "The reports are their owner's only",
            "This server answers only the user it runs as (the owner of the reports folder); "
            "open the link as that user",
        )
        return False

    def do_GET(self):  # noqa: N802 (http.server's name)
        if not self._owner_only():
            return
        if self.path.split("?", 1)[0] in ("/", f"/{INDEX}"):
            write_index()  # always the reports as they are now, also those of runs before this server
        super().do_GET()

    def do_HEAD(self):  # noqa: N802 (http.server's name)
        if self._owner_only():
            super().do_HEAD()

    def log_message(self, format, *args):  # noqa: A002 (http.server's name): quiet beside dagster dev
        pass


def server(port_number: int | None = None, owner_uid: int | None = None) -> ThreadingHTTPServer:
    """A server of data/reports/ on 127.0.0.1 (never another interface: the reports describe
    identified data) to one user only (``_Handler._owner_only``): ``owner_uid``, by default the
    user it runs as. Not yet serving: call ``serve_forever`` (or run it in a thread)."""
    root = paths.reports_dir()
    paths.make_private(root)
    httpd = ThreadingHTTPServer(
        (HOST, port() if port_number is None else port_number),
        partial(_Handler, directory=str(root)),
    )
    httpd.owner_uid = os.getuid() if owner_uid is None else owner_uid
    return httpd


def main() -> int:
    # Stop on SIGTERM (make ui's trap, a test's teardown) even when started by a process that
    # ignores it: an ignored signal is inherited, and such a server was found still running hours
    # after its test had ended.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        httpd = server()
    except OSError as exc:
        print(
            f"reports: cannot listen on {HOST}:{port()} ({exc.strerror}); set {PORT_ENV} to a free port",
            file=sys.stderr,
        )
        return 1
    write_index()
    print(f"reports: serving {paths.reports_dir()} at {url()}", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
