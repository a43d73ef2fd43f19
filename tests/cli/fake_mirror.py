#!/usr/bin/env python3
"""A tiny Debian archive for `grappe-build check-recipe`: fake_mirror.py DIR RECIPE [EXTRA…]
writes DIR/dists/trixie/Release and main/binary-amd64/Packages.xz holding every package the
recipe names (and its kernel package) plus EXTRA, and `mawk` providing `awk`."""
import hashlib, lzma, os, sys, tomllib

root, recipe, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(recipe, "rb") as f:
    r = tomllib.load(f)
names = set(r.get("rootfs", {}).get("packages", [])) | set(r.get("userland", {}).get("sdk_packages", []))
names |= {r.get("kernel", {}).get("package", "linux-image-amd64"), "systemd-sysv"} | set(extra)
stanzas = [f"Package: {n}\nVersion: 1.0\nArchitecture: amd64\n" for n in sorted(names)]
stanzas.append("Package: mawk\nVersion: 1.3\nArchitecture: amd64\nProvides: awk\n")
packed = lzma.compress("\n".join(stanzas).encode(), format=lzma.FORMAT_XZ)
dist = os.path.join(root, "dists", "trixie")
os.makedirs(os.path.join(dist, "main", "binary-amd64"), exist_ok=True)
with open(os.path.join(dist, "main", "binary-amd64", "Packages.xz"), "wb") as f:
    f.write(packed)
with open(os.path.join(dist, "Release"), "w") as f:
    f.write("Codename: trixie\nArchitectures: amd64\nComponents: main\nSHA256:\n"
            f" {hashlib.sha256(packed).hexdigest()} {len(packed)} main/binary-amd64/Packages.xz\n")
