#!/usr/bin/env bash
# A private CUPS scheduler for the printer tests: `cups:QUEUE` printing goes through the real
# lp and cupsd, to a stand-in printer the tests read back. Nothing is started by hand: `start`
# installs Debian's cups-daemon and cups-client when missing, writes the configuration the first
# time, starts cupsd, waits for its socket and prints the socket's path (for CUPS_SERVER).
#
#   services/cups.sh start     install/configure/start as needed; last line of stdout is the socket
#   services/cups.sh stop      stop it (fine if it is not running)
#   services/cups.sh status    exit 0 if running, 1 if not
#   services/cups.sh server    print the socket's path
#
# The scheduler listens on its own Unix socket only (no TCP port, no web interface, no browsing)
# and lets anyone on the machine add queues: it is a throwaway test spooler. Its printers use the
# `qrpos-file` backend written here, `qrpos-file:/PATH`, which appends each job's bytes exactly
# as CUPS hands them over to PATH, as CUPS's `socket` backend would send them to port 9100 (that
# backend is in Debian's full `cups` package, which pulls in Ghostscript). Queues are raw: CUPS
# passes ESC/POS through untouched.
#
# Where it lives: /var/tmp/qrpos-cups-<first 12 hex digits of sha256 of the repository path>
# (cupsd drops to the `lp` user for backends, which must reach it; a clone under /root could not).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
# shellcheck source=services/lib.sh
. "$repo/services/lib.sh"
state="/var/tmp/qrpos-cups-$(printf '%s' "$repo" | sha256sum | cut -c1-12)"
socket="$state/run/cups.sock"

die() { echo "cups.sh: $*" >&2; exit 1; }
say() { echo "cups.sh: $*" >&2; }

install_cups() {
  say "installing Debian's cups-daemon and cups-client"
  local apt=(apt-get)
  [ "$(id -u)" -eq 0 ] || apt=(sudo apt-get)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install -y -qq --no-install-recommends cups-daemon cups-client >/dev/null 2>&1; then
    say "install failed; refreshing the package lists and trying again"
    "${apt[@]}" update -qq >/dev/null
    "${apt[@]}" install -y -qq --no-install-recommends cups-daemon cups-client >/dev/null || die "apt-get install cups-daemon cups-client failed"
  fi
}

running() {
  [ -f "$state/run/cupsd.pid" ] && kill -0 "$(cat "$state/run/cupsd.pid")" 2>/dev/null && [ -S "$socket" ]
}

configure() {
  mkdir -p "$state"/{conf,spool/tmp,cache,logs,run,state,bin/backend,out}
  chmod 0755 "$state" "$state/bin" "$state/bin/backend"
  chmod 0777 "$state/out"
  cat >"$state/conf/cupsd.conf" <<EOF
Listen $socket
LogLevel info
WebInterface No
Browsing Off
DefaultPolicy qrpos
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy qrpos>
  JobPrivateAccess all
  JobPrivateValues none
  SubscriptionPrivateAccess all
  SubscriptionPrivateValues none
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
EOF
  cat >"$state/conf/cups-files.conf" <<EOF
ServerRoot $state/conf
ServerBin $state/bin
RequestRoot $state/spool
TempDir $state/spool/tmp
CacheDir $state/cache
StateDir $state/state
AccessLog $state/logs/access_log
ErrorLog $state/logs/error_log
PageLog $state/logs/page_log
EOF
  # CUPS's own helpers (cups-exec runs every backend), and the backends beside the test one.
  local entry
  for entry in /usr/lib/cups/*; do
    [ "${entry##*/}" = backend ] || ln -sfn "$entry" "$state/bin/"
  done
  for entry in /usr/lib/cups/backend/*; do ln -sfn "$entry" "$state/bin/backend/"; done
  cat >"$state/bin/backend/qrpos-file" <<'EOF'
#!/bin/sh
# qrpos-file:/PATH appends each job's bytes, as CUPS hands them over, to PATH.
if [ $# -eq 0 ]; then echo 'direct qrpos-file "Unknown" "qrpos test printer (a file)"'; exit 0; fi
path=${DEVICE_URI#qrpos-file:}
if [ $# -ge 6 ]; then cat "$6" >>"$path"; else cat >>"$path"; fi
EOF
  chmod 0755 "$state/bin/backend/qrpos-file"
}

cmd_start() {
  command -v cupsd >/dev/null && command -v lp >/dev/null && command -v lpadmin >/dev/null || install_cups
  mkdir -p "$state/run"
  exec 9>"$state/run/lock"
  flock 9
  if ! running; then
    configure
    rm -f "$socket"
    # cupsd keeps the signal mask it is started with, and the test process starts this script
    # from a thread that blocks nearly every signal: such a cupsd never saw `stop`'s SIGTERM
    # (six were found still running after a day of test runs). perl clears the mask first.
    local unblocked=()
    command -v perl >/dev/null && unblocked=(perl -MPOSIX -e 'sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!"; exec @ARGV or die "exec: $!"' --)
    (close_inherited; "${unblocked[@]}" setsid cupsd -f -c "$state/conf/cupsd.conf" -s "$state/conf/cups-files.conf" </dev/null \
      >>"$state/logs/cupsd.out" 2>&1 & echo $! >"$state/run/cupsd.pid")
    local i
    for i in $(seq 1 100); do
      [ -S "$socket" ] && break
      sleep 0.1
    done
    running || { tail -n 20 "$state/logs/error_log" "$state/logs/cupsd.out" >&2 2>/dev/null || true; die "cupsd did not start"; }
    say "cupsd started (logs in $state/logs)"
  fi
  echo "$socket"
}

cmd_stop() {
  # The recorded scheduler, and any other left on this state's configuration (one started with
  # SIGTERM blocked, before the mask was cleared): SIGTERM, then SIGKILL after 3 s.
  local pids
  pids=$( { [ -f "$state/run/cupsd.pid" ] && cat "$state/run/cupsd.pid"; pgrep -f "cupsd -f -c $state/conf/cupsd.conf"; } 2>/dev/null | sort -u)
  rm -f "$state/run/cupsd.pid"
  [ -n "$pids" ] || return 0
  kill $pids 2>/dev/null || true
  local i
  for i in $(seq 1 30); do
    kill -0 $pids 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 $pids 2>/dev/null || true
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) running ;;
  server) echo "$socket" ;;
  *) echo "usage: services/cups.sh start|stop|status|server" >&2; exit 64 ;;
esac
