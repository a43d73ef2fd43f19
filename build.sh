#!/usr/bin/env bash
# Grappe: the two commands.
#   ./build.sh          install host dependencies (apt, idempotent), build the tools,
#                       build the default image into out/
#   ./build.sh test     the same setup, then every test through ctest
# Extra arguments after `build`/nothing go to grappe-build (see `./build.sh --help`).
set -euo pipefail
cd "$(dirname "$0")"

HOST_PACKAGES=(
  build-essential cmake pkg-config ca-certificates
  libsodium-dev nlohmann-json3-dev libcli11-dev doctest-dev libtoml11-dev libcpp-httplib-dev libsystemd-dev
  mmdebstrap debian-archive-keyring squashfs-tools xorriso isolinux syslinux-common
  grub-efi-amd64-bin grub-common mtools dosfstools ipxe cpio kmod xz-utils zstd busybox-static
  qemu-system-x86 ipxe-qemu qemu-utils ovmf fdisk iproute2 procps binutils nftables python3 clang libclang-rt-14-dev
  chromium chromium-driver python3-selenium
)

usage() {
  cat <<'USAGE'
usage: ./build.sh [test | tools | deps | --help] [grappe-build options…]
  (none)   install host packages, build the C++ tools, build recipes/default.toml into out/
  test     install host packages, build the tools, run every test (ctest: unit, image, qemu)
  tools    install host packages and build the C++ tools only (build/)
  deps     install host packages only
Environment: GRAPPE_MIRROR=URL overrides the Debian mirror (default: this host's apt sources);
             GRAPPE_CACHE=DIR moves the stage cache (default: out/cache);
             CTEST_ARGS="…" adds arguments to ctest (e.g. "-L unit").
USAGE
}

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: installing packages and building images (mmdebstrap, loop mounts) needs root." >&2
    echo "          Run it as root, e.g.: sudo ./build.sh $*" >&2
    exit 1
  fi
}

install_deps() {
  local missing=()
  for p in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "build.sh: host packages already installed"
    return
  fi
  need_root
  echo "build.sh: installing ${#missing[@]} host packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

build_tools() {
  # A unity build, as the image's userland stage does (cold, 2 cores: 6.8 min instead of 10.0;
  # the unit tests build file by file, tests/CMakeLists.txt).
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8 >/dev/null
  cmake --build build -j "$(nproc)"
}

case "${1:-}" in
  -h|--help|help) usage; exit 0 ;;
  deps) install_deps ;;
  tools) install_deps; build_tools ;;
  test)
    shift
    install_deps
    build_tools
    cd build
    # -j2: the one-VM boot tests run two at a time; every other test claims both cores and runs
    # alone (PROCESSORS in tests/CMakeLists.txt).
    # shellcheck disable=SC2086
    exec ctest -j2 --output-on-failure --timeout 3600 ${CTEST_ARGS:-} "$@"
    ;;
  *)
    install_deps
    build_tools
    need_root
    exec build/builder/grappe-build build recipes/default.toml "$@"
    ;;
esac
