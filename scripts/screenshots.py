"""Screenshots of the HTML reports as a reader sees them: headless Chromium at 1280 px wide, offline.

    python scripts/screenshots.py [REPORTS_DIR] [OUT_DIR]      (defaults: reports, /tmp/screenshots)

Needs Chromium (Debian: ``apt-get install chromium``) and Pillow (in the project's venv, through matplotlib).
Each page is drawn into a window of 1280 x ``--height`` px with networking off (a page that needed a CDN would show
it), the blank rows under its end are cut off, and it is saved whole and as tiles of 1280 x 1600 px, so that each
tile can be read at full size. Prints one line per page: its height and its tiles.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TILE = 1600


# headless and offline: a fresh profile each time, no background requests, and a proxy nothing answers, so that a page
# that needed the network would show it
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    sys.exit("no Chromium found: install it (Debian: apt-get install chromium), then run this again")


def chromium(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    """Chromium with :data:`FLAGS` and a fresh profile, run to the end; its stdout as text."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=True)


def shoot(page: Path, out: Path, height: int) -> list[Path]:
    from PIL import Image, ImageChops

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "page.png"
        chromium(f"--window-size=1280,{height}", "--virtual-time-budget=5000", f"--screenshot={raw}",
                 page.resolve().as_uri(), timeout=120)
        image = Image.open(raw).convert("RGB")
    background = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    image = image.crop((0, 0, image.width, min(image.height, (box[3] if box else 0) + 40)))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{page.parent.name}_{page.stem}" if page.parent.name != "reports" else page.stem
    image.save(out / f"{stem}.png")
    tiles = []
    for n, top in enumerate(range(0, image.height, TILE), start=1):
        tile = out / f"{stem}_{n:02d}.png"
        image.crop((0, top, image.width, min(image.height, top + TILE))).save(tile)
        tiles.append(tile)
    print(f"{page}: {image.height} px, {len(tiles)} tiles ({tiles[0].name} ...)")
    return tiles


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="?", default="reports")
    parser.add_argument("out", nargs="?", default="/tmp/screenshots")
    parser.add_argument("--height", type=int, default=16000, help="the window's height: above the longest page")
    args = parser.parse_args(argv)
    reports = Path(args.reports)
    pages = [reports / "index.html", *sorted(reports.glob("*/0*.html"))]
    for page in pages:
        if page.is_file():
            shoot(page, Path(args.out), args.height)


if __name__ == "__main__":
    main()
