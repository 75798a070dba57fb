#!/usr/bin/env bash
# scripts/report_screenshots.sh REPORT.html OUTDIR: one small PNG per section of a hadpo report,
# taken in headless chromium (the other sections hidden), as docs/img/ holds them.
# Made from the demo:  hadpo demo --workdir hd && bash scripts/report_screenshots.sh hd/report.html docs/img
set -euo pipefail
report="$1"
out="$2"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
shoot() {  # name, extra CSS, window height, URL fragment
    sed "s|</style>|$2</style>|" "$report" >"$tmp/$1.html"
    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$tmp/profile-$1" --hide-scrollbars --window-size="1000,$3" \
        --screenshot="$out/report-$1.png" "file://$tmp/$1.html$4" >/dev/null 2>&1
}
shoot training "section:not(#training){display:none}" 820 ""
shoot evaluation "section:not(#evaluation){display:none}" 620 ""
shoot compare "section:not(#compare){display:none}" 720 ""
shoot inspection-pope "section:not(#inspection){display:none}.inspect:not([data-benchmark=pope]){display:none}" 760 ""
shoot inspection-shr "section:not(#inspection){display:none}.inspect:not([data-benchmark=shr]){display:none}" 640 "#hallucinated"
# A 64-colour palette keeps each screenshot small enough to commit.
python - "$out" <<'PY'
import sys
from pathlib import Path

from PIL import Image

for png in Path(sys.argv[1]).glob("report-*.png"):
    Image.open(png).convert("RGB").quantize(colors=64).save(png, optimize=True)
PY
ls -l "$out"/report-*.png
