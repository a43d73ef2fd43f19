#!/usr/bin/env bash
# ctest "image": builds recipes/test.toml, inspects the artifacts, then checks caching (no-op
# rebuild, overlay change), that a build killed mid-way leaves no broken ISO behind, the manifest,
# and that building the initramfs, pxe and iso stages again gives byte-identical files.
set -euo pipefail
BUILD=$(readlink -f "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${GRAPPE_TEST_OUT:-$SRC/out/test}
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: building an image needs root (mmdebstrap, chroot)"; exit 77; fi
cd "$SRC"
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
stage_cached() { python3 -c "import json,sys; d=json.load(open('$OUT/build.json')); print(' '.join(s['name'] for s in d['stages'] if s['cached'] == (sys.argv[1]=='1')))" "$1"; }
TMP=$(mktemp -d)
BPID=
cleanup() { [ -n "$BPID" ] && kill -9 "$BPID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

echo "== build recipes/test.toml into $OUT"
"$BUILD" build recipes/test.toml --out "$OUT"
ISO=$OUT/grappe-amd64.iso
[ -s "$ISO" ] || fail "no ISO at $ISO"
BUILD_ID=$(python3 -c "import json; print(json.load(open('$OUT/build.json'))['build_id'])")

echo "== El Torito, MBR and GPT"
xorriso -indev "$ISO" -report_el_torito plain 2>/dev/null > "$TMP/eltorito"
grep -q "El Torito boot img :   1  BIOS" "$TMP/eltorito" || fail "no BIOS El Torito entry: $(cat "$TMP/eltorito")"
grep -q "El Torito boot img :   2  UEFI" "$TMP/eltorito" || fail "no UEFI El Torito entry: $(cat "$TMP/eltorito")"
ok "El Torito entries: BIOS and UEFI"
[ "$(od -An -tx1 -j510 -N2 "$ISO" | tr -d ' ')" = "55aa" ] || fail "no MBR boot signature"
[ "$(dd if="$ISO" bs=1 skip=512 count=8 2>/dev/null)" = "EFI PART" ] || fail "no GPT header at LBA 1"
sfdisk -l "$ISO" 2>/dev/null | grep -qi "gpt\|dos" || fail "sfdisk sees no partition table"
ok "hybrid: MBR signature and GPT header present"

echo "== files on the ISO"
xorriso -indev "$ISO" -find / -type f 2>/dev/null > "$TMP/files"
for f in /boot/vmlinuz /boot/initrd.img /live/base.squashfs /live/node.squashfs /live/SHA256SUMS \
         /isolinux/isolinux.bin /isolinux/isolinux.cfg /boot/grub/grub.cfg /boot/grub/efi.img \
         /EFI/BOOT/BOOTX64.EFI /pxe/boot.ipxe /pxe/undionly.kpxe /pxe/snponly.efi "/grappe/$BUILD_ID"; do
  grep -qx "'$f'" "$TMP/files" || grep -qx "$f" "$TMP/files" || fail "missing on the ISO: $f"
done
ok "expected files present (build $BUILD_ID)"
xorriso -osirrox on -indev "$ISO" -extract /isolinux/isolinux.cfg "$TMP/isolinux.cfg" -extract /boot/grub/grub.cfg "$TMP/grub.cfg" >/dev/null 2>&1
grep -q "^DEFAULT serial" "$TMP/isolinux.cfg" || fail "isolinux default is not the recipe's (serial)"
for e in node debug serial serve; do
  grep -q "^LABEL $e" "$TMP/isolinux.cfg" || fail "isolinux entry $e missing"
  grep -q -- "--id $e" "$TMP/grub.cfg" || fail "grub entry $e missing"
done
ok "boot menus: node, debug, serial, serve; default serial"

echo "== sizes"
ISO_MB=$(( $(stat -c %s "$ISO") / 1000000 ))
BASE=$OUT/pxe/base.squashfs; NODE=$OUT/pxe/node.squashfs
echo "ISO ${ISO_MB} MB, base layer $(( $(stat -c %s "$BASE") / 1000000 )) MB, node layer $(( $(stat -c %s "$NODE") / 1000 )) kB"
[ "$ISO_MB" -lt 400 ] || fail "test ISO is ${ISO_MB} MB, expected < 400"
[ "$(stat -c %s "$NODE")" -lt "$(stat -c %s "$BASE")" ] || fail "node layer not smaller than the base"

echo "== layers and initramfs content"
unsquashfs -l "$NODE" > "$TMP/node.list"
grep -q "usr/bin/grappe$" "$TMP/node.list" || fail "node layer lacks usr/bin/grappe"
grep -q "usr/lib/grappe/grappe-job-init$" "$TMP/node.list" || fail "node layer lacks usr/lib/grappe/grappe-job-init"
grep -q "etc/grappe/image.json$" "$TMP/node.list" || fail "node layer lacks image.json"
grep -q "grappe-ready.service$" "$TMP/node.list" || fail "node layer lacks grappe-ready.service"
unsquashfs -l "$BASE" > "$TMP/base.list"
grep -q "/kernel/sound/" "$TMP/base.list" && fail "trimmed module tree kernel/sound is in the base layer"
grep -q "/kernel/fs/isofs/" "$TMP/base.list" || fail "kept module tree fs/isofs missing from the base layer"
unsquashfs -cat "$BASE" etc/machine-id > "$TMP/mid" 2>/dev/null || true
[ ! -s "$TMP/mid" ] || fail "the base layer carries a machine-id: $(cat "$TMP/mid")"
grep -q "var/lib/dbus/machine-id$" "$TMP/base.list" && fail "the base layer carries a dbus machine-id"
grep -q "etc/ssh/ssh_host_" "$TMP/base.list" && fail "the base layer carries ssh host keys"
ok "no identity baked into the image; trimmed trees absent"
zstd -dc "$OUT/pxe/initrd.img" | cpio -t --quiet > "$TMP/initrd.list"
for f in init bin/busybox etc/grappe-init.conf lib/grappe/udhcpc.script; do grep -qx "$f" "$TMP/initrd.list" || fail "initrd lacks $f"; done
grep -q "kernel/fs/isofs/isofs.ko$" "$TMP/initrd.list" || fail "initrd lacks isofs.ko"
grep -q "kernel/drivers/scsi/sr_mod.ko$" "$TMP/initrd.list" || fail "initrd lacks sr_mod.ko"
ok "initrd: /init, busybox, $(grep -c '\.ko$' "$TMP/initrd.list") modules"

echo "== PXE bundle"
for f in vmlinuz initrd.img base.squashfs node.squashfs SHA256SUMS boot.ipxe undionly.kpxe snponly.efi dnsmasq-proxy.conf.example; do
  [ -s "$OUT/pxe/$f" ] || fail "out/pxe/$f missing"
done
(cd "$OUT/pxe" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS does not match the layers"
for h in $(grep '\.squashfs$' "$OUT/pxe/SHA256SUMS" | cut -d' ' -f1); do grep -q "$h" "$OUT/pxe/boot.ipxe" || fail "boot.ipxe lacks hash $h"; done
head -1 "$OUT/pxe/boot.ipxe" | grep -qx '#!ipxe' || fail "boot.ipxe is not an iPXE script"
ok "pxe/: loaders, script with the layer hashes, dnsmasq example"

echo "== the cluster key: on the medium for root, in nothing network boot serves"
KEY=$(python3 -c "import tomllib; print(tomllib.load(open('recipes/test.toml','rb'))['cluster']['key'])" 2>/dev/null ||
      sed -n 's/^key = "\([0-9a-f]\{64\}\)".*/\1/p' recipes/test.toml)
[ ${#KEY} -eq 64 ] || fail "cannot read the test recipe's cluster key"
grep -qx "'/grappe/cluster.key'" "$TMP/files" || grep -qx "/grappe/cluster.key" "$TMP/files" || fail "the ISO carries no /grappe/cluster.key"
xorriso -osirrox on -indev "$ISO" -extract /grappe/cluster.key "$TMP/iso.key" >/dev/null 2>&1
[ "$(cat "$TMP/iso.key")" = "$KEY" ] || fail "the ISO's /grappe/cluster.key is not the recipe's key"
[ "$(stat -c %a "$ISO")" = 600 ] || fail "the ISO carries the key but is mode $(stat -c %a "$ISO"), not 600"
# Everything network boot serves (out/pxe, and what a node's boot service serves: the same files
# from the medium), unpacked: neither the key nor its bytes in any form a parser would take.
mkdir -p "$TMP/served/initrd"
(cd "$TMP/served/initrd" && zstd -dc "$OUT/pxe/initrd.img" | cpio -id --quiet 2>/dev/null)
unsquashfs -q -d "$TMP/served/node" "$OUT/pxe/node.squashfs" >/dev/null
KEYB64=$(python3 -c "import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode()[:40])" "$KEY")
for f in "$OUT"/pxe/*; do
  grep -qaiF "$KEY" "$f" && fail "out/pxe/$(basename "$f") carries the cluster key"
done
grep -rlaiF -e "$KEY" -e "$KEYB64" "$TMP/served/initrd" "$TMP/served/node" > "$TMP/leaks" && fail "served files carry the cluster key: $(cat "$TMP/leaks")"
python3 - "$KEY" "$TMP/served/initrd" "$TMP/served/node" <<'PY' || fail "the cluster key's raw bytes are in a served file"
import os, sys
key = bytes.fromhex(sys.argv[1])
for top in sys.argv[2:]:
    for d, _, names in os.walk(top):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p) and key in open(p, 'rb').read():
                print(p); sys.exit(1)
PY
[ ! -e "$TMP/served/node/etc/grappe/cluster.key" ] || fail "the node layer carries etc/grappe/cluster.key"
grep -q "^pub=[0-9a-f]\{64\}$" "$TMP/served/initrd/etc/grappe-init.conf" || fail "the initrd carries no boot public key"
grep -q "^key=" "$TMP/served/initrd/etc/grappe-init.conf" && fail "the initrd's grappe-init.conf has a key= line"
ok "the key is on the ISO only ($(stat -c %a "$ISO")); out/pxe, the unpacked initrd and node layer carry neither it nor its bytes"
rm -rf "$TMP/served"

echo "== no-op rebuild reuses every stage"
t0=$(date +%s.%N)
"$BUILD" build recipes/test.toml --out "$OUT" > "$TMP/noop.log"
t1=$(date +%s.%N)
[ -z "$(stage_cached 0)" ] || fail "no-op rebuild rebuilt: $(stage_cached 0)"
ok "no-op rebuild: all cached in $(python3 -c "print(round($t1-$t0,1))") s"

echo "== an overlay change rebuilds only the node layer and what follows it"
mkdir -p "$TMP/extra/etc/grappe"
echo "marker $$" > "$TMP/extra/etc/grappe/test-marker"
"$BUILD" build recipes/test.toml --out "$OUT" --extra-overlay "$TMP/extra" > "$TMP/overlay.log"
REBUILT=$(stage_cached 0)
[ "$REBUILT" = "overlay node pxe iso" ] || fail "an overlay change rebuilt '$REBUILT', expected 'overlay node pxe iso'"
unsquashfs -l "$OUT/pxe/node.squashfs" | grep -q "etc/grappe/test-marker" || fail "the extra file is not in the node layer"
ok "overlay change rebuilt only: $REBUILT"

echo "== a build killed in the middle leaves no broken ISO"
ISO_SUM=$(sha256sum "$ISO" | cut -d' ' -f1)
echo "marker 2 $$" > "$TMP/extra/etc/grappe/test-marker"
head -c 48M /dev/urandom > "$TMP/extra/etc/grappe/ballast"  # incompressible: the ISO stage takes seconds
"$BUILD" build recipes/test.toml --out "$OUT" --extra-overlay "$TMP/extra" > "$TMP/killed.log" 2>&1 &
BPID=$!
SEEN=
for _ in $(seq 1 600); do
  ls "$OUT"/.grappe-amd64.iso.tmp-* >/dev/null 2>&1 && { SEEN=1; break; }
  kill -0 "$BPID" 2>/dev/null || break
  sleep 0.1
done
kill -9 "$BPID" 2>/dev/null || true
wait "$BPID" 2>/dev/null || true
BPID=
[ -n "$SEEN" ] || fail "never saw the build inside its ISO stage (see $TMP/killed.log)"
[ "$(sha256sum "$ISO" | cut -d' ' -f1)" = "$ISO_SUM" ] || fail "the ISO at the final path changed after kill -9"
"$BUILD" build recipes/test.toml --out "$OUT" > "$TMP/resume.log"
ls -a "$OUT" | grep -q '\.tmp-' && fail "temporary files left after the resumed build: $(ls -a "$OUT")"
for s in $(stage_cached 0); do
  case $s in overlay|node|iso|pxe) ;; *) fail "resuming rebuilt the $s stage" ;; esac
done
ok "kill -9 mid-build: final ISO untouched; rerun resumed and cleaned up"
echo "== the manifest: recipe, build and every package with its version, in the image and in out/"
python3 - "$OUT/manifest.json" "$BUILD_ID" "$(sha256sum recipes/test.toml | cut -d' ' -f1)" <<'PY' || fail "out/manifest.json is wrong (above)"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["build_id"] == sys.argv[2], ("build_id", m["build_id"])
assert m["recipe_sha256"] == sys.argv[3], ("recipe_sha256", m["recipe_sha256"])
k = [p for p in m["packages"] if p["name"].startswith("linux-image-")]
assert k and all(p["version"] for p in k), "no kernel package with its version"
assert len(m["packages"]) > 50, len(m["packages"])
print("ok: manifest lists %d packages, the kernel %s %s" % (len(m["packages"]), k[0]["name"], k[0]["version"]))
PY
unsquashfs -cat "$OUT/pxe/node.squashfs" usr/share/grappe/manifest.json | cmp -s - "$OUT/manifest.json" ||
  fail "the node layer's usr/share/grappe/manifest.json differs from out/manifest.json"
ok "the node layer carries the same manifest"

echo "== two builds of one recipe give the same bytes (initramfs, pxe and iso built again)"
sums() { (cd "$OUT" && sha256sum grappe-amd64.iso manifest.json pxe/*); }
sums > "$TMP/sums1"
rm -rf "$OUT"/cache/initramfs-* "$OUT/.pxe.key" "$OUT/.grappe-amd64.iso.key"
"$BUILD" build recipes/test.toml --out "$OUT" > "$TMP/again.log"
for s in initramfs pxe iso; do stage_cached 0 | grep -qw "$s" || fail "the $s stage was not built again: $(stage_cached 0)"; done
sums > "$TMP/sums2"
diff "$TMP/sums1" "$TMP/sums2" > "$TMP/sumdiff" || fail "the second build's files differ: $(cat "$TMP/sumdiff")"
ok "$(wc -l < "$TMP/sums2") output files byte-identical across two builds"
echo "image test: all checks passed"
