#!/usr/bin/env bash
# Headless Chromium + chromedriver for UI checks and screenshots. Comes from
# Debian's packages: browser-download installers (e.g. Playwright's) cannot
# reach their hosts from this machine.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<EOF
usage: ${0##*/} install
  install  apt-get install chromium chromium-driver if /usr/bin/chromium is missing
EOF
}

CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc

log() { printf 'chromium: %s\n' "$*"; }
die() { printf 'chromium: error: %s\n' "$*" >&2; exit 1; }

cmd_install() {
  # A CJK font too: the pages speak Chinese first, and screenshots must show it.
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver && -e "$CJK_FONT" ]]; then
    log "installed: $(/usr/bin/chromium --version 2>/dev/null)"
    return 0
  fi
  ((EUID == 0)) || die "chromium is not installed; run '$0 install' as root"
  log "installing chromium and chromium-driver with apt-get"
  # Lock timeout: wait for a concurrent apt/dpkg run instead of failing.
  apt-get -o DPkg::Lock::Timeout=300 update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q chromium chromium-driver fonts-wqy-microhei
  log "installed: $(/usr/bin/chromium --version)"
}

case "${1:-}" in
  install) cmd_install ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
