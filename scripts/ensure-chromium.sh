#!/usr/bin/env bash
# Make sure Debian's chromium is present for the browser tests (never `playwright install`).
# Installs it with apt-get when missing and we are root. If it still cannot be had, this fails
# (so `make test` never passes with the browser tests silently skipped), unless
# ALLIANCE_QA_ALLOW_NO_BROWSER=1 says skipping them is intended.
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
if [ "${ALLIANCE_QA_ALLOW_NO_BROWSER:-0}" = "1" ]; then
  echo "ensure-chromium: WARNING: the browser tests will be SKIPPED (ALLIANCE_QA_ALLOW_NO_BROWSER=1)" >&2
  exit 0
fi
echo "ensure-chromium: error: no chromium at $CHROMIUM; install Debian's chromium, or set ALLIANCE_QA_ALLOW_NO_BROWSER=1 to skip the browser tests" >&2
exit 1
