// Recognising the boot medium: the ISO 9660 primary volume descriptor at byte 32768 carries the
// volume id baked at build time, whether the image sits on a CD or was written raw to a disk.
#pragma once
#include <string>

namespace grappe::init {

constexpr size_t kPvdOffset = 32768;
constexpr size_t kSector = 2048;

// The volume id (trailing spaces removed) from a 2048-byte sector, or "" if it is not a PVD.
std::string iso_volume_id(const unsigned char* sector, size_t len);
// Reads it from a block device or file; "" when unreadable or not ISO 9660.
std::string read_volume_id(const std::string& device);

}  // namespace grappe::init
