#include "handoff.h"

#include <chrono>
#include <filesystem>
#include <fstream>

namespace grappe {
namespace fs = std::filesystem;
namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool safe_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n == "." || n == "..") return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

// Streams every regular file of `dir`; false when the link breaks or a file cannot be read.
bool send_images(const std::string& dir, PeerLink& link, size_t chunk, uint64_t& bytes, std::string& why) {
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
  std::string buf(chunk, '\0');
  for (const auto& p : files) {
    uint64_t size = fs::file_size(p, ec);
    std::ifstream in(p, std::ios::binary);
    if (ec || !in) {
      why = "cannot read image " + p.string();
      return false;
    }
    if (!link.send({"file", {{"name", p.filename().string()}, {"size", size}}, {}})) {
      why = "link to the target broke while sending images";
      return false;
    }
    for (uint64_t left = size; left > 0;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk));
      if (!in.read(buf.data(), static_cast<std::streamsize>(n))) {
        why = "short read on image " + p.string();
        return false;
      }
      if (!link.send({"data", {}, buf.substr(0, n)})) {
        why = "link to the target broke while sending images";
        return false;
      }
      left -= n;
      bytes += n;
    }
  }
  if (!link.send({"commit", {{"files", files.size()}, {"bytes", bytes}}, {}})) {
    why = "link to the target broke before commit";
    return false;
  }
  return true;
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
  if (!link.send({"offer", job, {}})) return {SourceOutcome::Stayed, "cannot reach the target", 0, 0};
  auto answer = link.recv(lim.reply_timeout_s);
  if (!answer) return {SourceOutcome::Stayed, "the target did not answer the offer", 0, 0};
  if (answer->kind == "refuse") return {SourceOutcome::Stayed, "the target refused: " + answer->meta.value("why", std::string("?")), 0, 0};
  if (answer->kind != "accept") return {SourceOutcome::Stayed, "unexpected answer '" + answer->kind + "' to the offer", 0, 0};

  std::string hold_why;
  DumpResult d = criu.dump(pid, dump_dir, [&]() {
    auto t0 = std::chrono::steady_clock::now();
    bool ok = [&]() {
      if (!send_images(dump_dir, link, lim.chunk, r.bytes, hold_why)) return false;
      auto done = link.recv(lim.restore_timeout_s);
      if (!done) {
        hold_why = "no answer from the target after the images (link broken or restore too slow)";
        return false;
      }
      if (done->kind == "restored") return true;
      hold_why = done->kind == "failed" ? "restore failed on the target: " + done->meta.value("why", std::string("?"))
                                        : "unexpected answer '" + done->kind + "' after the images";
      return false;
    }();
    r.freeze_s = since(t0);
    return ok;
  });
  if (!d.ok) {
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
  if (std::string why = fits(r.job); !why.empty()) {
    link.send({"refuse", {{"why", why}}, {}});
    return {TargetOutcome::Refused, why, r.job, -1, {}};
  }
  std::error_code ec;
  fs::remove_all(image_dir, ec);
  fs::create_directories(image_dir, ec);
  auto fail = [&](const std::string& why, bool tell) {
    if (tell) link.send({"failed", {{"why", why}}, {}});
    fs::remove_all(image_dir, ec);
    return TargetResult{TargetOutcome::Failed, why, r.job, -1, {}};
  };
  if (ec) {
    link.send({"refuse", {{"why", "cannot create " + image_dir + ": " + ec.message()}}, {}});
    return {TargetOutcome::Refused, "cannot create " + image_dir, r.job, -1, {}};
  }
  if (!link.send({"accept", {}, {}})) return fail("link broke after accepting", false);

  std::ofstream cur;
  uint64_t expect = 0, got = 0, total = 0;
  std::string cur_name;
  for (;;) {
    auto f = link.recv(lim.reply_timeout_s);
    if (!f) return fail("the source went silent while sending images", false);
    if (f->kind == "abort") return fail("the source aborted", false);
    if ((f->kind == "file" || f->kind == "commit") && got != expect)
      return fail("image " + cur_name + " is short: " + std::to_string(got) + " of " + std::to_string(expect) + " bytes", true);
    if (f->kind == "file") {
      cur.close();
      cur_name = f->meta.value("name", std::string());
      expect = f->meta.value("size", uint64_t{0});
      got = 0;
      if (!safe_name(cur_name)) return fail("refusing image name '" + cur_name + "'", true);
      if (total + expect > lim.max_image_bytes) return fail("images exceed the limit of " + std::to_string(lim.max_image_bytes) + " bytes", true);
      if (fs::exists(fs::path(image_dir) / cur_name)) return fail("image " + cur_name + " sent twice", true);
      cur.open(fs::path(image_dir) / cur_name, std::ios::binary);
      if (!cur) return fail("cannot write " + (fs::path(image_dir) / cur_name).string(), true);
    } else if (f->kind == "data") {
      if (!cur.is_open() || got + f->data.size() > expect) return fail("image data beyond the announced size", true);
      cur.write(f->data.data(), static_cast<std::streamsize>(f->data.size()));
      if (!cur) return fail("disk full writing " + cur_name, true);
      got += f->data.size();
      total += f->data.size();
    } else if (f->kind == "commit") {
      cur.close();
      break;
    } else {
      return fail("unexpected '" + f->kind + "' while receiving images", true);
    }
  }
  RestoreResult rr = criu.restore(image_dir, r.job);
  if (rr.pid < 0) return fail("restore: " + rr.error, true);
  r.pid = rr.pid;
  r.restored = rr;
  if (!link.send({"restored", {{"pid", rr.pid}}, {}})) {
    r.outcome = TargetOutcome::Pending;  // the source may or may not have ended its copy
    r.why = "link broke after the restore";
    return r;
  }
  auto verdict = link.recv(lim.reply_timeout_s);
  if (verdict && verdict->kind == "go") {
    fs::remove_all(image_dir, ec);  // the restored tasks no longer need their images
    if (!criu.resume(rr.pid))  // the source has ended its copy: nothing to go back to
      return {TargetOutcome::Failed, "the restored job died before it could resume", r.job, -1, {}};
    r.outcome = TargetOutcome::Running;
    return r;
  }
  if (verdict && verdict->kind == "abort") {
    criu.discard(rr.pid);
    fs::remove_all(image_dir, ec);
    return {TargetOutcome::Dropped, "the source kept the job", r.job, -1, {}};
  }
  r.outcome = TargetOutcome::Pending;
  r.why = verdict ? "unexpected '" + verdict->kind + "' instead of go/abort" : "no go/abort from the source";
  return r;
}

}  // namespace grappe
