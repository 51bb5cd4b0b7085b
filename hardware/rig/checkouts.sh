#!/usr/bin/env bash
# Scripted checkouts against a headless till, as a hardware-in-the-loop rig drives one: a fresh
# home (an embedded ledger, a merchant, and a funded customer wallet for every ten sales: one
# wallet paying hundreds of times in minutes is what its velocity rule declines, 20 payments in ten
# minutes by default), `qrpos till --headless` on a loopback port, then N sales through its control
# API, each checked by its answer:
#   - most: the customer's one-time code (from the wallet, as a phone shows it) posted as text;
#   - every 10th: the same, but as a PNG frame the till scans with zbar;
#   - every 25th: the merchant QR, paid by the wallet (`qrpos wallet pay`), the till learning of it;
#   - every 50th: a code that is not a payment code, which must be declined.
# Reports one JSON line: checkouts, failures, and the latency percentiles of the till's answer
# (the code's POST, or the QR's payment to the till's approved event). Exit 1 if any failed.
#
#   hardware/rig/checkouts.sh [--count N] [--qrpos PATH] [--keep DIR]
set -euo pipefail

count=1000
qrpos=""
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --qrpos) qrpos=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: $0 [--count N] [--qrpos PATH] [--keep DIR]" >&2; exit 64 ;;
  esac
done
repo=$(cd "$(dirname "$0")/../.." && pwd -P)
if [ -z "$qrpos" ]; then
  qrpos="$repo/.build/release/qrpos"
  [ -x "$qrpos" ] || qrpos="$repo/.build/debug/qrpos"
fi
[ -x "$qrpos" ] || { echo "checkouts.sh: no qrpos binary (swift build first, or --qrpos PATH)" >&2; exit 1; }
command -v curl >/dev/null || { echo "checkouts.sh: needs curl" >&2; exit 1; }

home=${keep:-$(mktemp -d /tmp/qrpos-rig-XXXXXX)}
mkdir -p "$home"
export QRPOS_HOME="$home"
till_pid=""
cleanup() {
  [ -n "$till_pid" ] && kill "$till_pid" 2>/dev/null || true
  [ -z "$keep" ] && rm -rf "$home"
}
trap cleanup EXIT

field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
number() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p" | head -n 1; }
now_ms() { date +%s%3N; }

merchant=$("$qrpos" merchant create --name "Rig Shop" --city Hangzhou --mcc 5411)
export QRPOS_MERCHANT="$merchant"
wallet=""
# The next customer: a new wallet with 1,000.00 on it (ten sales of at most 40.99 each).
next_customer() {
  wallet=$("$qrpos" wallet create --name "Rig Customer $1")
  "$qrpos" wallet deposit "$wallet" 1000.00 --source cash >/dev/null
}

"$qrpos" till --headless --control 127.0.0.1:0 --catalogue "$repo/assets/catalogue.json" >"$home/till.out" 2>"$home/till.err" &
till_pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(number listening <"$home/till.out" || true)
  [ -n "$port" ] && break
  kill -0 "$till_pid" 2>/dev/null || { cat "$home/till.err" >&2; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "checkouts.sh: the till did not start" >&2; exit 1; }
api="http://127.0.0.1:$port/v1"

post() { curl -sS --max-time 30 -X POST -H 'Content-Type: application/json' -d "$2" "$api/$1"; }
failures=0
: >"$home/latencies"
fail() { failures=$((failures + 1)); echo "checkout $1: $2" >>"$home/failures"; }

for i in $(seq 1 "$count"); do
  [ $(((i - 1) % 10)) -eq 0 ] && next_customer "$(((i - 1) / 10 + 1))"
  amount="$((1 + i % 40)).$(printf '%02d' $((i % 100)))"
  post sales "{\"amount\":\"$amount\"}" >/dev/null
  if [ $((i % 50)) -eq 0 ]; then
    answer=$(post sales/current/code '{"code":"not-a-payment-code"}')
    [ "$(field phase <<<"$answer")" = declined ] || fail "$i" "a bad code was not declined: $answer"
    continue
  fi
  if [ $((i % 25)) -eq 0 ]; then
    shown=$(post sales/current/qr '{}')
    payload=$(field qrPayload <<<"$shown")
    after=$(number lastEvent <<<"$shown")
    began=$(now_ms)
    "$qrpos" wallet pay "$payload" --wallet "$wallet" >/dev/null 2>&1 || fail "$i" "the wallet could not pay the QR"
    outcome=""
    while [ -z "$outcome" ]; do
      events=$(curl -sS --max-time 35 "$api/events?after=$after&wait=20")
      [ -n "$events" ] || { fail "$i" "no event within 20 s of the payment"; break; }
      outcome=$(grep -o '"kind":"\(approved\|declined\|cancelled\)"' <<<"$events" | head -n 1 || true)
      after=$(tail -n 1 <<<"$events" | number seq)
    done
    echo "qr $(($(now_ms) - began))" >>"$home/latencies"
    [ "$outcome" = '"kind":"approved"' ] || fail "$i" "the paid QR ended $outcome"
    continue
  fi
  if [ $((i % 10)) -eq 0 ]; then
    "$qrpos" wallet code "$wallet" --json --png "$home/code.png" >/dev/null
    timing=$(curl -sS --max-time 30 -o "$home/answer" -w '%{time_total}' -X POST --data-binary "@$home/code.png" "$api/sales/current/frame")
  else
    code=$("$qrpos" wallet code "$wallet" --json | field code)
    timing=$(curl -sS --max-time 30 -o "$home/answer" -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
      -d "{\"code\":\"$code\"}" "$api/sales/current/code")
  fi
  awk -v t="$timing" -v k="$([ $((i % 10)) -eq 0 ] && echo frame || echo code)" 'BEGIN { printf "%s %.3f\n", k, t * 1000 }' >>"$home/latencies"
  [ "$(field phase <"$home/answer")" = approved ] || fail "$i" "$(cat "$home/answer")"
done

# Percentiles (nearest rank) of all timed checkouts, and of each kind: code, frame, qr.
percentiles() { sort -n | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print "{\"n\":0}"; exit }
  i50 = int(NR * 0.50 + 0.999); i90 = int(NR * 0.90 + 0.999); i99 = int(NR * 0.99 + 0.999)
  printf "{\"n\":%d,\"p50_ms\":%s,\"p90_ms\":%s,\"p99_ms\":%s}", NR, v[i50], v[i90], v[i99] }'; }
all=$(cut -d' ' -f2 "$home/latencies" | percentiles)
kinds=""
for kind in code frame qr; do
  kinds="$kinds,\"$kind\":$(awk -v k=$kind '$1 == k { print $2 }' "$home/latencies" | percentiles)"
done
n=$(sed -n 's/.*"n":\([0-9]*\).*/\1/p' <<<"$all")
printf '{"rig":"checkouts","checkouts":%d,"timed":%d,"failures":%d,%s%s}\n' "$count" "$n" "$failures" "${all:1:${#all}-2}" "$kinds"
if [ "$failures" -gt 0 ]; then
  head -n 20 "$home/failures" >&2
  exit 1
fi
