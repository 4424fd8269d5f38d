// Initdata decoding and parsing, including the inputs that crashed the adaptor before (a pod
// annotation is enough to reach this code).
#include "cloudinit/initdata.h"

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace pp::cloudinit {
namespace {

const std::string kHead = "algorithm = \"sha384\"\nversion = \"0.1.0\"\n";

TEST(InitdataTest, Normalisation) {
  std::string toml = "algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n\"aa.toml\" = '''x'''\n";
  auto enc = normaliseInitdata(toml);
  ASSERT_TRUE(enc) << enc.error().message;
  auto back = decodeInitdata(*enc);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, toml);
  // Already encoded: kept as is.
  EXPECT_EQ(*normaliseInitdata(*enc), *enc);
  EXPECT_FALSE(normaliseInitdata("version = \"0.1.0\"\n"));
  EXPECT_FALSE(normaliseInitdata("algorithm = \"md5\"\nversion = \"1\"\n"));
  EXPECT_FALSE(decodeInitdata(encoding::base64Encode("not gzip")));
  EXPECT_TRUE(*normaliseInitdata("") == "");
  // TOML literal strings are strings too.
  EXPECT_TRUE(normaliseInitdata("algorithm = 'sha384'\nversion = '0.1.0'\n"));
}

TEST(InitdataTest, EncodedButInvalidSaysWhatIsWrongInside) {
  auto r = normaliseInitdata(encodeInitdata("algorithm = \"sha256\"\n"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "initdata: `version` is missing");
  r = normaliseInitdata(encodeInitdata("algorithm = \"sha256\"\nversion = \n"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not valid TOML (line 2"), std::string::npos)
      << r.error().message;
}

TEST(InitdataTest, ParsesTheDocumentedForm) {
  auto doc = parseInitdataToml(
      kHead +
      "\n[data]\n\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"http://kbs:8080\"\n'''\n"
      "\"policy.rego\" = \"package agent_policy\"\nextra = 1\n");
  ASSERT_FALSE(doc) << "data entries must be strings";
  doc = parseInitdataToml(
      kHead + "comment = 'ignored'\n[data]\n\"cdh.toml\" = \"x\"\n\"aa.toml\" = '''y'''\n");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->algorithm, "sha384");
  EXPECT_EQ(doc->version, "0.1.0");
  ASSERT_EQ(doc->data.size(), 2u);
  EXPECT_EQ(doc->data[0], (std::pair<std::string, std::string>{"aa.toml", "y"}));
  EXPECT_EQ(doc->data[1], (std::pair<std::string, std::string>{"cdh.toml", "x"}));
  EXPECT_EQ(doc->unknownKeys, std::vector<std::string>{"comment"});
  // Dotted and inline forms of the same table.
  EXPECT_TRUE(parseInitdataToml(kHead + "data.\"aa.toml\" = \"y\"\n"));
  EXPECT_TRUE(parseInitdataToml(kHead + "data = { \"aa.toml\" = \"y\" }\n"));
  EXPECT_FALSE(parseInitdataToml(kHead + "data = 3\n"));
  EXPECT_FALSE(parseInitdataToml("algorithm = 256\nversion = \"1\"\n"));
}

// The 428-byte annotation of the security review: base64(gzip(TOML)) with ~250 000 spaces
// before the keys. libstdc++'s std::regex recursed per character and overflowed the stack.
TEST(InitdataTest, NonAsciiTextInStringsAndCommentsRoundTrips) {
  // toml++ 3.3 reached __builtin_unreachable() on "é", "あ", U+FB26..U+FEFE in strings (found by
  // fuzz_initdata in CI; UBSan aborts here without the fix): they are shifted out of its way
  // and come back unchanged.
  std::string text =
      "# caf\xc3\xa9 \xe3\x81\x82\n"
      "algorithm = \"sha256\"\n"
      "version = \"0.1.0\"\n"
      "[data]\n"
      "\"policy.rego\" = '''\n# r\xc3\xa8gle \xe3\x81\x82\xef\xbb\xbf\xef\xac\xa6\npackage "
      "agent_policy\n'''\n"
      "\"caf\xc3\xa9.toml\" = \"\xce\xa9 \xd1\x8f \xc2\xa1\xc3\xa9\"\n";
  auto doc = parseInitdataToml(text);
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ(doc->data.size(), 2u);
  EXPECT_EQ(doc->data[1].first, "policy.rego");
  EXPECT_EQ(doc->data[1].second,
            "# r\xc3\xa8gle \xe3\x81\x82\xef\xbb\xbf\xef\xac\xa6\npackage agent_policy\n");
  EXPECT_EQ(doc->data[0].first, "caf\xc3\xa9.toml");  // the table's order
  EXPECT_EQ(doc->data[0].second, "\xce\xa9 \xd1\x8f \xc2\xa1\xc3\xa9");
  // The fuzzer's input itself: an error or a document, never undefined behaviour.
  (void)parseInitdataToml("a = \"\"\"H\xcc\x8cI\"\"\"\n");
  // Plane 15/16 private-use characters are refused with a clear error.
  auto pua = parseInitdataToml("algorithm = \"sha256\"\nversion = \"\xf3\xb0\x80\x80\"\n");
  ASSERT_FALSE(pua);
  EXPECT_NE(pua.error().message.find("U+F0000"), std::string::npos) << pua.error().message;
}

TEST(InitdataTest, LongWhitespaceRunsDoNotCrash) {
  const std::string toml = std::string(250000, ' ') + "\n" + std::string(200, '\n') + kHead;
  const std::string annotation =
      encodeInitdata(std::string(250000, ' ') + "algorithm = \"sha256\"\nversion = \"1\"\n");
  EXPECT_LT(annotation.size(), 2000u);
  EXPECT_TRUE(decodeInitdata(annotation));
  EXPECT_TRUE(normaliseInitdata(annotation));
  EXPECT_TRUE(parseInitdataToml(toml));
  // Whitespace without the keys: a clear error, still no crash.
  auto r = normaliseInitdata(encodeInitdata(std::string(255000, '\t')));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "initdata: `algorithm` is missing");
}

TEST(InitdataTest, DeepNestingIsRefusedWithoutCrashing) {
  // toml++ builds and frees nested tables recursively: 20 000 dotted parts overflowed the stack.
  std::string dotted = "a";
  std::string header = "[a";
  for (int i = 0; i < 120000; ++i) {
    dotted += ".a";
    header += ".a";
  }
  for (const std::string& deep :
       {kHead + dotted + " = 1\n", kHead + header + "]\n", kHead + dotted + " = "}) {
    auto r = normaliseInitdata(deep);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("dotted key parts"), std::string::npos) << r.error().message;
    r = normaliseInitdata(encodeInitdata(deep));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("dotted key parts"), std::string::npos) << r.error().message;
  }
  // Arrays and inline tables: toml++'s own nesting limit.
  for (const std::string& deep :
       {kHead + "x = " + std::string(100000, '[') + std::string(100000, ']') + "\n",
        kHead + "x = " + [] {
          std::string s;
          for (int i = 0; i < 50000; ++i) s += "{a=";
          return s;
        }()}) {
    auto r = parseInitdataToml(deep);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not valid TOML"), std::string::npos) << r.error().message;
  }
}

TEST(InitdataTest, DotsInsideStringsAndCommentsDoNotCount) {
  // A large policy with many dots in strings of all four kinds, and in comments.
  std::string policy(200000, '.');
  const std::string doc = kHead + "# a.b.c " + std::string(1000, '.') + "\n[data]\n" +
                          "\"policy.rego\" = '''" + policy + "'''\n" + "\"aa.toml\" = \"\\\"" +
                          std::string(1000, '.') + "\"\n" + "\"cdh.toml\" = '" +
                          std::string(1000, '.') + "'\n" + "\"x.y\" = \"\"\"\n" +
                          std::string(1000, '.') + "\\\"\"\"\"\n";
  auto r = parseInitdataToml(doc);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->data.size(), 4u);
  // A 257th dot outside strings is one too many.
  std::string many = kHead;
  for (size_t i = 0; i <= kMaxInitdataKeyDots; ++i) many += "k" + std::to_string(i) + " = 1.5\n";
  EXPECT_FALSE(parseInitdataToml(many));
}

TEST(InitdataTest, ControlCharactersAreRefusedBeforeTheParser) {
  // Found by fuzz_initdata: a control character where a table name starts tripped an
  // assertion inside toml++ 3.3 (TOML_ASSERT_ASSUME: undefined behaviour in release builds).
  auto r = parseInitdataToml(kHead +
                             "[\x03"
                             "ata]\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "initdata: control character 0x03 on line 3 (TOML allows none)");
  EXPECT_FALSE(parseInitdataToml(kHead + "x = \"a\x01b\"\n"));
  EXPECT_FALSE(parseInitdataToml(kHead + "# \x7f\n"));
  EXPECT_FALSE(parseInitdataToml(std::string("algorithm = \"sha256\"\0\nversion = \"1\"\n", 36)));
  // Tabs and CRLF line ends are fine.
  EXPECT_TRUE(parseInitdataToml("algorithm\t= \"sha256\"\r\nversion = \"1\"\r\n"));
}

TEST(InitdataTest, NonAsciiOutsideStringsIsRefusedBeforeTheParser) {
  // Found by fuzz_initdata: U+030C between tokens reached __builtin_unreachable() in toml++
  // 3.3's whitespace table. TOML keeps non-ASCII text to strings and comments.
  auto r = parseInitdataToml(kHead + "x = 1 \xcc\x8c\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "initdata: a non-ASCII character outside a string on line 3");
  EXPECT_FALSE(parseInitdataToml(kHead + "\xc3\xa9t\xc3\xa9 = \"x\"\n"));
  // In strings and comments it is fine.
  EXPECT_TRUE(parseInitdataToml(
      kHead + "# caf\xc3\xa9 \xcc\x8c\n[data]\n\"aa.toml\" = \"caf\xc3\xa9 \xcc\x8c\"\n"));
}

TEST(InitdataTest, SizeLimits) {
  auto r = parseInitdataToml(kHead + "x = '" + std::string(kMaxInitdataBytes, 'a') + "'\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("above 256 KiB"), std::string::npos);
  auto d = decodeInitdata(encodeInitdata(kHead + "x = '" + std::string(4 << 20, 'a') + "'\n"));
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("decompressed size above 256 KiB"), std::string::npos);
  EXPECT_FALSE(normaliseInitdata(std::string(kMaxInitdataBytes + 1, 'a')));
}

}  // namespace
}  // namespace pp::cloudinit
