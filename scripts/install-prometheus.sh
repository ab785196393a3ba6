#!/usr/bin/env bash
# Installs Debian's `prometheus` package (it brings /usr/bin/prometheus and
# /usr/bin/promtool) when either is missing. Used by .ci/run and by the
# Prometheus test fixture. It always refreshes the package lists first, so it
# never depends on an apt cache being present or current.
set -euo pipefail

if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing: prometheus and promtool (Debian's 'prometheus' package; run this as root)" >&2
  exit 1
fi

# The package's maintainer scripts would start a system Prometheus on :9090;
# the tests start their own. policy-rc.d is Debian's switch for "do not start
# services during install"; put one in only for this install if none exists.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
cleanup() { if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
prometheus --version 2>&1 | head -1
