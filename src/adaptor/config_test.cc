#include "adaptor/config.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "base/flags.h"

namespace pp::adaptor {
namespace {

// Values upstream refuses stop the adaptor at start; with -disable-tls the profile is unused.
TEST(AdaptorConfigTls, ProfileIsCheckedAtStart) {
  auto validate = [](std::map<std::string, std::string> env) {
    AdaptorConfig c;
    flags::FlagSet fs("test", flags::mapEnv(std::move(env)));
    c.registerFlags(fs);
    return c.validate();
  };
  EXPECT_TRUE(validate({{"TLS_MIN_VERSION", "VersionTLS12"},
                        {"TLS_CIPHER_SUITES",
                         "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "
                         "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}}));
  for (auto [version, suites, reason] :
       {std::tuple<std::string, std::string, std::string>{"VersionTLS10", "", "not supported"},
        {"TLS1.2", "", "unknown TLS minimum version"},
        {"", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,AES128-SHA", "unknown TLS cipher suite"},
        {"VersionTLS13", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "VersionTLS13"},
        {"", "TLS_RSA_WITH_RC4_128_SHA", "is available in this OpenSSL"}}) {
    auto st = validate({{"TLS_MIN_VERSION", version}, {"TLS_CIPHER_SUITES", suites}});
    ASSERT_FALSE(st) << version << " " << suites;
    EXPECT_NE(st.error().message.find(reason), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("-tls-"), std::string::npos);
  }
  // -disable-tls has no variable, as upstream.
  AdaptorConfig c;
  flags::FlagSet fs("test", flags::mapEnv({{"TLS_MIN_VERSION", "VersionTLS10"}}));
  c.registerFlags(fs);
  ASSERT_TRUE(fs.parse({"-disable-tls"}));
  EXPECT_TRUE(c.validate());
}

// -secure-comms: the tags are checked at start, so that a typo stops the adaptor.
TEST(AdaptorConfigSecureComms, TagsAreCheckedAtStart) {
  auto validate = [](std::map<std::string, std::string> env) {
    env["SECURE_COMMS"] = "true";
    AdaptorConfig c;
    flags::FlagSet fs("test", flags::mapEnv(std::move(env)));
    c.registerFlags(fs);
    return c.validate();
  };
  EXPECT_TRUE(validate({{"SECURE_COMMS_NO_TRUSTEE", "true"},
                        {"SECURE_COMMS_INBOUNDS", "KUBERNETES_PHASE:X:podns:0"},
                        {"SECURE_COMMS_PP_OUTBOUNDS", "BOTH_PHASES:Y:10.0.0.1:80"}}));
  for (auto [var, value] :
       {std::pair<std::string, std::string>{"SECURE_COMMS_INBOUNDS", "NOPE:X:1"},
        {"SECURE_COMMS_OUTBOUNDS", "BOTH_PHASES:X:70000"},
        {"SECURE_COMMS_PP_INBOUNDS", "BOTH_PHASES::1"},
        {"SECURE_COMMS_PP_OUTBOUNDS", "A:B"}}) {
    auto st = validate({{var, value}});
    ASSERT_FALSE(st) << var;
    EXPECT_NE(st.error().message.find("secure comms tag"), std::string::npos) << st.error().message;
  }
  auto st = validate({{"SECURE_COMMS_KBS_ADDR", "no-port"}});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("-secure-comms-kbs"), std::string::npos);
}

}  // namespace
}  // namespace pp::adaptor
