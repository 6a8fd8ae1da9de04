#!/usr/bin/env bash
# Install Debian's chromium package for the browser test of the SaaS metrics page, unless
# /usr/bin/chromium is already there. Needs apt-get and root (or sudo without a password).
# Exit codes: 0 installed or present, 3 apt-get not available, other codes from apt-get.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get is not available: install Chromium at /usr/bin/chromium by other means" >&2
    exit 3
fi

run_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

export DEBIAN_FRONTEND=noninteractive
run_as_root apt-get update -qq
run_as_root apt-get install -y -qq --no-install-recommends chromium
test -x /usr/bin/chromium
