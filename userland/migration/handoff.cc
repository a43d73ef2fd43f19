#include "migration/handoff.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/mono_clock.h"
#include "common/json_fields.h"
#include "migration/image_dir.h"
#include "migration/peer_meta.h"

namespace grappe {
namespace fs = std::filesystem;
namespace {

bool safe_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n == "." || n == "..") return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

// A pre-dump's directory name: "pre-N", N < 100.
bool precopy_dir(const std::string& d) {
  return d.size() >= 5 && d.size() <= 6 && d.rfind("pre-", 0) == 0 &&
         d.find_first_not_of("0123456789", 4) == std::string::npos;
}

// Streams every regular file of `dir` (as files of `subdir` on the other side: "" or "pre-N");
// false when the link breaks or a file cannot be read.
bool send_images(const std::string& dir, const std::string& subdir, PeerLink& link, size_t chunk, uint64_t& bytes,
                 std::string& why) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    // CRIU may still be writing its statistics and log: the restore needs neither.
    if (e.is_regular_file() && name.rfind("stats-", 0) != 0 && !name.ends_with(".log")) files.push_back(e.path());
  }
  if (ec) {
    why = "cannot list the dump directory " + dir + ": " + ec.message();
    return false;
  }
  Frame data{"data", {}, {}};  // one buffer for every chunk: read into it, sent from it
  for (const auto& p : files) {
    uint64_t size = fs::file_size(p, ec);
    std::ifstream in(p, std::ios::binary);
    if (ec || !in) {
      why = "cannot read image " + p.string();
      return false;
    }
    nlohmann::json meta = {{"name", p.filename().string()}, {"size", size}};
    if (!subdir.empty()) meta["dir"] = subdir;
    if (!link.send({"file", meta, {}})) {
      why = "link to the target broke while sending images";
      return false;
    }
    for (uint64_t left = size; left > 0;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk));
      data.data.resize(n);
      if (!in.read(data.data.data(), static_cast<std::streamsize>(n))) {
        why = "short read on image " + p.string();
        return false;
      }
      if (!link.send(data)) {
        why = "link to the target broke while sending images";
        return false;
      }
      left -= n;
      bytes += n;
    }
  }
  return true;
}

// Pre-copy rounds while the job runs; `parent` ends as the last pre-dump sent ("" if none).
// False when the link broke (the job is still running here: nothing else happened).
bool precopy(pid_t pid, const std::string& dump_dir, PeerLink& link, Checkpointer& criu, const HandoffLimits& lim,
             SourceResult& r, std::string& parent, std::string& why) {
  if (lim.precopy.dirty_share) {
    const double share = lim.precopy.dirty_share(pid, lim.precopy.probe_s);
    if (share >= lim.precopy.skip_share) {
      char note[160];
      std::snprintf(note, sizeof note, "skipped: the job rewrote %.0f %% of its memory in %.1f s, faster than rounds could send it",
                    100 * share, lim.precopy.probe_s);
      r.precopy_note = note;
      return true;
    }
  }
  uint64_t prev = 0;
  for (int i = 0; i < lim.precopy.max_rounds; ++i) {
    const std::string name = "pre-" + std::to_string(i), dir = dump_dir + "/" + name;
    DumpResult p = criu.pre_dump(pid, dir, parent.empty() ? "" : "../" + parent);
    if (!p.ok) {
      r.precopy_note = "pre-dump " + std::to_string(i + 1) + " failed: " + p.error;
      std::error_code ec;
      fs::remove_all(dir, ec);
      return true;
    }
    uint64_t b = 0;
    if (!send_images(dir, name, link, lim.chunk, b, why)) return false;
    parent = name;
    ++r.precopy_rounds;
    r.precopy_bytes += b;
    if (b <= lim.precopy.small_bytes) return true;
    if (i > 0 && static_cast<double>(b) > lim.precopy.min_shrink * static_cast<double>(prev)) {
      r.precopy_note = "the dirty set stopped shrinking (" + std::to_string(b >> 20) + " MB after " +
                       std::to_string(prev >> 20) + " MB)";
      return true;
    }
    prev = b;
  }
  r.precopy_note = "stopped after " + std::to_string(lim.precopy.max_rounds) + " rounds";
  return true;
}

// The final images' parent chain, as CRIU left it on the source: parent -> pre-N, and each
// pre-K/parent -> ../pre-(K-1). Returns why not, or "".
std::string link_precopy(const std::string& image_dir, const std::string& parent) {
  if (parent.empty()) return "";
  if (!precopy_dir(parent)) return "refusing parent images '" + parent + "'";
  const fs::path base(image_dir);
  std::error_code ec;
  const int last = std::stoi(parent.substr(4));
  for (int k = last; k >= 0; --k) {
    const std::string name = "pre-" + std::to_string(k);
    if (!fs::is_directory(base / name)) return "pre-copy images " + name + " never arrived";
    const fs::path link = k == last ? base / "parent" : base / ("pre-" + std::to_string(k + 1)) / "parent";
    fs::create_directory_symlink(k == last ? fs::path(name) : fs::path("..") / name, link, ec);
    if (ec) return "cannot link " + link.string() + ": " + ec.message();
  }
  return "";
}


// The target gives up: the source is told why when `tell`, the images go.
TargetResult target_failed(PeerLink& link, const std::string& image_dir, const nlohmann::json& job, const std::string& why,
                           bool tell) {
  if (tell) link.send({"failed", {{"why", why}}, {}});
  std::error_code ec;
  fs::remove_all(image_dir, ec);
  return TargetResult{TargetOutcome::Failed, why, job, -1, {}};
}

// Opens the file a "file" frame announces, 0600, under `image_dir` (or its pre-N/); its name for
// messages in `shown`. Returns why not, or "".
std::string open_image(const ImageFile& img, const std::string& image_dir, std::ofstream& out, std::string& shown) {
  shown = img.dir.empty() ? img.name : img.dir + "/" + img.name;
  if (!safe_name(img.name)) return "refusing image name '" + img.name + "'";
  if (!img.dir.empty() && !precopy_dir(img.dir)) return "refusing image directory '" + img.dir + "'";
  const fs::path dir = img.dir.empty() ? fs::path(image_dir) : fs::path(image_dir) / img.dir;
  std::error_code ec;
  if (!make_private_dir(dir.string(), ec)) return "cannot create " + dir.string() + ": " + ec.message();
  const fs::path path = dir / img.name;
  if (fs::exists(path)) return "image " + shown + " sent twice";
  if (!create_private_file(path.string())) return "cannot create " + path.string() + ": " + std::strerror(errno);
  out.open(path, std::ios::binary | std::ios::trunc);
  if (!out) return "cannot write " + path.string();
  return "";
}

// The images, file by file, until the source commits; `parent` is the last pre-dump it names.
// Returns why it failed ("" when complete); `tell` says whether the source should hear it.
std::string receive_images(PeerLink& link, const std::string& image_dir, double wait_s, uint64_t max_bytes,
                           std::string& parent, bool& tell) {
  std::ofstream cur;
  uint64_t expect = 0, got = 0, total = 0;
  std::string cur_name, why;
  tell = true;
  Frame f;  // reused: its data buffer serves every chunk
  for (;;) {
    if (!link.recv_into(f, wait_s)) return tell = false, "the source went silent while sending images";
    if (f.kind == "abort") return tell = false, "the source aborted";
    if ((f.kind == "file" || f.kind == "commit") && got != expect)
      return "image " + cur_name + " is short: " + std::to_string(got) + " of " + std::to_string(expect) + " bytes";
    if (f.kind == "file") {
      cur.close();
      ImageFile img;
      if (!parse_image_file(f.meta, img, why)) return why;
      expect = img.size;
      got = 0;
      if (total + expect > max_bytes) return "images exceed the limit of " + std::to_string(max_bytes) + " bytes";
      if (why = open_image(img, image_dir, cur, cur_name); !why.empty()) return why;
    } else if (f.kind == "data") {
      if (!cur.is_open() || got + f.data.size() > expect) return "image data beyond the announced size";
      cur.write(f.data.data(), static_cast<std::streamsize>(f.data.size()));
      if (!cur) return "disk full writing " + cur_name;
      got += f.data.size();
      total += f.data.size();
    } else if (f.kind == "commit") {
      cur.close();
      return parse_commit(f.meta, parent, why) ? "" : why;
    } else {
      return "unexpected '" + f.kind + "' while receiving images";
    }
  }
}

// The restored job waits, stopped, for the source's verdict: go (it runs here), abort (the
// source kept it) or nothing (Pending: the daemon asks the source later).
TargetResult await_verdict(PeerLink& link, Checkpointer& criu, const std::string& image_dir, TargetResult r,
                           double timeout_s) {
  std::error_code ec;
  if (!link.send({"restored", {{"pid", r.pid}}, {}})) {
    r.outcome = TargetOutcome::Pending;  // the source may or may not have ended its copy
    r.why = "link broke after the restore";
    return r;
  }
  auto verdict = link.recv(timeout_s);
  if (verdict && verdict->kind == "go") {
    fs::remove_all(image_dir, ec);  // the restored tasks no longer need their images
    if (!criu.resume(r.pid))  // the source has ended its copy: nothing to go back to
      return {TargetOutcome::Failed, "the restored job died before it could resume", r.job, -1, {}};
    r.outcome = TargetOutcome::Running;
    return r;
  }
  if (verdict && verdict->kind == "abort") {
    criu.discard(r.pid);
    fs::remove_all(image_dir, ec);
    return {TargetOutcome::Dropped, "the source kept the job", r.job, -1, {}};
  }
  r.outcome = TargetOutcome::Pending;
  r.why = verdict ? "unexpected '" + verdict->kind + "' instead of go/abort" : "no go/abort from the source";
  return r;
}

}  // namespace

const char* source_outcome_name(SourceOutcome o) {
  switch (o) {
    case SourceOutcome::Stayed: return "stayed";
    case SourceOutcome::Moved: return "moved";
    case SourceOutcome::MovedGoPending: return "moved-go-pending";
  }
  return "?";
}

const char* target_outcome_name(TargetOutcome o) {
  switch (o) {
    case TargetOutcome::Refused: return "refused";
    case TargetOutcome::Failed: return "failed";
    case TargetOutcome::Running: return "running";
    case TargetOutcome::Dropped: return "dropped";
    case TargetOutcome::Pending: return "pending";
  }
  return "?";
}

SourceResult migrate_out(const nlohmann::json& job, pid_t pid, const std::string& dump_dir, PeerLink& link,
                         Checkpointer& criu, const HandoffLimits& lim) {
  SourceResult r;
  if (!link.send({"offer", job, {}})) return stayed("cannot reach the target");
  auto answer = link.recv(lim.reply_timeout_s);
  if (!answer) return stayed("the target did not answer the offer");
  std::string peer_why, why;
  if (answer->kind == "refuse")
    return stayed(parse_reason(answer->meta, "refuse", peer_why, why) ? "the target refused: " + peer_why
                                                                      : "malformed refusal from the target: " + why);
  if (answer->kind != "accept") return stayed("unexpected answer '" + answer->kind + "' to the offer");

  std::string hold_why, parent;
  Fields offer(job, "offer");
  if (offer.boolean("precopy", false) && !precopy(pid, dump_dir, link, criu, lim, r, parent, hold_why)) {
    link.send({"abort", {}, {}});
    return stayed(hold_why.empty() ? "link to the target broke during pre-copy" : hold_why);
  }
  double hold_start = 0, hold_end = 0;
  std::function<void()> undo = lim.before_dump ? lim.before_dump(pid) : nullptr;
  DumpResult d = criu.dump(pid, dump_dir, parent, [&]() {
    hold_start = now_s();
    bool ok = [&]() {
      if (!send_images(dump_dir, "", link, lim.chunk, r.bytes, hold_why)) return false;
      if (!link.send({"commit", {{"bytes", r.bytes}, {"parent", parent}}, {}})) {
        hold_why = "link to the target broke before commit";
        return false;
      }
      auto done = link.recv(lim.restore_timeout_s);
      if (!done) {
        hold_why = "no answer from the target after the images (link broken or restore too slow)";
        return false;
      }
      if (done->kind == "restored") return true;
      if (done->kind != "failed") hold_why = "unexpected answer '" + done->kind + "' after the images";
      else if (parse_reason(done->meta, "failed", peer_why, why)) hold_why = "restore failed on the target: " + peer_why;
      else hold_why = "malformed failure report from the target: " + why;
      return false;
    }();
    hold_end = now_s();
    return ok;
  });
  if (hold_end > 0) {
    double frozen = d.frozen_at > 0 && d.frozen_at <= hold_start ? d.frozen_at : hold_start;
    r.freeze_s = hold_end - frozen;
    r.dump_s = hold_start - frozen;
  }
  if (!d.ok) {
    if (undo) undo();              // the job runs on here
    link.send({"abort", {}, {}});  // best effort: the target discards its stopped copy
    r.outcome = SourceOutcome::Stayed;
    r.why = hold_why.empty() ? "checkpoint failed: " + d.error : hold_why;
    return r;
  }
  r.outcome = link.send({"go", {}, {}}) ? SourceOutcome::Moved : SourceOutcome::MovedGoPending;
  return r;
}

TargetResult migrate_in(PeerLink& link, Checkpointer& criu, const std::string& image_dir,
                        const std::function<std::string(const nlohmann::json&)>& fits, const HandoffLimits& lim) {
  TargetResult r;
  auto offer = link.recv(lim.reply_timeout_s);
  if (!offer || offer->kind != "offer" || !offer->meta.is_object()) return {TargetOutcome::Failed, "no valid offer", {}, -1, {}};
  r.job = offer->meta;
  Fields f(r.job, "offer");
  // With pre-copy, the source pre-dumps the running job between frames: give it the time a
  // restore gets.
  const double wait_s = f.boolean("precopy", false) ? lim.restore_timeout_s : lim.reply_timeout_s;
  std::string why = f.ok() ? fits(r.job) : f.error();
  if (!why.empty()) {
    link.send({"refuse", {{"why", why}}, {}});
    return {TargetOutcome::Refused, why, r.job, -1, {}};
  }
  std::error_code ec;
  fs::remove_all(image_dir, ec);
  if (!make_private_dir(image_dir, ec)) {
    link.send({"refuse", {{"why", "cannot create " + image_dir + ": " + ec.message()}}, {}});
    return {TargetOutcome::Refused, "cannot create " + image_dir, r.job, -1, {}};
  }
  if (!link.send({"accept", {}, {}})) return target_failed(link, image_dir, r.job, "link broke after accepting", false);
  std::string parent;
  bool tell = true;
  if (why = receive_images(link, image_dir, wait_s, lim.max_image_bytes, parent, tell); !why.empty())
    return target_failed(link, image_dir, r.job, why, tell);
  if (why = link_precopy(image_dir, parent); !why.empty()) return target_failed(link, image_dir, r.job, why, true);
  if (lim.vet_images)
    if (why = lim.vet_images(image_dir, r.job); !why.empty())
      return target_failed(link, image_dir, r.job, "images refused: " + why, true);
  RestoreResult rr = criu.restore(image_dir, r.job);
  if (rr.pid < 0) return target_failed(link, image_dir, r.job, "restore: " + rr.error, true);
  r.pid = rr.pid;
  r.restored = rr;
  if (lim.restored) lim.restored(rr.pid, r.job);
  return await_verdict(link, criu, image_dir, std::move(r), lim.reply_timeout_s);
}

std::string handoff_summary(const SourceResult& r) {
  char b[200];
  std::snprintf(b, sizeof b, "%.1f MB, frozen %.2f s", static_cast<double>(r.bytes) / 1048576, r.freeze_s);
  std::string s = b;
  if (r.precopy_rounds) {
    std::snprintf(b, sizeof b, ", after %d pre-copy round(s) of %.1f MB", r.precopy_rounds,
                  static_cast<double>(r.precopy_bytes) / 1048576);
    s += b;
  }
  if (!r.precopy_note.empty()) s += "; pre-copy: " + r.precopy_note;
  return s;
}

nlohmann::json handoff_reply(const std::string& id, const std::string& node, bool ok, const SourceResult& r) {
  return {{"v", 1},
          {"ok", ok},
          {"job", id},
          {"node", node},
          {"error", ok ? "" : "migrate: " + r.why},
          {"freeze_s", r.freeze_s},
          {"dump_s", r.dump_s},
          {"bytes", r.bytes},
          {"precopy_rounds", r.precopy_rounds},
          {"precopy_bytes", r.precopy_bytes},
          {"precopy_note", r.precopy_note}};
}

}  // namespace grappe
