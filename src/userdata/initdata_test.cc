// Initdata: TOML parsing, digests checked against known vectors and python3's hashlib, the
// extraction whitelist and the default initdata.
#include "cloudinit/initdata.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "userdata/initdata.h"
#include "userdata/test_util.h"
#include "userdata/userdata.h"

namespace pp::userdata {
namespace {

using namespace testing;

const std::string kToml =
    "algorithm = \"sha384\"\n"
    "version = \"0.1.0\"\n"
    "\n"
    "[data]\n"
    "\"aa.toml\" = '''\n"
    "[token_configs]\n"
    "[token_configs.kbs]\n"
    "url = \"http://kbs:8080\"\n"
    "'''\n"
    "\"cdh.toml\" = \"socket = 'unix:///run/confidential-containers/cdh.sock'\"\n"
    "\"policy.rego\" = '''\n"
    "package agent_policy\n"
    "default AllowRequestsFailingPolicy := true\n"
    "'''\n"
    "\"../../etc/passwd\" = \"root::0:0::/:/bin/sh\"\n"
    "\"agent-config.toml\" = \"x\"\n";

TEST(InitdataTest, DigestKnownVectors) {
  // FIPS 180 "abc" vectors.
  EXPECT_EQ(*initdataDigest("sha256", "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*initdataDigest("sha384", "abc"),
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baec"
            "a134c825a7");
  EXPECT_EQ(*initdataDigest("sha512", "abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c"
            "23a3feebbd"
            "454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_FALSE(initdataDigest("md5", "abc"));
  EXPECT_FALSE(initdataDigest("SHA256", "abc"));
}

TEST(InitdataTest, ParsesTomlAndDigestsTheExactBytes) {
  auto id = parseInitdataToml(kToml);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->algorithm, "sha384");
  EXPECT_EQ(id->version, "0.1.0");
  ASSERT_EQ(id->data.size(), 5u);
  TempRoot tmp;
  writeText(tmp / "initdata.toml", kToml);
  EXPECT_EQ(id->digestHex, pythonDigest("sha384", tmp / "initdata.toml"));
  EXPECT_EQ(id->digestHex.size(), 96u);
}

TEST(InitdataTest, StrictToml) {
  EXPECT_FALSE(parseInitdataToml("algorithm = \"sha256\"\n"));                    // no version
  EXPECT_FALSE(parseInitdataToml("version = \"0.1.0\"\n"));                       // no algorithm
  EXPECT_FALSE(parseInitdataToml("algorithm = \"md5\"\nversion = \"0.1.0\"\n"));  // unsupported
  EXPECT_FALSE(parseInitdataToml("algorithm = 256\nversion = \"0.1.0\"\n"));      // not a string
  EXPECT_FALSE(parseInitdataToml("algorithm = \"sha256\"\nversion = \"1\"\ndata = 3\n"));
  EXPECT_FALSE(
      parseInitdataToml("algorithm = \"sha256\"\nversion = \"1\"\n[data]\n\"aa.toml\" = 1\n"));
  auto bad = parseInitdataToml("algorithm = \"sha256\"\nversion = \"1\"\n[data\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not valid TOML (line 3"), std::string::npos)
      << bad.error().message;
  // Unknown keys are tolerated, as upstream's decoder does.
  EXPECT_TRUE(parseInitdataToml("algorithm = \"sha256\"\nversion = \"1\"\nextra = true\n"));
}

TEST(InitdataTest, DecodesTheFileFormIgnoringLineBreaks) {
  std::string enc = cloudinit::encodeInitdata(kToml);
  std::string wrapped;
  for (size_t i = 0; i < enc.size(); i += 76) wrapped += enc.substr(i, 76) + "\r\n";
  auto id = decodeInitdataFile(wrapped);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->algorithm, "sha384");
  EXPECT_FALSE(decodeInitdataFile(""));
  EXPECT_FALSE(decodeInitdataFile("not base64!"));
  EXPECT_FALSE(decodeInitdataFile(encoding::base64Encode("not gzip")));
  EXPECT_FALSE(decodeInitdataFile(kToml));  // plain TOML is not the file format
  // A gzip bomb stops at the decompression limit.
  auto bomb = decodeInitdataFile(cloudinit::encodeInitdata(std::string(4 << 20, 'a')));
  ASSERT_FALSE(bomb);
  EXPECT_NE(bomb.error().message.find("above 256 KiB"), std::string::npos);
}

TEST(InitdataTest, ExtractsOnlyWhitelistedFilesAndTheDigest) {
  TempRoot root;
  writeText(root / "run/peerpod/initdata", cloudinit::encodeInitdata(kToml) + "\n");
  FileWriter w(root.str());
  ASSERT_TRUE(extractInitdata(w));
  EXPECT_EQ(readText(root / "run/peerpod/aa.toml"),
            "[token_configs]\n[token_configs.kbs]\nurl = \"http://kbs:8080\"\n");
  EXPECT_EQ(readText(root / "run/peerpod/cdh.toml"),
            "socket = 'unix:///run/confidential-containers/cdh.sock'");
  EXPECT_EQ(readText(root / "run/peerpod/policy.rego"),
            "package agent_policy\ndefault AllowRequestsFailingPolicy := true\n");
  writeText(root / "expected.toml", kToml);
  EXPECT_EQ(readText(root / "run/peerpod/initdata.digest"),
            pythonDigest("sha384", root / "expected.toml"));
  EXPECT_EQ(fileMode(root / "run/peerpod/initdata.digest"), 0644u);
  EXPECT_EQ(listFiles(root / "run"),
            (std::set<std::string>{"peerpod/aa.toml", "peerpod/cdh.toml", "peerpod/initdata",
                                   "peerpod/initdata.digest", "peerpod/policy.rego"}));
  EXPECT_FALSE(fs::exists(root / "etc"));
}

TEST(InitdataTest, DefaultWhenAbsent) {
  TempRoot root;
  FileWriter w(root.str());
  ASSERT_TRUE(extractInitdata(w));
  EXPECT_EQ(readText(root / "run/peerpod/aa.toml"), "");
  writeText(root / "default.toml", kDefaultInitdataToml);
  EXPECT_EQ(readText(root / "run/peerpod/initdata.digest"),
            pythonDigest("sha256", root / "default.toml"));
  EXPECT_FALSE(fs::exists(root / "run/peerpod/initdata"));
  // An aa.toml that something else put there (cloud-init, the image) is replaced by the
  // default's, and a cdh.toml or policy.rego that initdata does not provide is removed.
  TempRoot root2;
  writeText(root2 / "run/peerpod/aa.toml", "[token_configs.kbs]\nurl = \"http://attacker\"\n");
  writeText(root2 / "run/peerpod/cdh.toml", "[kbc]\nurl = \"http://attacker\"\n");
  writeText(root2 / "run/peerpod/policy.rego", "default AllowRequestsFailingPolicy := true\n");
  FileWriter w2(root2.str());
  ASSERT_TRUE(extractInitdata(w2));
  EXPECT_EQ(readText(root2 / "run/peerpod/aa.toml"), "");
  EXPECT_EQ(listFiles(root2 / "run"),
            (std::set<std::string>{"peerpod/aa.toml", "peerpod/initdata.digest"}));
}

TEST(InitdataTest, AttestationFilesAreExactlyInitdatasEntries) {
  // The owner's genuine initdata has an aa.toml only; a host that is not trusted adds a
  // cdh.toml of its own beside it. The digest covers initdata alone, so the extra file must go.
  const std::string toml =
      "algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n\"aa.toml\" = \"owner\"\n";
  TempRoot root;
  writeText(root / "run/peerpod/initdata", cloudinit::encodeInitdata(toml));
  writeText(root / "run/peerpod/cdh.toml", "[kbc]\nurl = \"http://attacker\"\n");
  FileWriter w(root.str());
  ASSERT_TRUE(extractInitdata(w));
  EXPECT_EQ(readText(root / "run/peerpod/aa.toml"), "owner");
  EXPECT_FALSE(fs::exists(root / "run/peerpod/cdh.toml"));
  EXPECT_FALSE(fs::exists(root / "run/peerpod/policy.rego"));
}

TEST(InitdataTest, DeepDottedKeysAreRefusedWithoutCrashing) {
  // 250 000 levels of dotted keys used to overflow the stack in the TOML parser's table
  // destructor; the same for whitespace in the old regular-expression check.
  std::string deep = "algorithm = \"sha256\"\nversion = \"1\"\na";
  for (int i = 0; i < 120000; ++i) deep += ".a";
  deep += " = 1\n";
  auto r = parseInitdataToml(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("dotted key"), std::string::npos) << r.error().message;
  auto file = decodeInitdataFile(cloudinit::encodeInitdata(
      std::string(250000, ' ') + "algorithm = \"sha256\"\nversion = \"1\"\n"));
  EXPECT_TRUE(file) << file.error().message;
}

TEST(InitdataTest, BadInitdataFails) {
  TempRoot root;
  writeText(root / "run/peerpod/initdata", "%%%");
  FileWriter w(root.str());
  auto st = extractInitdata(w);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("/run/peerpod/initdata"), std::string::npos)
      << st.error().message;
  EXPECT_FALSE(fs::exists(root / "run/peerpod/initdata.digest"));
}

}  // namespace
}  // namespace pp::userdata
