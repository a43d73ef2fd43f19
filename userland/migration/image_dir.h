// Where migration images live on disk (<work_dir>/<job>-out on the source, <job>-in on the
// target, CRIU's logs in <dir>.work): a job's memory, so directories are created 0700 and the
// files grapped writes 0600. Leftovers of handoffs cut by a crash or a restart are swept when
// the migrator starts.
#pragma once
#include <string>
#include <system_error>

namespace grappe {

// Creates `dir` (and missing parents) and makes it 0700. False with `ec` set when it cannot.
bool make_private_dir(const std::string& dir, std::error_code& ec);
// Creates `path` 0600 for writing; fails (false, errno set) when it exists already.
bool create_private_file(const std::string& path);
// Removes what handoffs left under `work_dir` (<id>-in, <id>-out and their .work directories;
// nothing else) and makes `work_dir` private. Returns how many entries went.
int sweep_image_dirs(const std::string& work_dir, std::error_code& ec);

}  // namespace grappe
