#!/usr/bin/env bash
# Installs the Debian packages qrpos builds and tests against, only when one is missing.
#   hardware/deps.sh          what the build and the demo need
#   hardware/deps.sh --hil    also QEMU and the V4L2 tools of the hardware-in-the-loop rig (tests)
# Run as root or with sudo available. --no-install-recommends keeps libzbar-dev from pulling
# in ~100 packages of GTK/Ghostscript/autotools it does not need.
set -euo pipefail

packages=(
  pkg-config
  libzbar-dev       # zbar: the decoder behind `qrpos scan`
  libqrencode-dev   # libqrencode: QR generation
  libv4l-dev        # libv4l2: camera capture with format conversion
  libpng-dev        # libpng: PNG in and out
  libsqlite3-dev    # SQLite, through GRDB
  zbar-tools        # zbarimg: an independent decoder the tests cross-check against
  libzint-dev       # zint: Code 128 barcodes (payment codes on a phone screen)
)

if [ "${1:-}" = "--hil" ]; then
  packages+=(
    qemu-system-x86   # boots Debian's kernel with the vivid V4L2 driver (hardware/hil)
    v4l-utils         # v4l2-ctl: configures vivid and streams frames into its output node
    busybox-static    # the guest's initramfs
    kmod              # depmod/modprobe for the guest's modules
    faketime          # libfaketime: a terminal or a phone whose clock is off, in the fault tests
    cups-daemon       # cupsd: the printer tests print cups:QUEUE through a private scheduler (services/cups.sh)
    cups-client       # lp and lpadmin
    curl              # hardware/rig/checkouts.sh drives the till's control API with it
    tmux              # the cashier's screen is tested by keys sent and screens captured in tmux
    chromium-headless-shell  # the customer display is tested in headless Chromium (screenshot, live page)
    systemd           # systemd-analyze verifies hardware/systemd/qrpos-till.service
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "qrpos: installing Debian packages: ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
