#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <httplib.h>

#include "fetch.h"
#include "hash.h"

namespace fs = std::filesystem;
using namespace grappe::init;
using grappe::build::sha256_hex;

TEST_CASE("URL parsing") {
  Url u;
  std::string err;
  CHECK(parse_url("http://10.0.2.100/base.squashfs", u, err));
  CHECK(u.host == "10.0.2.100");
  CHECK(u.port == 80);
  CHECK(u.path == "/base.squashfs");
  CHECK(parse_url("http://h:8080/a/b", u, err));
  CHECK(u.port == 8080);
  CHECK_FALSE(parse_url("https://h/x", u, err));
  CHECK_FALSE(parse_url("http://h:99999/x", u, err));
  CHECK_FALSE(parse_url("http://:80/x", u, err));
}

TEST_CASE("fetch over loopback hashes what it received; errors are reported") {
  httplib::Server srv;
  std::string body(3 << 20, 'g');
  srv.Get("/layer", [&](const httplib::Request&, httplib::Response& res) { res.set_content(body, "application/octet-stream"); });
  int port = srv.bind_to_any_port("127.0.0.1");
  std::thread t([&] { srv.listen_after_bind(); });
  auto dest = (fs::temp_directory_path() / "grappe-fetch-test").string();
  std::string err;
  size_t last = 0;
  auto h = fetch_to_file("http://127.0.0.1:" + std::to_string(port) + "/layer", dest, err, [&](size_t n, size_t) { last = n; });
  CHECK(err.empty());
  CHECK(h == sha256_hex(body));
  CHECK(last == body.size());
  CHECK(fs::file_size(dest) == body.size());
  auto missing = fetch_to_file("http://127.0.0.1:" + std::to_string(port) + "/nope", dest, err, nullptr);
  CHECK(missing.empty());
  CHECK(err.find("404") != std::string::npos);
  srv.stop();
  t.join();
  err.clear();
  CHECK(fetch_to_file("http://127.0.0.1:" + std::to_string(port) + "/layer", dest, err, nullptr).empty());
  CHECK(!err.empty());
  fs::remove(dest);
}
