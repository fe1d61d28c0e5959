"""Every table's rendered width on every report page, measured in headless Chromium at 1280 px: none may be wider
than its page. Also counts the printed streams (nbconvert's stream output, a ``<pre>`` block) on each page.

    python scripts/table_widths.py reports/ci [MORE_FOLDERS...] [--index reports/index.html] [--width 1280]

For each page (an experiment folder's ``0*.html``, and ``--index``) a copy with a small measuring script is opened in
Chromium (offline, ``--dump-dom``); the script writes, for every ``<table>``, its id, its first column headings, its
width and the width its page gives it (the content column's, and never more than the window's). One line per table,
then a summary; exits 1 when a table is wider than its page or a page shows a printed stream. Needs Chromium (Debian:
``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
from pathlib import Path

from screenshots import chromium  # scripts/: the same headless, offline Chromium

MEASURE = """<script>
window.addEventListener("load", function () {
  var view = document.documentElement.clientWidth, out = [];
  document.querySelectorAll("table").forEach(function (table, n) {
    var box = table.getBoundingClientRect(), holder = table.parentElement;
    while (holder && holder.clientWidth === 0) { holder = holder.parentElement; }
    var room = Math.min(view, holder ? holder.getBoundingClientRect().right : view) - Math.max(0, box.left);
    var heads = Array.from(table.querySelectorAll("th")).slice(0, 3).map(function (h) { return h.textContent.trim(); });
    out.push({n: n, id: table.id || "", heads: heads, width: Math.round(box.width), room: Math.round(room),
              right: Math.round(box.right), view: view});
  });
  var pre = document.createElement("pre");
  pre.id = "arerec-widths";
  pre.textContent = JSON.stringify({tables: out, scroll: document.documentElement.scrollWidth, view: view});
  document.body.appendChild(pre);
});
</script>"""
# nbconvert writes a printed stream (stdout, stderr) as a <pre> in a jp-RenderedText output whose data-mime-type is
# text/plain or application/vnd.jupyter.stderr (a plain-text result, the same class with jp-OutputArea-executeResult)
STREAM = re.compile(r'<div class="jp-RenderedText jp-OutputArea-output[^"]*" data-mime-type="(text/plain|'
                    r'application/vnd\.jupyter\.(stdout|stderr))"')


def measure(page: Path, width: int) -> dict:
    """The widths on ``page`` (see the module docstring), from a measuring copy beside it (its links still work)."""
    text = page.read_text()
    marked = text.replace("</body>", MEASURE + "</body>") if "</body>" in text else text + MEASURE
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=page.parent, delete=False) as copy:
        copy.write(marked)
    try:
        done = chromium(f"--window-size={width},2000", "--virtual-time-budget=10000", "--dump-dom",
                        Path(copy.name).resolve().as_uri())
    finally:
        Path(copy.name).unlink()
    found = re.search(r'<pre id="arerec-widths">(.*?)</pre>', done.stdout, flags=re.S)
    if not found:
        raise RuntimeError(f"{page}: the measuring script wrote nothing")
    return json.loads(html.unescape(found.group(1)))


def check(pages: list[Path], width: int) -> int:
    """Print every table's width and each page's streams; the number of problems found."""
    problems = 0
    for page in pages:
        streams = len(STREAM.findall(page.read_text()))
        result = measure(page, width)
        print(f"{page}: {len(result['tables'])} tables, document {result['scroll']} px in a {result['view']} px "
              f"window, {streams} printed streams")
        for table in result["tables"]:
            fits = table["width"] <= table["room"] and table["right"] <= table["view"]
            problems += not fits
            heads = " | ".join(table["heads"])[:60]
            print(f"  {'ok  ' if fits else 'WIDE'} {table['width']:5d} of {table['room']:5d} px  "
                  f"{table['id'] or '#' + str(table['n'])}  [{heads}]")
        problems += streams + (result["scroll"] > result["view"])
    print(f"{len(pages)} pages, {problems} problems")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="experiment folders (reports/ci, reports/base, ...)")
    parser.add_argument("--index", type=Path, action="append", default=[], help="an index page to measure too")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    pages = [*args.index, *(p for folder in args.folders for p in sorted(folder.glob("0*.html")))]
    if not pages:
        parser.error("no pages: name an experiment folder or --index")
    return 1 if check(pages, args.width) else 0


if __name__ == "__main__":
    sys.exit(main())
