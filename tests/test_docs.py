"""The README stays a ten-minute read, and the documentation's links hold (issue 33).

- README.md is at most ``MAX_README_LINES`` lines: what does not fit goes to a deep dive in docs/;
- every relative Markdown link (and image) in README.md and docs/*.md points at a file that exists
  (anchors are not checked);
- the README links every page of docs/, and each deep dive opens with a one-paragraph summary.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 300
DEEP_DIVES = (
    "analysts.md",
    "benchmarks.md",
    "configuration.md",
    "correction-loop.md",
    "design-notes.md",
    "development.md",
    "linkage.md",
    "operations.md",
    "quality-gate.md",
    "spark.md",
    "synthetic-world.md",
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks or inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _relative_links(page: Path) -> list[str]:
    targets = LINK.findall(_prose(page.read_text(encoding="utf-8")))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def test_the_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move the detail to a page of docs/"
    )


def test_every_relative_link_points_at_a_file_that_exists():
    broken = []
    for page in _pages():
        for target in _relative_links(page):
            path = target.split("#", 1)[0].split("?", 1)[0]
            if path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, f"links to files that do not exist: {broken}"


def test_the_readme_links_every_page_of_docs():
    linked = {
        (ROOT / target.split("#", 1)[0]).resolve()
        for target in _relative_links(README)
        if not target.startswith("#")
    }
    pages = {p.resolve() for p in DOCS.glob("*.md")} | {
        (DOCS / name).resolve() for name in DEEP_DIVES
    }
    unlinked = sorted(str(p.relative_to(ROOT)) for p in pages - linked)
    assert not unlinked, f"pages of docs/ the README does not link: {unlinked}"


def test_each_deep_dive_opens_with_a_summary():
    for name in DEEP_DIVES:
        blocks = [
            b.strip() for b in (DOCS / name).read_text(encoding="utf-8").split("\n\n") if b.strip()
        ]
        assert blocks[0].startswith("# ") and "\n" not in blocks[0], f"docs/{name}: a title first"
        summary = blocks[1]
        assert not summary.startswith(("#", "-", "|", "```", "!")), (
            f"docs/{name}: a summary paragraph next"
        )
        assert len(summary.split()) >= 30, f"docs/{name}: the summary is a paragraph, not a line"
