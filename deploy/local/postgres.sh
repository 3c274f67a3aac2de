#!/usr/bin/env bash
# Local private PostgreSQL cluster for development and tests, separate from any
# system cluster: its own data dir, port and socket dir, listening on 127.0.0.1
# only. Creates login role `governance` and database `governance` owned by it (the
# owner: migrations), and the runtime login roles `gov_service` (every service; the
# read models' reader) and `gov_projector` (the read models' writer), which own nothing
# (python -m govctl.migrate grants them their tables). Every subcommand is idempotent.
set -euo pipefail
# Let failures inside $(...) abort too (e.g. a missing password).
shopt -s inherit_errexit

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd)"

PG_PORT="${PG_PORT:-15432}"
PG_STATE_DIR="${PG_STATE_DIR:-$REPO_ROOT/.local/pg}"
PG_WAIT_TIMEOUT="${PG_WAIT_TIMEOUT:-60}"
APP_ROLE=governance
APP_DB=governance
RUNTIME_ROLES=(gov_service gov_projector)

DATA_DIR="$PG_STATE_DIR/data"
SOCK_DIR="$PG_STATE_DIR/run"
LOG_DIR="$PG_STATE_DIR/logs"
PASSWORD_FILE="$PG_STATE_DIR/password"

# PostgreSQL refuses to run as root: as root, run it as the `postgres` OS user;
# as anyone else, run it as that user. That OS user is also the superuser (peer
# auth over the private socket), so no superuser password exists anywhere.
if ((EUID == 0)); then PG_OS_USER=postgres; else PG_OS_USER="$(id -un)"; fi

usage() {
  cat <<EOF
usage: ${0##*/} install|start|stop|status|wait|clean|url
  install  apt-get install postgresql if no initdb is found (needs root)
  start    initdb once, start on 127.0.0.1:$PG_PORT, ensure role+db '$APP_ROLE'
  stop     pg_ctl stop -m fast
  status   print running/stopped (exit 0 / 3)
  wait     wait until the server accepts connections (timeout \$PG_WAIT_TIMEOUT=${PG_WAIT_TIMEOUT}s)
  clean    stop and delete the state dir $PG_STATE_DIR
  url [owner|service|projector]
           print postgresql://<role>:<password>@127.0.0.1:$PG_PORT/$APP_DB for the owner
           '$APP_ROLE' (default) or a runtime role (${RUNTIME_ROLES[*]})
env: PG_PORT=$PG_PORT PG_STATE_DIR=$PG_STATE_DIR
     PG_PASSWORD (default: generated once into \$PG_STATE_DIR/password, mode 600);
     runtime roles' passwords: generated once into \$PG_STATE_DIR/password-<role>
EOF
}

log() { printf 'postgres: %s\n' "$*"; }
die() { printf 'postgres: error: %s\n' "$*" >&2; exit 1; }

find_bindir() {
  local initdb
  # Newest installed major version wins.
  initdb="$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$initdb" ]] && dirname "$initdb"
}

cmd_install() {
  if find_bindir >/dev/null; then
    log "installed ($(find_bindir))"
    return 0
  fi
  ((EUID == 0)) || die "postgresql is not installed; run '$0 install' as root"
  log "installing postgresql with apt-get"
  # Lock timeout: wait for a concurrent apt/dpkg run instead of failing.
  apt-get -o DPkg::Lock::Timeout=300 update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q postgresql
  find_bindir >/dev/null || die "apt-get installed postgresql but no initdb found"
}

as_pg() {
  if ((EUID == 0)); then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

# Serialize start/stop/clean so parallel callers (e.g. test workers) do not race.
lock() {
  mkdir -p "$PG_STATE_DIR"
  exec 9>"$PG_STATE_DIR/.lock"
  # Bounded, so a stuck holder gives an error instead of a silent hang.
  flock -w $((PG_WAIT_TIMEOUT + 60)) 9 ||
    die "lock $PG_STATE_DIR/.lock still held after $((PG_WAIT_TIMEOUT + 60))s (holders: fuser -v $PG_STATE_DIR/.lock)"
}

bindir() {
  local d
  d="$(find_bindir)" || die "postgresql is not installed; run: $0 install"
  echo "$d"
}

# The password comes from PG_PASSWORD, or is generated once and kept in the
# state dir (mode 600) so the script carries no default secret.
password() {
  if [[ -n "${PG_PASSWORD:-}" ]]; then
    printf '%s' "$PG_PASSWORD"
    return 0
  fi
  stored_password "$PASSWORD_FILE" "${1:-}"
}

# A runtime role's password: generated once into the state dir.
role_password() {
  stored_password "$PASSWORD_FILE-$1" "${2:-}"
}

stored_password() {
  local file="$1"
  if [[ ! -s "$file" ]]; then
    [[ "${2:-}" == create ]] || die "no password yet; run '$0 start' first (or set PG_PASSWORD)"
    mkdir -p "$PG_STATE_DIR"
    (
      umask 077
      od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$file.tmp"
    )
    mv "$file.tmp" "$file"
  fi
  cat "$file"
}

# Percent-encodes byte by byte (LC_ALL=C), so UTF-8 passwords encode correctly.
urlencode() {
  local LC_ALL=C s="$1" out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c="${s:i:1}"
    case "$c" in
      [A-Za-z0-9._~-]) out+="$c" ;;
      *) out+="$(printf '%%%02X' "'$c")" ;;
    esac
  done
  printf '%s' "$out"
}

app_url() {
  local role="${1:-owner}" pw
  case "$role" in
    owner) role="$APP_ROLE" pw="$(password)" ;;
    service | projector) role="gov_$role" pw="$(role_password "$role")" ;;
    *) die "url: unknown role '$role' (owner, service or projector)" ;;
  esac
  printf 'postgresql://%s:%s@127.0.0.1:%s/%s' "$role" "$(urlencode "$pw")" "$PG_PORT" "$APP_DB"
}

is_running() {
  [[ -f "$DATA_DIR/PG_VERSION" ]] || return 1
  as_pg "$(bindir)/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

init_once() {
  local bin="$1"
  [[ -f "$DATA_DIR/PG_VERSION" ]] && return 0
  # The server's OS user must be able to reach the data dir through its parents.
  as_pg test -x "$PG_STATE_DIR" ||
    die "$PG_OS_USER cannot access $PG_STATE_DIR; choose a PG_STATE_DIR whose parents are world-executable"
  log "initdb $DATA_DIR"
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  chown "$PG_OS_USER:" "$DATA_DIR"
  chmod 700 "$DATA_DIR"
  # peer: only the server's OS user is superuser, over the private socket.
  # scram-sha-256: everyone on TCP needs a password.
  as_pg "$bin/initdb" -D "$DATA_DIR" -U "$PG_OS_USER" -E UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >"$LOG_DIR/initdb.log" 2>&1 ||
    {
      cat "$LOG_DIR/initdb.log" >&2
      die "initdb failed"
    }
  echo "include_if_exists = 'local.conf'" >>"$DATA_DIR/postgresql.conf"
}

write_conf() {
  # Regenerated on every start so PG_PORT / PG_STATE_DIR changes take effect.
  cat >"$DATA_DIR/local.conf" <<EOF
# Generated by deploy/local/postgres.sh on each start; edits are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
EOF
  chown "$PG_OS_USER:" "$DATA_DIR/local.conf"
}

# Superuser psql over the private unix socket (peer auth), SQL on stdin.
admin_psql() {
  as_pg "$(bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" \
    -U "$PG_OS_USER" -d postgres -f -
}

ensure_app_role_db() {
  local pw_sql
  pw_sql="$(password create)"
  pw_sql="${pw_sql//\'/\'\'}" # SQL literal quoting
  # The password travels on stdin, never on a command line (visible in ps).
  admin_psql <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$APP_ROLE')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') \gexec
ALTER ROLE $APP_ROLE WITH LOGIN PASSWORD '$pw_sql';
SELECT format('CREATE DATABASE %I OWNER %I', '$APP_DB', '$APP_ROLE')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB') \gexec
ALTER DATABASE $APP_DB OWNER TO $APP_ROLE;
-- The owner already may; explicit so migrations can CREATE SCHEMA whatever changes.
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE $APP_DB TO $APP_ROLE;
SQL
  local role
  for role in "${RUNTIME_ROLES[@]}"; do
    pw_sql="$(role_password "$role" create)"
    pw_sql="${pw_sql//\'/\'\'}"
    # Runtime roles: log in, own nothing, create nothing, never bypass row-level security.
    admin_psql <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') \gexec
ALTER ROLE $role WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS
  PASSWORD '$pw_sql';
GRANT CONNECT ON DATABASE $APP_DB TO $role;
SQL
  done
}

cmd_start() {
  cmd_install
  lock
  local bin
  bin="$(bindir)"
  mkdir -p "$SOCK_DIR" "$LOG_DIR"
  # The server's OS user must traverse the (root-created) state dir.
  chmod go+x "$PG_STATE_DIR"
  chown "$PG_OS_USER:" "$SOCK_DIR" "$LOG_DIR"
  if is_running; then
    log "already running on 127.0.0.1:$PG_PORT"
  else
    init_once "$bin"
    write_conf
    log "starting on 127.0.0.1:$PG_PORT"
    # pg_ctl puts the server in its own session, so it outlives this shell;
    # 9>&- keeps the server from inheriting (and forever holding) the lock.
    as_pg "$bin/pg_ctl" -D "$DATA_DIR" -l "$LOG_DIR/postgres.log" -w -t "$PG_WAIT_TIMEOUT" start >/dev/null 9>&- ||
      {
        tail -n 30 "$LOG_DIR/postgres.log" >&2 || true
        die "server did not start"
      }
  fi
  ensure_app_role_db
  # Prove the TCP + password path the services will use. PGPASSWORD, not the
  # URL, so the password is not on a command line.
  local pw
  pw="$(password)"
  PGPASSWORD="$pw" "$bin/psql" -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U "$APP_ROLE" -d "$APP_DB" \
    -c 'SELECT 1' >/dev/null || die "could not log in as $APP_ROLE over TCP"
  log "ready: role and database '$APP_DB' on 127.0.0.1:$PG_PORT"
}

cmd_url() {
  local u
  u="$(app_url "${1:-owner}")"
  echo "$u"
}

cmd_wait() {
  local bin deadline=$((SECONDS + PG_WAIT_TIMEOUT))
  bin="$(bindir)"
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    if ((SECONDS >= deadline)); then
      [[ -f "$LOG_DIR/postgres.log" ]] && tail -n 30 "$LOG_DIR/postgres.log" >&2
      die "server on 127.0.0.1:$PG_PORT not ready after ${PG_WAIT_TIMEOUT}s"
    fi
    sleep 1
  done
  log "ready on 127.0.0.1:$PG_PORT"
}

cmd_stop() {
  lock
  if ! is_running; then
    log "not running"
    return 0
  fi
  # fast: roll back open transactions instead of waiting for clients to leave.
  as_pg "$(bindir)/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null
  log "stopped"
}

cmd_status() {
  if find_bindir >/dev/null && is_running; then
    echo "postgres: running on 127.0.0.1:$PG_PORT"
    exit 0
  fi
  echo "postgres: stopped"
  exit 3
}

cmd_clean() {
  if find_bindir >/dev/null; then cmd_stop; fi
  log "removing $PG_STATE_DIR"
  # Only what this script creates, then the dir itself if nothing else is left.
  rm -rf "$DATA_DIR" "$SOCK_DIR" "$LOG_DIR" "$PASSWORD_FILE" "$PASSWORD_FILE.tmp" "$PG_STATE_DIR/.lock"
  rm -f "$PASSWORD_FILE"-*
  rmdir "$PG_STATE_DIR" 2>/dev/null || true
}

main() {
  case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    wait) cmd_wait ;;
    clean) cmd_clean ;;
    url) cmd_url "${2:-owner}" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
