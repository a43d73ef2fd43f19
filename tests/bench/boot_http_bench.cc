// grappe-boot-http-bench: the network-boot HTTP server (BootHttp, as grapped runs it) serving one
// large layer to N clients at once on loopback, each client the one grappe-init uses
// (fetch_to_file, which hashes as it receives). Prints one client alone, then N at once: failed or
// corrupt fetches, aggregate MB/s, slowest client. JSON on stdout with --json.
#include <sodium.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "boot/boot_http.h"
#include "common/mono_clock.h"
#include "fetch.h"

namespace fs = std::filesystem;
using namespace grappe;

namespace {

std::string file_sha256(const std::string& path) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
    crypto_hash_sha256_update(&st, reinterpret_cast<unsigned char*>(buf.data()), static_cast<unsigned long long>(in.gcount()));
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  return hex;
}

struct Round {
  int failed = 0;
  double seconds = 0, slowest = 0;
  std::string first_error;
};

Round fetch_all(const std::string& url, const std::string& want, int clients) {
  Round r;
  std::vector<std::thread> th;
  std::vector<double> took(static_cast<size_t>(clients));
  std::vector<std::string> err(static_cast<size_t>(clients));
  const double t0 = now_s();
  for (int i = 0; i < clients; ++i)
    th.emplace_back([&, i] {
      const double s = now_s();
      std::string e;
      std::string got = init::fetch_to_file(url, "/dev/null", e, [](size_t, size_t) {});
      took[static_cast<size_t>(i)] = now_s() - s;
      if (got != want) err[static_cast<size_t>(i)] = got.empty() ? e : "sha256 mismatch";
    });
  for (auto& t : th) t.join();
  r.seconds = now_s() - t0;
  for (int i = 0; i < clients; ++i) {
    r.slowest = std::max(r.slowest, took[static_cast<size_t>(i)]);
    if (!err[static_cast<size_t>(i)].empty()) {
      ++r.failed;
      if (r.first_error.empty()) r.first_error = err[static_cast<size_t>(i)];
    }
  }
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grappe-boot-http-bench: N clients fetching one layer at once from the network-boot HTTP server"};
  std::string file;
  int clients = 16, mb = 128;
  bool json = false;
  app.add_option("--file", file, "file to serve (default: a random file of --mb MiB, removed afterwards)");
  app.add_option("--mb", mb, "size of the generated file")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("-c,--clients", clients, "clients at once")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_flag("--json", json, "print the figures as JSON");
  CLI11_PARSE(app, argc, argv);
  if (sodium_init() < 0) return 1;
  fs::path tmp;
  if (file.empty()) {
    tmp = fs::temp_directory_path() / ("grappe-boot-http-bench-" + std::to_string(::getpid()));
    std::ofstream out(tmp, std::ios::binary);
    std::vector<unsigned char> buf(1 << 20);
    for (int i = 0; i < mb; ++i) {
      randombytes_buf(buf.data(), buf.size());
      out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    }
    file = tmp.string();
  }
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      if (!p.empty()) fs::remove(p, ec);
    }
  } cleanup{tmp};
  if (!fs::is_regular_file(file)) {
    std::fprintf(stderr, "grappe-boot-http-bench: %s is not a file (give --file an existing layer, or leave it out)\n", file.c_str());
    return 2;
  }
  const double size_mb = static_cast<double>(fs::file_size(file)) / (1 << 20);
  const std::string want = file_sha256(file);
  BootHttp http;
  std::string err;
  if (!http.start("127.0.0.1", 0, {{"base.squashfs", file}}, [](const std::string&, const std::string&, const std::string&) { return std::string(); }, err)) {
    std::fprintf(stderr, "grappe-boot-http-bench: cannot start the server: %s\n", err.c_str());
    return 1;
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(http.port()) + "/grappe/base.squashfs";
  Round one = fetch_all(url, want, 1);
  Round many = fetch_all(url, want, clients);
  http.stop();
  const double one_mbs = size_mb / one.seconds, many_mbs = size_mb * clients / many.seconds;
  if (json) {
    std::printf("{\"file_mb\": %.1f, \"one_client_mb_s\": %.1f, \"clients\": %d, \"failed\": %d, \"aggregate_mb_s\": %.1f, "
                "\"slowest_client_s\": %.2f, \"all_clients_s\": %.2f}\n",
                size_mb, one_mbs, clients, many.failed + one.failed, many_mbs, many.slowest, many.seconds);
  } else {
    std::printf("one client: %.0f MiB in %.2f s, %.0f MiB/s%s\n", size_mb, one.seconds, one_mbs, one.failed ? " (FAILED)" : "");
    std::printf("%d clients at once: %d failed, %.0f MiB/s in all, slowest client %.2f s%s%s\n", clients, many.failed,
                many_mbs, many.slowest, many.first_error.empty() ? "" : "; first error: ", many.first_error.c_str());
  }
  return many.failed + one.failed == 0 ? 0 : 1;
}
