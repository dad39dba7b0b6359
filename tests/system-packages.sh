#!/usr/bin/env bash
# What the tests need beside the venv, from Debian's packages (tests/run runs this after tests/venv.sh):
# graphviz's dot draws the site picture (tests/unit/test_site_picture.py), chromium shows it
# (tests/integration/browser.py). Installs only what is missing; without root it says what is missing and goes on
# (the tests that need it then fail, naming it).
set -euo pipefail
missing=()
command -v dot >/dev/null || missing+=(graphviz)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "tests/system-packages.sh: needs root to apt-get install ${missing[*]}" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
