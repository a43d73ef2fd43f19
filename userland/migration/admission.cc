#include "migration/admission.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace grappe {

std::vector<std::string> cpu_flags(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream f(line.substr(colon + 1));
    std::vector<std::string> out;
    for (std::string w; f >> w;) out.push_back(w);
    std::sort(out.begin(), out.end());
    return out;
  }
  return {};
}

std::vector<std::string> missing_flags(const std::vector<std::string>& need, const std::vector<std::string>& have) {
  std::set<std::string> h(have.begin(), have.end());
  std::vector<std::string> out;
  for (const auto& n : need)
    if (!h.count(n)) out.push_back(n);
  return out;
}

uint64_t mem_available_kb(const std::string& meminfo_text) {
  std::istringstream in(meminfo_text);
  std::string key;
  uint64_t v = 0;
  while (in >> key >> v) {
    if (key == "MemAvailable:") return v;
    in.ignore(256, '\n');
  }
  return 0;
}

}  // namespace grappe
