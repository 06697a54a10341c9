"""Open reports/report.html in headless Chromium, check that every figure renders, save a screenshot.

    python tools/screenshot_report.py [--html reports/report.html] [--out reports/report_screenshot.png]

Three checks, each a failure on its own (exit status 1, one line per problem):
1. every <img> is a data URI whose bytes decode as an image (Pillow), so the file is self-contained;
2. in Chromium, after the page has loaded, every <img> is complete with a natural width > 0 (a
   copy of the page with a small script reports this through --dump-dom);
3. a screenshot of the whole page (window 1280 px wide, as tall as the page) is written.
Needs Chromium (Debian: `apt-get install chromium`). Exit status 2 when no browser is found.
"""

import argparse
import base64
import html.parser
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage"]
# Runs in the browser after load: how many images decoded, which did not, and the page height.
PROBE = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60));
  const result = {total: imgs.length, broken: broken, height: document.documentElement.scrollHeight};
  document.body.setAttribute("data-probe", JSON.stringify(result));
});
</script>"""


class Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))


def check_data_uris(page: str) -> tuple[int, list[str]]:
    """(number of images, problems): each src must be a data URI of an image Pillow can decode."""
    from PIL import Image

    parser = Images()
    parser.feed(page)
    problems = []
    for img in parser.images:
        src, alt = img.get("src", ""), img.get("alt", "?")
        match = re.match(r"data:image/[\w+.-]+;base64,(.*)", src, re.S)
        if not match:
            problems.append(f"image '{alt}' is not embedded (src {src[:60]!r})")
            continue
        try:
            Image.open(io.BytesIO(base64.b64decode(match.group(1), validate=True))).verify()
        except Exception as e:  # noqa: BLE001 - any decoding failure is a broken figure
            problems.append(f"image '{alt}' does not decode: {e}")
    return len(parser.images), problems


def browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    print(
        f"error: no headless browser found (tried {', '.join(BROWSERS)}); on Debian: apt-get install chromium",
        file=sys.stderr,
    )
    sys.exit(2)


def probe(exe: str, page: str) -> dict:
    """Load a copy of the page with PROBE in Chromium; return what PROBE found."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "probe.html"
        copy.write_text(page.replace("</body>", PROBE + "</body>", 1))
        dom = subprocess.run(
            [exe, *FLAGS, "--virtual-time-budget=20000", "--dump-dom", copy.as_uri()],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    match = re.search(r'data-probe="([^"]*)"', dom)
    if not match:
        raise SystemExit("error: the page's load event never ran in Chromium (no probe result in the DOM)")
    return json.loads(html.unescape(match.group(1)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--html", default="reports/report.html")
    parser.add_argument("--out", default="reports/report_screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--max-height", type=int, default=32000, help="cap on the screenshot's height (px)")
    args = parser.parse_args(argv)
    path = Path(args.html)
    if not path.exists():
        print(f"error: {path} not found; build it with `dvc repro report`", file=sys.stderr)
        return 2
    page = path.read_text()
    total, problems = check_data_uris(page)
    exe = browser()
    found = probe(exe, page)
    if found["total"] != total:
        problems.append(f"Chromium saw {found['total']} images, the file has {total}")
    problems += [f"image '{alt}' did not render in Chromium" for alt in found["broken"]]
    height = min(found["height"], args.max_height)
    out = Path(args.out).resolve()
    subprocess.run(
        [
            exe,
            *FLAGS,
            f"--screenshot={out}",
            f"--window-size={args.width},{height}",
            "--virtual-time-budget=20000",
            path.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    if not out.exists():
        problems.append(f"Chromium wrote no screenshot to {out}")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    print(
        f"{path}: {total} images embedded, {total - len(found['broken'])} rendered in Chromium; page height "
        f"{found['height']} px; screenshot {args.width}x{height} -> {args.out}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
