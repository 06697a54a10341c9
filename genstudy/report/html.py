"""The report as one self-contained HTML page: figures embedded as data URIs."""

import base64
import html
import re
from pathlib import Path

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; line-height: 1.45; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
code, pre { background: #f6f6f6; font-size: 0.9em; }
pre { padding: 0.8em; overflow-x: auto; }
blockquote { border-left: 4px solid #d9534f; margin: 1em 0; padding: 0.2em 1em; background: #fdf3f2; }
"""

_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")([^"]+)(")')


def embed_images(body: str, base: Path) -> tuple[str, list[str]]:
    """Replace every <img src="relative.png"> by a data URI of the file; return (html, embedded paths).

    A missing image file raises: the report must never show a broken figure."""
    embedded = []

    def data_uri(match):
        src = html.unescape(match.group(2))
        if src.startswith("data:"):
            return match.group(0)
        path = base / src
        if not path.is_file():
            raise FileNotFoundError(f"the report references {path}, which does not exist")
        mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(
            path.suffix.lower(), "application/octet-stream"
        )
        embedded.append(src)
        return f"{match.group(1)}data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}{match.group(3)}"

    return _IMG_SRC.sub(data_uri, body), embedded


def to_html(md: str, base: Path, title: str) -> tuple[str, list[str]]:
    """A self-contained HTML page from the report's markdown: figures (relative to `base`) embedded."""
    import markdown

    body = markdown.markdown(md, extensions=["tables", "fenced_code", "toc"])
    body, embedded = embed_images(body, base)
    page = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    return page, embedded
