#!/bin/bash
# Runs inside the QEMU guest. vivid's capture node loops back what is streamed into its output
# node (both on the HDMI input/output, same format and size), so frames carrying payment codes go
# in at /dev/video1 and come out at /dev/video0, through the real V4L2 ioctl path of qrpos.
#   guest-scan.sh KPKG QRPOS WORK
# Checks: (1) the payloads and the de-duplication (a code held in view is one event), (2) an
# unplug mid-stream (vivid's "disconnect" control: every call then fails with ENODEV until all
# handles close) is reported, the camera is re-opened when it returns, and scanning goes on;
# (3) `qrpos kiosk` on the camera charges a code shown to it exactly once, and gets its camera
# back after an unplug.
set -uo pipefail
kpkg=$1 qrpos=$2 work=$3
cap=/dev/video0 out=/dev/video1
fail() { echo "HIL FAIL: $*"; exit 1; }

modprobe -d "$kpkg" vivid n_devs=1 node_types=0x101 num_inputs=2 input_types=0x0c num_outputs=1 output_types=0x1 \
  || fail "cannot load vivid"
for _ in $(seq 50); do [ -e $cap ] && [ -e $out ] && break; sleep 0.1; done
setup_loop() {
  v4l2-ctl -d $cap -i 1 >/dev/null && v4l2-ctl -d $out -o 0 >/dev/null &&
  v4l2-ctl -d $cap -v width=320,height=240,pixelformat=GREY &&
  v4l2-ctl -d $out -x width=320,height=240,pixelformat=GREY &&
  v4l2-ctl -d $cap -c loop_video=1,osd_text_mode=2
}
setup_loop || fail "cannot configure the vivid loopback"

# The output streamer: restarted whenever it dies (as it does when the device is disconnected).
( while [ ! -e "$work/stop-output" ]; do
    v4l2-ctl -d $out --stream-out-mmap --stream-loop --stream-from="$work/loop.grey" >/dev/null 2>&1
    sleep 0.3
  done ) &
streamer=$!

echo "== qrpos devices"
"$qrpos" devices || fail "qrpos devices failed"

echo "== phase 1: payloads and de-duplication"
timeout 120 "$qrpos" scan --device $cap --width 320 --height 240 --count 3 --json > "$work/phase1.jsonl" 2> "$work/phase1.log"
rc=$?
cat "$work/phase1.jsonl"
[ $rc = 0 ] || { cat "$work/phase1.log"; fail "qrpos scan exited $rc"; }
seq1=$(sed -n 's/.*"data":"\([^"]*\)".*/\1/p' "$work/phase1.jsonl" | tr '\n' ' ')
case "$seq1" in
  "HIL-PAY-A HIL-PAY-A 281234567890123452 "|"HIL-PAY-A 281234567890123452 HIL-PAY-A "|"281234567890123452 HIL-PAY-A HIL-PAY-A ") ;;
  *) fail "events were '$seq1', not three consecutive events of the loop A, (gap), A, B" ;;
esac

echo "== phase 2: unplug mid-stream and return"
timeout 180 "$qrpos" scan --device $cap --width 320 --height 240 --count 6 --json > "$work/phase2.jsonl" 2> "$work/phase2.log" &
scanner=$!
for _ in $(seq 600); do [ "$(wc -l < "$work/phase2.jsonl")" -ge 2 ] && break; sleep 0.1; done
[ "$(wc -l < "$work/phase2.jsonl")" -ge 2 ] || { cat "$work/phase2.log"; fail "no events before the unplug"; }
echo "unplugging after $(wc -l < "$work/phase2.jsonl") events"
v4l2-ctl -d $cap -c disconnect=1 || fail "cannot trigger vivid's disconnect"
wait $scanner
rc=$?
cat "$work/phase2.jsonl"
cat "$work/phase2.log"
[ $rc = 0 ] || fail "qrpos scan exited $rc across the unplug"
[ "$(wc -l < "$work/phase2.jsonl")" = 6 ] || fail "expected 6 events across the unplug"
grep -qi "unplugged" "$work/phase2.log" "$work/phase2.jsonl" || fail "the unplug was not reported"
grep -qiE "camera (back|returned|reopened)|reopened" "$work/phase2.log" "$work/phase2.jsonl" || fail "the return of the camera was not reported"

echo "== phase 3: the kiosk sells from the camera, and survives an unplug"
# The kiosk's control API and customer display listen on loopback, which the guest brings up here.
ip link set lo up 2>/dev/null || busybox ip link set lo up
export QRPOS_HOME=/tmp/kiosk-home
m=$("$qrpos" merchant create --name "HIL Kiosk" --city Hangzhou) || fail "cannot make the merchant"
w=$("$qrpos" wallet create --name HIL) || fail "cannot make the wallet"
"$qrpos" wallet deposit "$w" 10.00 >/dev/null || fail "cannot fund the wallet"
# A one-time code (60 s) held for 1 s in every 4: the kiosk charges it once; each return of it is
# a new presentation, a new sale, and declined as used.
code=$("$qrpos" wallet code "$w" --json | sed -n 's/.*"code":"\([0-9]*\)".*/\1/p')
[ -n "$code" ] || fail "no payment code"
"$qrpos" frames --out "$work/kiosk.grey" --format grey --size 320x240 "qr:$code*60" 'blank*180' || fail "cannot draw the kiosk's frames"
cp "$work/kiosk.grey" "$work/loop.grey"
{ pkill -f stream-out-mmap 2>/dev/null || busybox pkill -f stream-out-mmap; }    # the streamer loop starts again on the new frames
timeout 170 "$qrpos" kiosk --merchant "$m" --camera $cap --width 320 --height 240 --amount 1.00 --result-seconds 1 \
  --control 127.0.0.1:0 > "$work/kiosk.jsonl" 2> "$work/kiosk.log" &
kiosk=$!
# Where each of the kiosk's threads is, for a failure report: a kiosk stuck in a charge says
# what it waits on.
threads() {
  for t in /proc/$kiosk/task/*; do
    echo "thread $(basename "$t") $(cat "$t/comm" 2>/dev/null) state=$(awk '{print $3}' "$t/stat" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)"
  done
}
stuck() { cat "$work/kiosk.jsonl" "$work/kiosk.log"; threads; fail "$1"; }
wait_for() {  # wait_for PATTERN SECONDS
  for _ in $(seq $(($2 * 10))); do grep -q "$1" "$work/kiosk.jsonl" && return 0; sleep 0.1; done
  return 1
}
wait_for '"kind":"approved"' 90 || stuck "the kiosk approved no sale from the camera"
grep -q '"kind":"camera_open"' "$work/kiosk.jsonl" || fail "the kiosk did not report its camera open"
echo "kiosk: approved from the camera; unplugging"
v4l2-ctl -d $cap -c disconnect=1 || fail "cannot trigger vivid's disconnect"
wait_for '"kind":"camera_down"' 60 || stuck "the kiosk did not report the camera down"
wait_for '"kind":"camera_back"' 90 || stuck "the kiosk did not get its camera back"
kill $kiosk; wait $kiosk 2>/dev/null
grep -c '"kind":"approved"' "$work/kiosk.jsonl" | grep -qx 1 || { cat "$work/kiosk.jsonl"; fail "the one code was approved more than once"; }
balance=$("$qrpos" wallet balance "$w" --json | sed -n 's/.*"balance":"\([0-9.]*\)".*/\1/p')
[ "$balance" = "9.00" ] || fail "the wallet holds $balance, not 9.00: charged other than once"
"$qrpos" ledger audit >/dev/null || fail "the ledger audit failed after the kiosk"
grep -E '"kind":"(approved|declined|camera_[a-z]+)"' "$work/kiosk.jsonl" | sed 's/"payload":"[^"]*",//'

touch "$work/stop-output"
kill $streamer 2>/dev/null
echo "HIL PASS"
