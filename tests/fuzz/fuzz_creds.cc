// libFuzzer target for the credentials reader a migration target runs on received core images
// (migration/image_creds.h): any bytes a member sends. A crash or out-of-bounds read is a finding.
#include <string>

#include "migration/image_creds.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  grappe::ImageCreds c;
  std::string why;
  const std::string in(reinterpret_cast<const char*>(data), size);
  if (grappe::parse_core_creds(in, c, why)) (void)grappe::creds_mismatch(c, 1000, {1000});
  return 0;
}
