# shellcheck shell=bash
# Sourced by tests/run and lab/demo: the project's venv ($XFRM_VENV or .venv) with requirements-dev.txt,
# created on first use and refreshed when that file changes; puts its bin first on PATH.
XFRM_ROOT=${XFRM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
VENV=${XFRM_VENV:-$XFRM_ROOT/.venv}
_apt_install() {
    [ "$(id -u)" = 0 ] || { echo "needs root to apt-get install $*" >&2; return 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# host tools the kernel tier and the lab use (a fresh Debian may lack them)
command -v ip >/dev/null || _apt_install iproute2
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; _apt_install python3-venv && python3 -m venv "$VENV"; }
fi
_stamp="$VENV/.requirements-dev.$(sha256sum "$XFRM_ROOT/requirements-dev.txt" | cut -c1-16)"
if [ ! -e "$_stamp" ]; then
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$XFRM_ROOT/requirements-dev.txt"
    touch "$_stamp"
fi
export PATH="$VENV/bin:$PATH"
