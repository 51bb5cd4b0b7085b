#!/usr/bin/env bash
# The newcomer's entry point (README "Quick start") and CI's (.ci/run):
#   hardware/dev.sh demo   install missing Debian packages, build, run the demo checkout
#   hardware/dev.sh test   install missing Debian packages, start PostgreSQL, build, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null || { echo "qrpos needs the Swift 6 toolchain on PATH (swift.org/install)" >&2; exit 1; }
if [ "${1:-}" = test ]; then hardware/deps.sh --hil; else hardware/deps.sh; fi

case "${1:-}" in
  demo)
    swift build --product qrpos
    exec "$(swift build --show-bin-path)/qrpos" demo
    ;;
  test)
    # The PostgreSQL ledger's tests need the project's own server on loopback: installed if
    # missing, started here, stopped when the tests end (services/postgres.sh).
    QRPOS_TEST_POSTGRES_URL="$(services/postgres.sh start | tail -n 1)"
    export QRPOS_TEST_POSTGRES_URL
    # Each PostgreSQL test makes its own schema (t_…, x_…); drop the last run's.
    services/postgres.sh psql -q -c "DO \$\$DECLARE r record; BEGIN FOR r IN SELECT nspname FROM pg_namespace
      WHERE nspname LIKE 't\\_%' OR nspname LIKE 'x\\_%' LOOP EXECUTE 'DROP SCHEMA ' || quote_ident(r.nspname) || ' CASCADE'; END LOOP; END\$\$;" >/dev/null 2>&1
    # The CUPS printer test starts the project's own scheduler (services/cups.sh); stop both after.
    trap 'services/postgres.sh stop >/dev/null 2>&1 || true; services/cups.sh stop >/dev/null 2>&1 || true' EXIT
    # Two cores: let SwiftPM build with both, and run the tests in parallel (Swift Testing's default).
    swift test
    ;;
  *)
    echo "usage: hardware/dev.sh demo|test" >&2
    exit 64
    ;;
esac
