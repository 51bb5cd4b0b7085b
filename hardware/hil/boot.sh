#!/usr/bin/env bash
# Boots the prepared guest kernel under qemu and runs one command in it, with WORK shared
# read-write (at the same path) and the host's root read-only. Exits with the command's status.
#   hardware/hil/boot.sh CACHE WORK 'command run in the guest, from WORK'
# Uses TCG (software emulation): KVM on these machines is nested without hardware support and
# hangs the guest. On a host with real VT-x/AMD-V set HIL_ACCEL=kvm.
set -euo pipefail
cache=$(cd "${1:?usage: boot.sh CACHE WORK CMD}" && pwd)
work=$(cd "${2:?}" && pwd)
cmd=${3:?}
# The repository is shared again at its own path: the guest mounts a tmpfs over /tmp, which
# would hide a checkout (and its qrpos binary and kernel cache) that lives under /tmp.
repo=$(cd "$(dirname "$0")/../.." && pwd)
kver=$(cat "$cache/kernel-version")
accel=${HIL_ACCEL:-tcg}
timeout_s=${HIL_TIMEOUT:-480}

# The kernel command line cannot carry spaces in one argument: the command goes in a script.
printf '#!/bin/bash\nexport PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd\n%s\n' "$cmd" > "$work/guest-cmd.sh"
chmod +x "$work/guest-cmd.sh"
rm -f "$work/guest-rc"

set +e
# -k: qemu that does not stop on SIGTERM (its main loop stuck) is killed 20 s later.
timeout -k 20 "$timeout_s" qemu-system-x86_64 -machine q35,accel="$accel" -cpu max -smp 1 -m 1G \
  -display none -nodefaults -no-reboot -serial stdio \
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
  -kernel "$cache/kpkg/boot/vmlinuz-$kver" -initrd "$cache/initrd.cpio.gz" \
  -append "console=ttyS0 panic=-1 quiet hil_repo=$repo hil_work=$work hil_cmd=$work/guest-cmd.sh" \
  -fsdev local,id=p,path="$repo",security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=p,mount_tag=repo \
  -fsdev local,id=r,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=r,mount_tag=hostroot \
  -fsdev local,id=w,path="$work",security_model=none,multidevs=remap -device virtio-9p-pci,fsdev=w,mount_tag=work \
  </dev/null > "$work/serial.log" 2>&1
q=$?
set -e
# isa-debug-exit: qemu exits with (guest status << 1) | 1; 124 is the host timeout (137 when
# qemu had to be killed after it).
if [ "$q" = 124 ] || [ "$q" = 137 ]; then echo "hil: the guest did not finish within ${timeout_s}s (serial log: $work/serial.log)" >&2; exit 124; fi
if [ $((q & 1)) = 1 ]; then exit $((q >> 1)); fi
if [ -s "$work/guest-rc" ]; then exit "$(cat "$work/guest-rc")"; fi
echo "hil: the guest stopped without reporting a status (qemu exit $q; serial log: $work/serial.log)" >&2
exit 125
