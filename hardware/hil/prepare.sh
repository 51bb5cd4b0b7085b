#!/usr/bin/env bash
# Prepares what the hardware-in-the-loop guest boots: Debian's stock kernel (vivid, virtio and 9p
# are modules in it) unpacked into CACHE with its module index, and a busybox initramfs that
# mounts the host's root read-only over 9p. Nothing on the host's /boot or /lib/modules is touched.
# Idempotent: a second run reuses what is there.
#   hardware/hil/prepare.sh CACHE     (prints the kernel version on success)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: prepare.sh CACHE}
mkdir -p "$cache"
cd "$cache"

kver_file=kernel-version
if [ ! -s "$kver_file" ]; then
  kver=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: linux-image-\(.*\)/\1/p' | head -1)
  if [ -z "$kver" ]; then apt-get update -qq >/dev/null; kver=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*\)/\1/p' | head -1); fi
  [ -n "$kver" ] || { echo "hil: cannot find Debian's linux-image-amd64 kernel version" >&2; exit 1; }
  echo "$kver" > "$kver_file.tmp" && mv "$kver_file.tmp" "$kver_file"
fi
kver=$(cat "$kver_file")

if [ ! -e "kpkg/lib/modules/$kver/modules.dep" ]; then
  rm -rf kpkg ./*.deb
  apt-get download "linux-image-$kver" >/dev/null 2>&1 || { echo "hil: cannot download linux-image-$kver" >&2; exit 1; }
  dpkg -x linux-image-"$kver"_*.deb kpkg
  rm -f ./*.deb
  depmod -a -b "$PWD/kpkg" "$kver"     # the .deb ships no modules.dep
fi

if [ ! -s initrd.cpio.gz ] || [ "$here/init" -nt initrd.cpio.gz ]; then
  rm -rf initrd && mkdir -p initrd/{bin,mods,proc,sys,dev,newroot}
  cp /bin/busybox initrd/bin/
  : > initrd/mods.order
  for m in 9p 9pnet_virtio virtio_pci; do
    modprobe -d "$PWD/kpkg" -S "$kver" --show-depends "$m"
  done | awk '$1 == "insmod" {print $2}' | awk '!seen[$0]++' | while read -r path; do
    cp "$path" initrd/mods/
    basename "$path" >> initrd/mods.order
  done
  cp "$here/init" initrd/init
  chmod +x initrd/init
  (cd initrd && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > initrd.cpio.gz.tmp
  mv initrd.cpio.gz.tmp initrd.cpio.gz
fi
echo "$kver"
