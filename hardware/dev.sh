#!/usr/bin/env bash
# The newcomer's entry point (README "Quick start") and CI's (.ci/run):
#   hardware/dev.sh demo   install missing Debian packages, build, run the demo checkout
#   hardware/dev.sh test   install missing Debian packages, build, run the whole test suite
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
    # Two cores: let SwiftPM build with both, and run the tests in parallel (Swift Testing's default).
    exec swift test
    ;;
  *)
    echo "usage: hardware/dev.sh demo|test" >&2
    exit 64
    ;;
esac
