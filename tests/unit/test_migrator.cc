#include <doctest/doctest.h>

#include "migration/admission.h"

using namespace grappe;

TEST_CASE("migration admission: the target must have every CPU feature of the source") {
  const std::string cpuinfo =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2 aes\nbugs\t\t: none\n"
      "processor\t: 1\nflags\t\t: fpu sse2 avx2 aes\n";
  auto have = cpu_flags(cpuinfo);
  CHECK(have == std::vector<std::string>{"aes", "avx2", "fpu", "sse2"});
  CHECK(missing_flags({"fpu", "sse2"}, have).empty());
  CHECK(missing_flags({"fpu", "avx512f", "sse2", "sha_ni"}, have) == std::vector<std::string>{"avx512f", "sha_ni"});
  CHECK(cpu_flags("no flags here\n").empty());
}
