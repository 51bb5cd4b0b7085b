#!/usr/bin/env bash
# A private PostgreSQL server on loopback for the tests, CI and the benchmark. Nothing is started
# by hand: `start` installs Debian's server when none is installed, creates the cluster the first
# time, starts it, waits until it accepts connections and prints its URL.
#
#   services/postgres.sh start        install/init/start as needed; last line of stdout is the URL
#   services/postgres.sh stop         fast shutdown (fine if it is not running)
#   services/postgres.sh status       exit 0 if running, 1 if not
#   services/postgres.sh url          print the URL, postgres://qrpos@127.0.0.1:54329/qrpos
#   services/postgres.sh psql [ARGS]  run psql against the qrpos database
#
# QRPOS_PG_PORT picks the TCP port (default 54329). The server listens on 127.0.0.1 only and
# trusts every local connection: it is a throwaway test server, never a production one.
#
# Where the data lives: .build-pg/data under the repository (git ignores .build-*/). PostgreSQL
# refuses to run as root, so as root the server runs as the `postgres` system user, and that user
# must be able to walk down to the data directory. When it cannot (a clone under /root, whose mode
# is 0700), the data goes to /var/tmp/qrpos-pg-<first 12 hex digits of sha256 of the repository
# path> and .build-pg/data becomes a symbolic link to it, so every command finds it the same way.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
# shellcheck source=services/lib.sh
. "$repo/services/lib.sh"
port=${QRPOS_PG_PORT:-54329}
state="$repo/.build-pg"          # the lock file, and the data directory or a link to it
log_lines=25                     # how much of the server's log an error shows

die() { echo "postgres.sh: $*" >&2; exit 1; }
say() { echo "postgres.sh: $*" >&2; }   # progress goes to stderr: stdout carries only the URL

case "$port" in
  ''|*[!0-9]*) die "QRPOS_PG_PORT must be a port number, not '$port'" ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
  die "QRPOS_PG_PORT must be between 1 and 65535, not $port"
fi

# ---------------------------------------------------------------------------------------------
# Who runs the server. As root: the `postgres` system user, through runuser (util-linux, always
# on Debian). Otherwise: the current user.
if [ "$(id -u)" -eq 0 ]; then
  server_user=postgres
  sudo=()
else
  server_user=$(id -un)
  sudo=(sudo)
fi

# Runs a command as the server user, from / so that a working directory it may not enter (/root)
# causes no warnings. LC_ALL=C: initdb and the server must not trip on a locale that the
# environment names but the machine has not generated (common in containers and on CI).
# Every descriptor above 2 is closed first (our lock file on 9 among them, see cmd_start): a
# server started with one open holds it for as long as it runs. Holding the lock, every later
# start or stop would wait for it; holding the pipe or socket a parent watches for this script's
# end (Swift's Foundation.Process does so), that parent would never see the script end.

as_server() {
  if [ "$(id -u)" -eq 0 ]; then
    (close_inherited; cd / && LC_ALL=C runuser -u "$server_user" -- "$@")
  else
    (close_inherited; cd / && LC_ALL=C "$@")
  fi
}

# ---------------------------------------------------------------------------------------------
# The binaries: the highest major version under /usr/lib/postgresql (Debian's layout, which keeps
# several majors side by side). Empty when no server is installed.
find_bin() {
  local all found
  all=$(compgen -G '/usr/lib/postgresql/*/bin/postgres' || true)
  found=$(printf '%s\n' "$all" | sort -V | tail -n 1)
  [ -n "$found" ] && dirname "$found"
  return 0
}

# Installs Debian's `postgresql` package (it pulls in the current major's server and client) the
# way hardware/deps.sh installs packages: as root directly, otherwise through sudo. The package
# lists are refreshed only when the install fails without them (a fresh image has none).
# Note: Debian's package also creates a default cluster "main" on port 5432, and starts it where
# services may start (not in containers with policy-rc.d); it does not collide with ours.
install_server() {
  say "no PostgreSQL server under /usr/lib/postgresql; installing Debian's postgresql package"
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  if ! "${apt[@]}" install -y -qq --no-install-recommends postgresql >/dev/null 2>&1; then
    say "install failed; refreshing the package lists and trying again"
    "${apt[@]}" update -qq || die "apt-get update failed"
    "${apt[@]}" install -y -qq --no-install-recommends postgresql >/dev/null \
      || die "apt-get install postgresql failed"
  fi
}

bin=$(find_bin)
need_bin() {
  if [ -z "$bin" ]; then
    install_server
    bin=$(find_bin)
    [ -n "$bin" ] || die "installed the postgresql package but found no /usr/lib/postgresql/*/bin/postgres"
  fi
}

# The Debian package creates the `postgres` user; a server installed some other way may not have.
need_server_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  getent passwd postgres >/dev/null && return 0
  say "creating the system user postgres"
  useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
    --shell /usr/sbin/nologin --comment "PostgreSQL administrator" postgres \
    || die "could not create the system user postgres"
}

# ---------------------------------------------------------------------------------------------
# The data directory (see the header for the rule). Sets $data; with `create`, makes it exist,
# owned by the server user with mode 0700 as initdb and the server demand.
resolve_data() {
  local create=${1:-}
  local link="$state/data"
  if [ -L "$link" ]; then
    data=$(readlink -f "$link")              # an earlier run chose the fallback; keep to it
  elif [ "$(id -u)" -ne 0 ]; then
    data=$link                               # not root: the server runs as us, who own the repo
  else
    # Root: can the postgres user walk down to .build-pg? (mode 0755 in case root's umask is
    # 0077; a checkout under a 0700 directory, /root or a mktemp -d, stays out of its reach.)
    if [ -n "$create" ]; then mkdir -p "$state"; chmod 0755 "$state"; fi
    if ! getent passwd postgres >/dev/null || runuser -u postgres -- test -x "$state" 2>/dev/null; then
      data=$link
    else
      data=/var/tmp/qrpos-pg-$(printf '%s' "$repo" | sha256sum | cut -c1-12)
      if [ -n "$create" ] && [ ! -e "$link" ]; then
        ln -s "$data" "$link"
        say "the postgres user cannot reach $state; the data goes to $data (linked from $link)"
      fi
    fi
  fi
  [ -n "$create" ] || return 0
  mkdir -p "$state"
  private_dir "$data"
}

# Makes a directory exist, owned by the server user, mode 0700. /var/tmp and /tmp are shared by
# every user: a directory that someone else planted there is never taken over.
private_dir() {
  local dir=$1 owner
  mkdir -p "$dir"
  owner=$(stat -c %U "$dir")
  if [ "$owner" != "$server_user" ]; then
    [ "$owner" = "$(id -un)" ] || die "$dir belongs to $owner, not $server_user; remove it or fix its owner"
    chown "$server_user:" "$dir"
  fi
  chmod 0700 "$dir"
  as_server test -w "$dir" || die "the user $server_user cannot write to $dir"
}

# The Unix socket lives in the data directory (never /var/run/postgresql, which belongs to the
# system's clusters). A socket path is limited to 107 bytes; a deep checkout would exceed that, so
# then the socket goes to a private directory in /tmp instead.
socket_dir() {
  if [ $(( ${#data} + 16 + ${#port} )) -le 107 ]; then
    echo "$data"
  else
    echo "/tmp/qrpos-pg-$(printf '%s' "$data" | sha256sum | cut -c1-12)"
  fi
}

url_for() { echo "postgres://$1@127.0.0.1:$2/$3"; }

# ---------------------------------------------------------------------------------------------
# Is the server running? Prints the postmaster's PID when it is. The PID alone is not trusted: a
# process started after a crash may have been given the same number, so the process must also be
# a postgres whose working directory is our data directory (every server process chdirs there).
is_ours() {
  local pid=$1 cwd
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [ "$cwd" = "$(readlink -f "$data")" ]
}
running_pid() {
  local pidfile="$data/postmaster.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(head -n 1 "$pidfile" 2>/dev/null) || return 1
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  is_ours "$pid" || return 1
  echo "$pid"
}
# The port a running server listens on (line 4 of postmaster.pid).
running_port() { sed -n 4p "$data/postmaster.pid" 2>/dev/null; }

# After a crash (kill -9 of the postmaster) its children notice within moments and exit, but a
# backend busy in a long query can linger, and while one does the new server refuses to start
# ("pre-existing shared memory block is still in use"). Ends those leftovers (postgres processes
# whose working directory is our data directory, see is_ours), then removes the stale
# postmaster.pid: the server itself would trust a PID that now belongs to another process, or to
# a zombie that nobody has reaped (seen here). It replays its WAL on the next start: nothing
# committed is lost.
clear_crash_leftovers() {
  local p leftovers=() _
  for p in /proc/[0-9]*; do
    is_ours "${p#/proc/}" && leftovers+=("${p#/proc/}")
  done
  if [ ${#leftovers[@]} -gt 0 ]; then
    say "ending ${#leftovers[@]} process(es) left over from a crashed server: ${leftovers[*]}"
    kill -QUIT "${leftovers[@]}" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "${leftovers[@]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${leftovers[@]}" 2>/dev/null || true
  fi
  if [ -f "$data/postmaster.pid" ]; then
    say "removing the stale postmaster.pid (the server was not shut down cleanly; it will recover)"
    rm -f "$data/postmaster.pid"
  fi
  rm -f "$(socket_dir)/.s.PGSQL.$port.lock"
}

# ---------------------------------------------------------------------------------------------
# Creates the cluster once. Locale C with UTF-8 encoding: byte-order sorting, the fastest, the
# same on every machine, and independent of which locales the machine happens to have generated.
# The bootstrap superuser is `postgres` whoever runs the server, so the setup below is the same.
init_cluster() {
  [ -f "$data/PG_VERSION" ] && return 0
  say "creating the cluster in $data"
  # initdb wants an empty directory; a half-made one from an interrupted run is thrown away.
  find "$data" -mindepth 1 -delete
  as_server "$bin/initdb" --pgdata="$data" --username=postgres --auth=trust \
    --encoding=UTF8 --locale=C >"$state/initdb.log" 2>&1 \
    || { tail -n "$log_lines" "$state/initdb.log" >&2; die "initdb failed (log: $state/initdb.log)"; }
  # Our settings go in a file of their own, rewritten whenever the server starts (write_config),
  # so that editing this script is enough to change them.
  echo "include_if_exists = 'qrpos.conf'" | as_server tee -a "$data/postgresql.conf" >/dev/null
}

# Writes a file in the data directory as the server user, private like the rest of it.
# shellcheck disable=SC2016 # $1 is for the inner sh
write_server_file() { as_server sh -c 'umask 077 && cat > "$1"' sh "$1"; }

write_config() {
  write_server_file "$data/qrpos.conf" <<EOF
# Written by services/postgres.sh whenever it starts the server: edit the script, not this file.
listen_addresses = '127.0.0.1'         # loopback only
port = $port
unix_socket_directories = '$(socket_dir)'

# Durability stays on: the ledger counts on a commit surviving a crash.
fsync = on
synchronous_commit = on
full_page_writes = on

# Sized for the 2-core, 24 GiB machines that run the tests and the benchmark.
max_connections = 200                 # the test suite runs many ledgers, and crash tests leave connections the server reaps late
shared_buffers = 256MB
effective_cache_size = 4GB            # a planner hint only: the OS caches the rest of the files
random_page_cost = 1.1                # the disks are SSDs
# Fewer, gentler checkpoints: a checkpoint forced by WAL volume in the middle of a benchmark shows
# up as a latency spike. 4 GB of WAL at most, about 76 GB free on these disks.
max_wal_size = 4GB
checkpoint_timeout = 15min
# No replicas or WAL archive ever read this server: minimal WAL logs less (bulk loads into new
# tables skip it altogether) without weakening crash recovery.
wal_level = minimal
max_wal_senders = 0
# Two cores: parallel query only competes with the other connections, and its shared memory lives
# in /dev/shm, which containers often keep small. JIT compiling costs tens of milliseconds on the
# first costly query, noise in a latency benchmark.
max_parallel_workers_per_gather = 0
jit = off

# The same clock everywhere, whatever the machine's time zone.
timezone = 'UTC'
log_timezone = 'UTC'
# Logging goes to postgresql.log in the data directory (pg_ctl -l).
log_checkpoints = on
EOF
  # Trust on the socket and 127.0.0.1 only; nothing else may connect at all.
  write_server_file "$data/pg_hba.conf" <<'EOF'
# Written by services/postgres.sh whenever it starts the server: trusted on loopback only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
EOF
}

# The role and database the project connects as; created once, checked at every start.
ensure_role_and_db() {
  "$bin/psql" "$(url_for postgres "$port" postgres)" -X -q -v ON_ERROR_STOP=1 >/dev/null <<'EOF' \
    || die "could not create the role and database qrpos"
SELECT 'CREATE ROLE qrpos LOGIN SUPERUSER'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qrpos') \gexec
SELECT 'CREATE DATABASE qrpos OWNER qrpos'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'qrpos') \gexec
EOF
}

# Waits until the server answers on TCP, the way the tests will connect. (As an existing role:
# pg_isready as root would otherwise fill the log with 'role "root" does not exist'.)
wait_ready() {
  local _
  for _ in $(seq 300); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 1 && return 0
    running_pid >/dev/null || return 1
    sleep 0.1
  done
  return 1
}

fail_with_log() {
  local logfile="$data/postgresql.log"
  if [ -f "$logfile" ]; then
    echo "--- last lines of $logfile ---" >&2
    tail -n "$log_lines" "$logfile" >&2
    echo "---" >&2
  fi
  die "$* (log: $data/postgresql.log)"
}

# ---------------------------------------------------------------------------------------------
cmd_start() {
  need_bin
  need_server_user
  resolve_data create
  # One start or stop at a time: parallel test processes may all call `start`.
  exec 9>"$state/lock"
  flock -w 120 9 || die "another postgres.sh has held $state/lock for 2 minutes"

  local pid
  if pid=$(running_pid); then
    local actual
    actual=$(running_port)
    [ "$actual" = "$port" ] || die "already running on port $actual (pid $pid), not $port; run 'services/postgres.sh stop' first"
    wait_ready || fail_with_log "the server (pid $pid) is running but does not accept connections"
  else
    init_cluster
    clear_crash_leftovers
    # Another program on our port would make the server fail with a less obvious message.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port on 127.0.0.1 is taken by another program; set QRPOS_PG_PORT to a free port"
    fi
    write_config
    local sock
    sock=$(socket_dir)
    [ "$sock" = "$data" ] || private_dir "$sock"
    # Keep the log from growing without end across many runs: one old copy is kept.
    if [ -f "$data/postgresql.log" ] && [ "$(stat -c %s "$data/postgresql.log")" -gt 20000000 ]; then
      as_server mv -f "$data/postgresql.log" "$data/postgresql.log.1"
    fi
    say "starting PostgreSQL $(basename "$(dirname "$bin")") on 127.0.0.1:$port"
    # -w: wait until the server reports itself ready, up to 120 s (crash recovery after a kill
    # replays WAL first). The server detaches from this shell and keeps running.
    local out
    out=$(as_server "$bin/pg_ctl" start -D "$data" -l "$data/postgresql.log" -w -t 120 -s 2>&1) \
      || { [ -z "$out" ] || echo "$out" >&2; fail_with_log "PostgreSQL did not start"; }
    wait_ready || fail_with_log "PostgreSQL started but does not accept connections on 127.0.0.1:$port"
  fi
  ensure_role_and_db
  url_for qrpos "$port" qrpos
}

cmd_stop() {
  resolve_data
  [ -d "$state" ] || { say "not running"; return 0; }
  exec 9>"$state/lock"
  flock -w 120 9 || die "another postgres.sh has held $state/lock for 2 minutes"
  local pid
  if ! pid=$(running_pid); then
    say "not running"
    return 0
  fi
  [ -n "$bin" ] || die "a server is running (pid $pid) but no pg_ctl is installed"
  # Fast: roll back open transactions, disconnect the clients, checkpoint, exit.
  if ! as_server "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 -s >/dev/null 2>&1; then
    say "fast shutdown took over 60 s; stopping immediately (the next start recovers from WAL)"
    as_server "$bin/pg_ctl" stop -D "$data" -m immediate -w -t 30 -s >/dev/null 2>&1 \
      || fail_with_log "could not stop the server (pid $pid)"
  fi
  say "stopped"
}

cmd_status() {
  resolve_data
  local pid
  if pid=$(running_pid); then
    echo "running: pid $pid, $(url_for qrpos "$(running_port)" qrpos), data in $data"
    return 0
  fi
  echo "not running"
  return 1
}

# url and psql use the running server's port when it runs (so a server started with another
# QRPOS_PG_PORT is still found), else QRPOS_PG_PORT.
cmd_url() {
  resolve_data
  if running_pid >/dev/null; then url_for qrpos "$(running_port)" qrpos; else url_for qrpos "$port" qrpos; fi
}

cmd_psql() {
  need_bin
  resolve_data
  running_pid >/dev/null || die "not running; run 'services/postgres.sh start' first"
  exec "$bin/psql" "$(url_for qrpos "$(running_port)" qrpos)" "$@"
}

usage() {
  echo "usage:" >&2
  grep '^#   services/postgres.sh' "$0" | sed 's/^#//' >&2
  exit 64
}

case "${1:-}" in
  start)  cmd_start ;;
  stop)   cmd_stop ;;
  status) cmd_status ;;
  url)    cmd_url ;;
  psql)   shift; cmd_psql "$@" ;;
  *)      usage ;;
esac
