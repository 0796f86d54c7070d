#!/usr/bin/env bash
# Installs Debian's chromium when missing: the Studio's browser tests (tests/ui) drive it through
# Playwright's executable_path (no browser download, which fails on a closed network). Needs root
# (or passwordless sudo); without it, prints what is missing and carries on (those tests then fail
# saying chromium is missing).
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "ensure-chromium: not root; install Debian's chromium (apt-get install chromium) for tests/ui" >&2; exit 0
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq >/dev/null 2>&1; $SUDO apt-get install -y -qq chromium >/dev/null 2>&1; } \
    || echo "ensure-chromium: apt-get install chromium failed" >&2
else
  echo "ensure-chromium: no apt-get; install chromium at /usr/bin/chromium by hand" >&2
fi
exit 0
