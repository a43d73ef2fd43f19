// All state of one image build, shared by the stages (mold-style: one context). The pipeline computes
// keys and adopts outputs on its own thread; each build runs on a thread of its own with a copy.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "process.h"
#include "progress.h"
#include "recipe.h"

namespace grappe::build {

struct BuildContext {
  Recipe recipe;
  std::filesystem::path repo;     // source tree: overlay/, userland/, iso/, kernel/, initramfs/
  std::filesystem::path out;      // final artifacts
  std::filesystem::path cache;    // stage cache
  std::filesystem::path logdir;   // out/log
  std::filesystem::path init_binary;  // host-built static grappe-init
  std::string mirror;
  std::string tool_hash;  // of grappe-build itself: part of the keys of the cheap final stages
  std::vector<std::filesystem::path> extra_overlays;
  std::string recipe_sha256;  // of the recipe file's bytes: named in the image's manifest
  ProcessRunner* runner = nullptr;
  Progress* progress = nullptr;
  int jobs = 2;
  std::string stage;  // in a stage's own copy of the context while it builds: its name (progress lines)

  // Filled in as stages run.
  std::map<std::string, std::string> keys;              // stage -> cache key
  std::map<std::string, std::filesystem::path> outputs;  // stage -> its output path
  std::map<std::string, bool> rebuilt;                    // stage -> built this run
  std::string kernel_version;
  std::string build_id;       // identifies the image's content; baked into initramfs + ISO
  std::string cluster_key;    // hex
};

}  // namespace grappe::build
