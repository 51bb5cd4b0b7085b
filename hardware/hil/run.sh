#!/usr/bin/env bash
# Hardware in the loop on a real V4L2 driver: boots Debian's kernel under QEMU with vivid, feeds
# frames carrying payment codes into vivid's output node, and runs `qrpos scan --device` on the
# capture node, then `qrpos kiosk` on it (hardware/hil/guest-scan.sh says what is checked). About 2-4 min under TCG.
#   hardware/hil/run.sh [QRPOS_BINARY]      exit 0 pass, 1 fail, 77 qemu not installed
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
here="$repo/hardware/hil"
command -v qemu-system-x86_64 >/dev/null || { echo "hil: qemu-system-x86_64 is not installed: skipped" >&2; exit 77; }
qrpos=${1:-$(cd "$repo" && swift build --show-bin-path)/qrpos}
[ -x "$qrpos" ] || { echo "hil: no qrpos binary at $qrpos (swift build first)" >&2; exit 1; }

cache="$repo/.build-hil/cache"
"$here/prepare.sh" "$cache" >/dev/null
work=$(mktemp -d "$repo/.build-hil/run-XXXXXX")
trap 'rm -rf "$work"' EXIT

# The loop vivid replays at about 60 frames a second: code A held for 1 s, 3 s with no code, A
# again, then a Code 128 payment code held for 3 s, then 3 s with no code before the loop starts
# over. Everything is long in time because the guest decodes only a few frames a second under
# emulation, fewer when the host is busy with the rest of the test suite: with the barcode held
# for 1 s, a loaded CI run once saw no decode attempt land on it.
"$qrpos" frames --out "$work/loop.grey" --format grey --size 320x240 \
  'qr:HIL-PAY-A*60' 'blank*180' 'qr:HIL-PAY-A*60' 'code128:281234567890123452*180' 'blank*180'

set +e
"$here/boot.sh" "$cache" "$work" "$here/guest-scan.sh '$cache/kpkg' '$qrpos' '$work'"
rc=$?
set -e
sed -n '/^== /,$p' "$work/serial.log" | grep -v -E '^\[ *[0-9.]+\]' || true
[ "$rc" = 0 ] && echo "hil: PASS" || echo "hil: FAIL (status $rc)"
exit "$rc"
