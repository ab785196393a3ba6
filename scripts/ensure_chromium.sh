#!/usr/bin/env bash
# The browser the console's tests drive: Debian's own chromium (Playwright's
# `playwright install` downloads a browser build, which a closed network does
# not reach) and a CJK font, without which Chinese labels render as boxes.
# Idempotent: installs only what is missing. Needs root (CI runs as root).
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# fc-list lists installed fonts; Noto CJK carries the zh-CN glyphs.
if ! { command -v fc-list >/dev/null && fc-list :lang=zh | grep -qi 'noto.*cjk'; }; then
    missing+=(fonts-noto-cjk)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: need root to apt-get install ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "ensure_chromium: installed ${missing[*]}"
