#include "mirror_fetch.h"

#include <httplib.h>

#include <filesystem>

#include "common/text_file.h"

namespace fs = std::filesystem;

namespace grappe::build {
namespace {

std::string with_slash(std::string s) {
  if (s.empty() || s.back() != '/') s += '/';
  return s;
}

class FileMirror final : public MirrorFetcher {
 public:
  FileMirror(std::string url, fs::path root) : url_(std::move(url)), root_(std::move(root)) {}
  std::optional<std::string> get(const std::string& rel) override {
    if (!fs::is_directory(root_))
      throw MirrorUnreachable("cannot read the mirror", url_ + ": " + root_.string() + " is not a directory",
                              "check the file: mirror's path");
    fs::path p = root_ / rel;
    if (!fs::exists(p)) return std::nullopt;
    auto text = try_read_file(p.string());
    if (!text) throw MirrorUnreachable("cannot read the mirror's file", p.string(), "check its permissions");
    return text;
  }
  std::string where() const override { return url_; }

 private:
  std::string url_;
  fs::path root_;
};

class HttpMirror final : public MirrorFetcher {
 public:
  HttpMirror(std::string url, const std::string& scheme_host, std::string base_path)
      : url_(std::move(url)), client_(scheme_host), base_(with_slash(std::move(base_path))) {
    client_.set_follow_location(true);
    client_.set_connection_timeout(15, 0);
    client_.set_read_timeout(60, 0);
  }
  std::optional<std::string> get(const std::string& rel) override {
    auto res = client_.Get(base_ + rel);
    if (!res)
      throw MirrorUnreachable("cannot reach the mirror", url_ + ": " + httplib::to_string(res.error()),
                              "check the network and the mirror URL (--mirror, GRAPPE_MIRROR, the recipe's, or this "
                              "host's apt sources)");
    if (res->status == 404 || res->status == 410) return std::nullopt;
    if (res->status != 200)
      throw MirrorUnreachable("the mirror answered HTTP " + std::to_string(res->status), url_ + rel,
                              "try again later, or use another mirror (--mirror URL)");
    return std::move(res->body);
  }
  std::string where() const override { return url_; }

 private:
  std::string url_;
  httplib::Client client_;
  std::string base_;
};

class UnsupportedMirror final : public MirrorFetcher {
 public:
  explicit UnsupportedMirror(std::string url) : url_(std::move(url)) {}
  std::optional<std::string> get(const std::string&) override {
    throw MirrorUnreachable("cannot read this kind of mirror's metadata", url_,
                            "give an http://, https:// or file:// mirror to have the recipe checked");
  }
  std::string where() const override { return url_; }

 private:
  std::string url_;
};

}  // namespace

std::unique_ptr<MirrorFetcher> make_mirror_fetcher(const std::string& mirror_url) {
  const std::string url = with_slash(mirror_url);
  if (url.rfind("file://", 0) == 0) return std::make_unique<FileMirror>(url, url.substr(7));
  if (url.rfind("file:/", 0) == 0) return std::make_unique<FileMirror>(url, url.substr(5));
  for (const char* scheme : {"http://", "https://"}) {
    const std::string s = scheme;
    if (url.rfind(s, 0) != 0) continue;
    auto slash = url.find('/', s.size());
    return std::make_unique<HttpMirror>(url, url.substr(0, slash), url.substr(slash));
  }
  return std::make_unique<UnsupportedMirror>(url);
}

}  // namespace grappe::build
