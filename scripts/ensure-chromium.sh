#!/usr/bin/env bash
# Make sure Debian's chromium is present for the browser tests (never `playwright install`).
# Installs it with apt-get when missing and we are root; otherwise says loudly that
# the browser tests will be skipped.
set -u
CHROMIUM=${ALLIANCE_QA_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing Debian's chromium with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) >/tmp/ensure-chromium.log 2>&1; then
    [ -x "$CHROMIUM" ] && exit 0
  fi
  echo "ensure-chromium: WARNING: apt-get could not install chromium (see /tmp/ensure-chromium.log)" >&2
else
  echo "ensure-chromium: WARNING: $CHROMIUM is missing and this user cannot apt-get install it" >&2
fi
echo "ensure-chromium: WARNING: the browser tests will be SKIPPED" >&2
exit 0
