#include <doctest/doctest.h>

#include <algorithm>

#include "modindex.h"

using namespace grappe::init;

namespace {
const char* kDep =
    "kernel/fs/isofs/isofs.ko.xz:\n"
    "kernel/drivers/scsi/sr_mod.ko.xz: kernel/drivers/cdrom/cdrom.ko.xz kernel/drivers/scsi/scsi_mod.ko.xz\n"
    "kernel/drivers/cdrom/cdrom.ko.xz:\n"
    "kernel/drivers/scsi/scsi_mod.ko.xz: kernel/lib/scsi-common.ko.xz\n"
    "kernel/lib/scsi-common.ko.xz:\n"
    "kernel/drivers/block/virtio_blk.ko.xz:\n"
    "kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/scsi/scsi_mod.ko.xz kernel/lib/scsi-common.ko.xz\n";
const char* kAlias =
    "alias virtio:d00000002v* virtio_blk\n"
    "alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb-storage\n"
    "alias scsi:t-0x05* sr_mod\n";
}  // namespace

TEST_CASE("module names follow the kernel's rules") {
  CHECK(module_name("kernel/drivers/usb/storage/usb-storage.ko.xz") == "usb_storage");
  CHECK(module_name("kernel/fs/isofs/isofs.ko") == "isofs");
  CHECK(strip_compression("a/b.ko.zst") == "a/b.ko");
  CHECK(strip_compression("a/b.ko") == "a/b.ko");
}

TEST_CASE("closure includes every dependency once, and reports unknown names") {
  ModuleIndex idx;
  idx.add_dep_text(kDep);
  std::vector<std::string> missing;
  auto c = idx.closure({"sr_mod", "usb-storage", "squashfs"}, &missing);
  CHECK(c == std::vector<std::string>{"kernel/drivers/cdrom/cdrom.ko.xz", "kernel/drivers/scsi/scsi_mod.ko.xz",
                                      "kernel/drivers/scsi/sr_mod.ko.xz",
                                      "kernel/drivers/usb/storage/usb-storage.ko.xz", "kernel/lib/scsi-common.ko.xz"});
  CHECK(missing == std::vector<std::string>{"squashfs"});
}

TEST_CASE("load order puts dependencies of dependencies first") {
  ModuleIndex idx;
  idx.add_dep_text(kDep);
  auto order = idx.load_order("kernel/drivers/scsi/sr_mod.ko.xz");
  auto pos = [&](const std::string& s) { return std::find(order.begin(), order.end(), s) - order.begin(); };
  REQUIRE(order.size() == 3);
  CHECK(pos("kernel/lib/scsi-common.ko.xz") < pos("kernel/drivers/scsi/scsi_mod.ko.xz"));
}

TEST_CASE("modalias matching uses the alias globs") {
  ModuleIndex idx;
  idx.add_alias_text(kAlias);
  CHECK(idx.match("virtio:d00000002v00001AF4") == std::vector<std::string>{"virtio_blk"});
  CHECK(idx.match("usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00") == std::vector<std::string>{"usb_storage"});
  CHECK(idx.match("pci:v00008086d00001237sv*") .empty());
}

TEST_CASE("trimmed trees match whole path components") {
  CHECK(under_any("kernel/sound/core/snd.ko.xz", {"kernel/sound"}));
  CHECK_FALSE(under_any("kernel/soundwire/x.ko.xz", {"kernel/sound"}));
  CHECK(under_any("kernel/sound", {"kernel/sound/"}));
}
