"""The HTML of the report: page shell, tables, thumbnails, and the inspection fragments the
benchmark modules ask for. Everything is inline (styles, charts, images as data: URIs, one
small script), so the file opens offline and can be mailed around."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

THUMB_PX = 160
THUMB_QUALITY = 70


class Thumbnails:
    """One small JPEG per image file, made once and embedded once as a CSS class, however many
    questions or sentences show it."""

    def __init__(self, size: int = THUMB_PX) -> None:
        self.size = size
        self._classes: dict[Path, str | None] = {}
        self._rules: list[str] = []

    def __len__(self) -> int:
        return len(self._rules)

    def tag(self, path: Path | None, alt: str) -> str:
        cls = self._class_for(path) if path is not None else None
        if cls is None:
            return f'<div class="thumb missing" role="img" aria-label="{escape(alt)}">no image</div>'
        return f'<div class="thumb {cls}" role="img" aria-label="{escape(alt)}"></div>'

    def _class_for(self, path: Path) -> str | None:
        key = Path(path)
        if key not in self._classes:
            self._classes[key] = self._make(key)
        return self._classes[key]

    def _make(self, path: Path) -> str | None:
        from PIL import Image, UnidentifiedImageError

        from hadpo_cli.data.images import to_rgb

        try:
            with Image.open(path) as im:
                im = to_rgb(im)  # the same pixels the model saw, whatever the file's mode
                im.thumbnail((self.size, self.size))
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=THUMB_QUALITY, optimize=True)
                w, h = im.size
        except (OSError, UnidentifiedImageError):
            return None  # moved or unreadable: the item is still shown, marked "no image"
        cls = f"t{len(self._rules)}"
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self._rules.append(
            f".{cls}{{width:{w}px;height:{h}px;background-image:url(data:image/jpeg;base64,{data})}}"
        )
        return cls

    def css(self) -> str:
        return "\n".join(self._rules)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric_from: int = 1, cls: str = ""
) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def settings_block(title: str, settings: dict[str, Any]) -> str:
    rows = [(escape(str(k)), f"<code>{escape(_short(v))}</code>") for k, v in settings.items()]
    return f"<details><summary>{escape(title)}</summary>{table(('setting', 'value'), rows, numeric_from=99)}</details>"


def _short(value: Any, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# -- inspection fragments (called by the benchmark modules) ---------------------------------------
def pope_wrong_answers(
    result: Any, groups: dict[str, list[dict[str, Any]]], total: int, thumbs: Thumbnails
) -> str:
    wrong = sum(len(g) for g in groups.values())
    parts = [
        f'<p class="muted">{wrong} of {total} questions answered wrong, grouped by the object asked about.</p>'
    ]
    for obj, items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        cards = []
        for item in items:
            said = item["pred"] or "unparseable"
            base = ""
            if item["baseline_right"] is not None:
                base = (
                    '<span class="badge new">baseline was right</span>'
                    if item["baseline_right"]
                    else '<span class="badge old">baseline also wrong</span>'
                )
            cards.append(
                '<div class="card">'
                + thumbs.tag(item["path"], item["image"])
                + f'<div class="q">{escape(item["question"])}</div>'
                + f'<div>label <b>{escape(item["label"])}</b>, said <b class="bad">{escape(said)}</b> {base}</div>'
                + f'<div class="answer" title="{escape(item["answer"])}">{escape(_short(item["answer"], 120))}</div>'
                + f'<div class="muted">#{escape(str(item["question_id"]))} {escape(item["image"])}</div>'
                + "</div>"
            )
        parts.append(
            f'<details class="group" open><summary>{escape(obj)} <span class="muted">({len(items)})</span></summary>'
            f'<div class="cards">{"".join(cards)}</div></details>'
        )
    return "".join(parts)


def shr_sentences(result: Any, paths: dict[str, Path], thumbs: Thumbnails) -> str:
    """Every image's description, sentence by sentence, coloured by the judge's label; a
    checkbox (CSS does the hiding) keeps only the hallucinated sentences."""
    uid = "halonly-" + hashlib.sha1(str(result.source).encode()).hexdigest()[:10]  # stable across runs
    counts = {"hallucination": 0, "correct": 0, "cannot judge": 0, None: 0}
    cards = []
    for rec in result.records:
        items = []
        has_hal = False
        for number, s in enumerate(rec["sentences"], start=1):
            label = s.get("label")
            counts[label if label in counts else None] += 1
            has_hal = has_hal or label == "hallucination"
            css = {"hallucination": "hal", "correct": "ok", "cannot judge": "cj"}.get(label, "nj")
            reason = f'<div class="reason">{escape(str(s["reason"]))}</div>' if s.get("reason") else ""
            items.append(
                # value=: the filter hides sentences, the numbers must stay those of the description
                f'<li class="sent {css}" value="{number}"><span class="badge {css}">{escape(label or "not judged")}</span> '
                f"{escape(s['sentence'])}{reason}</li>"
            )
        image_id = str(rec["image_id"])
        cards.append(
            f'<div class="shr-image{" has-hal" if has_hal else ""}">'
            + thumbs.tag(paths.get(image_id), f"image {image_id}")
            + f'<div><div class="muted">image {escape(image_id)}</div><ol>{"".join(items)}</ol></div></div>'
        )
    total = sum(counts.values())
    summary = ", ".join(f"{n} {escape(str(k or 'not judged'))}" for k, n in counts.items() if n)
    return (
        f'<div class="shr"><input type="checkbox" class="halonly" id="{uid}">'
        f'<label for="{uid}">hallucinated sentences only</label> '
        f'<span class="shown muted">{total} of {total} sentences shown</span>'
        f'<p class="muted">{len(result.records)} images: {summary}.</p>'
        f'<div class="shr-images">{"".join(cards)}</div></div>'
    )


# -- the page -------------------------------------------------------------------------------------
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;background:#fafbfc}
header{background:#1d2430;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header nav a{color:#cfe3ff;margin-right:16px;text-decoration:none}
main{padding:8px 24px 40px;max-width:1200px}
section{margin-top:22px}h2{border-bottom:2px solid #dde3ea;padding-bottom:4px}h3{margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e3e8ee;padding:3px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef2f6}.muted{color:#6b7785}.yes{color:#0a7d32;font-weight:600}.bad{color:#b3261e}
code{font-size:12px}svg{max-width:100%;height:auto}details{margin:6px 0}summary{cursor:pointer;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{width:200px;background:#fff;border:1px solid #e3e8ee;border-radius:6px;padding:6px;font-size:12px}
.thumb{background-size:contain;background-repeat:no-repeat;margin-bottom:4px;max-width:100%}
.thumb.missing{width:160px;height:40px;background:#eef2f6;color:#6b7785;text-align:center;line-height:40px}
.q{font-weight:600}.answer{color:#3a4654;overflow-wrap:anywhere}
.badge{display:inline-block;border-radius:3px;padding:0 5px;font-size:11px;background:#eef2f6}
.badge.hal{background:#fbe0de;color:#8c1d18}.badge.ok{background:#dcf3e4;color:#0a5d27}.badge.cj{background:#fff1cc;color:#6b5200}
.badge.new{background:#fbe0de;color:#8c1d18}.badge.old{background:#eef2f6}
.shr-image{display:flex;gap:12px;background:#fff;border:1px solid #e3e8ee;border-radius:6px;padding:8px;margin:8px 0}
.shr-image ol{margin:4px 0;padding-left:20px}.sent{margin:2px 0}.sent.hal{background:#fff5f4}
.reason{color:#6b7785;font-size:12px;margin-left:4px}
.halonly:checked~.shr-images .sent:not(.hal){display:none}
.halonly:checked~.shr-images .shr-image:not(.has-hal){display:none}
"""

# Counts the sentences left visible (the browser's layout, so the count and the filter agree)
# and lets a link end in #hallucinated to open with the filter on.
SCRIPT = """
document.querySelectorAll('.shr').forEach(function (sec) {
  var box = sec.querySelector('.halonly'), out = sec.querySelector('.shown');
  function count() {
    var all = sec.querySelectorAll('.sent'), n = 0;
    all.forEach(function (s) { if (s.getClientRects().length) { n++; } });
    out.textContent = n + ' of ' + all.length + ' sentences shown';
  }
  if (location.hash === '#hallucinated') { box.checked = true; }
  box.addEventListener('change', count);
  count();
});
"""


def page(title: str, nav: Sequence[tuple[str, str]], sections: Sequence[str], thumbs: Thumbnails) -> str:
    links = "".join(f'<a href="#{escape(a)}">{escape(t)}</a>' for a, t in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}\n{thumbs.css()}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><nav>{links}</nav></header><main>{''.join(sections)}</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
