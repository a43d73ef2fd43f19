#include <doctest/doctest.h>

#include "cmdline.h"

using namespace grappe::init;

TEST_CASE("kernel command line parsing: flags, values, quotes") {
  auto m = parse_cmdline("BOOT_IMAGE=/boot/vmlinuz quiet grappe.label=GRAPPE  x=\"a b\" grappe.debug\n");
  CHECK(m.at("quiet") == "");
  CHECK(m.at("grappe.label") == "GRAPPE");
  CHECK(m.at("x") == "a b");
  CHECK(m.count("grappe.debug") == 1);
}

TEST_CASE("the command line overrides the baked config") {
  std::string err;
  auto conf = parse_conf("# baked\nlabel=GRAPPE\nbuild=abc\nkernel=6.12\nlayers=base.squashfs node.squashfs\nalways=loop isofs\n");
  auto c = make_config(conf, parse_cmdline("grappe.label=OTHER BOOTIF=01-52-54-00-12-34-56 grappe.timeout=30"), err);
  CHECK(err.empty());
  CHECK(c.label == "OTHER");
  CHECK(c.build == "abc");
  CHECK(c.layers == std::vector<std::string>{"base.squashfs", "node.squashfs"});
  CHECK(c.always.size() == 2);
  CHECK(c.timeout_s == 30);
  CHECK(c.bootif == "01-52-54-00-12-34-56");
  CHECK_FALSE(c.debug);
}

TEST_CASE("network root parameters are checked") {
  std::string err;
  auto conf = parse_conf("label=G\n");
  std::string h(64, 'a');
  auto ok = make_config(conf, parse_cmdline("grappe.fetch=http://10.0.0.1/b.sq,http://10.0.0.1/n.sq grappe.sha256=" + h + "," + h), err);
  CHECK(err.empty());
  CHECK(ok.fetch.size() == 2);
  make_config(conf, parse_cmdline("grappe.fetch=http://10.0.0.1/b.sq"), err);
  CHECK(err.find("one SHA-256 per URL") != std::string::npos);
  err.clear();
  make_config(conf, parse_cmdline("grappe.fetch=http://h/b grappe.sha256=XYZ"), err);
  CHECK(err.find("not 64 lower-case hex") != std::string::npos);
  err.clear();
  make_config(conf, parse_cmdline("grappe.fetch=ftp://h/b grappe.sha256=" + h), err);
  CHECK(err.find("must start with http://") != std::string::npos);
  err.clear();
  make_config(conf, parse_cmdline("grappe.timeout=forever"), err);
  CHECK(err.find("grappe.timeout") != std::string::npos);
  err.clear();
  auto dbg = make_config(conf, parse_cmdline("grappe.debug"), err);
  CHECK(dbg.debug);
  CHECK(dbg.shell);
}
