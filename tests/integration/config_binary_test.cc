// The built binaries refuse bad configuration at start and share one command-line convention:
// -help/--help/-h print usage and exit 0, -version/--version print version, commit and Kata
// version and exit 0.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "base/flags.h"
#include "peerpod_ctrl/controller.h"

namespace {

struct Run {
  int exitCode = -1;
  std::string output;  // stdout and stderr
};

// Runs `env -i <env...> <binary> <args>` with a clean environment, so that nothing of the
// test runner's (KUBERNETES_SERVICE_HOST, ...) leaks in.
Run run(const std::string& binary, const std::vector<std::string>& env,
        const std::vector<std::string>& args) {
  std::string cmd = "env -i PATH=/usr/bin:/bin";
  for (const auto& e : env) cmd += " '" + e + "'";
  cmd += " timeout 20 " + binary;
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string kAdaptor = PP_CLOUD_API_ADAPTOR;

TEST(ConfigBinaryTest, BadIntegerEnvironmentValueStopsTheAdaptor) {
  auto r = run(kAdaptor, {"PEERPODS_LIMIT_PER_NODE=abc"}, {"docker", "-pods-dir=/nonexistent/x"});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr("PEERPODS_LIMIT_PER_NODE"));
  EXPECT_THAT(r.output, testing::HasSubstr("-peerpods-limit-per-node"));
}

TEST(ConfigBinaryTest, BooleansAreGoParseBool) {
  for (const char* bad : {"yes", "on", "Yes", "tRuE", "2"}) {
    auto r = run(kAdaptor, {std::string("DISABLECVM=") + bad}, {"libvirt", "-help"});
    EXPECT_EQ(r.exitCode, 0) << "help is answered even with bad settings: " << r.output;
    r = run(kAdaptor, {std::string("DISABLECVM=") + bad}, {"libvirt"});
    EXPECT_EQ(r.exitCode, 1) << bad << ": " << r.output;
    EXPECT_THAT(r.output, testing::HasSubstr("environment variable DISABLECVM (flag -disable-cvm)"))
        << bad;
  }
  // DISABLECVM=t is true: the start-up dump shows the value; the adaptor then stops on the
  // socket path it cannot create.
  for (const char* good : {"t", "T", "1", "TRUE", "true", "True"}) {
    auto r = run(kAdaptor, {std::string("DISABLECVM=") + good},
                 {"libvirt", "-socket=/proc/pp-no-such-dir/hv.sock"});
    EXPECT_THAT(r.output, testing::HasSubstr("disable-cvm=true")) << good << ": " << r.output;
    EXPECT_THAT(r.output, testing::Not(testing::HasSubstr("environment variable DISABLECVM")));
  }
  for (const char* good : {"f", "F", "0", "FALSE", "false", "False"}) {
    auto r = run(kAdaptor, {std::string("DISABLECVM=") + good},
                 {"libvirt", "-socket=/proc/pp-no-such-dir/hv.sock"});
    EXPECT_THAT(r.output, testing::HasSubstr("disable-cvm=false")) << good << ": " << r.output;
  }
}

TEST(ConfigBinaryTest, EveryTypedSettingNamesItself) {
  struct Case {
    std::string env;
    std::string name;
  };
  for (const Case& c :
       {Case{"VXLAN_PORT=x", "VXLAN_PORT"}, Case{"PROXY_TIMEOUT=5", "PROXY_TIMEOUT"},
        Case{"FORWARDER_PORT=-1", "FORWARDER_PORT"},
        Case{"CLOUD_CONFIG_VERIFY=yes", "CLOUD_CONFIG_VERIFY"},
        Case{"TLS_SKIP_VERIFY=on", "TLS_SKIP_VERIFY"},
        Case{"PROVIDER_WORKERS=many", "PROVIDER_WORKERS"}}) {
    auto r = run(kAdaptor, {c.env}, {"docker"});
    EXPECT_EQ(r.exitCode, 1) << c.env << ": " << r.output;
    EXPECT_THAT(r.output, testing::HasSubstr("environment variable " + c.name)) << c.env;
  }
  auto r = run(kAdaptor, {}, {"docker", "-vxlan-port=x"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.output, testing::HasSubstr("-vxlan-port"));
}

TEST(ConfigBinaryTest, PlaceholdersAreRefusedAtStart) {
  auto r = run(kAdaptor, {"LIBVIRT_URI=qemu+ssh://REPLACE_ME/system"}, {"libvirt"});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr("(env LIBVIRT_URI) still holds the placeholder"));
  // Variables read outside the flag set (the downward API's) get the same check.
  r = run(kAdaptor, {"NODE_NAME=REPLACE_ME"},
          {"docker", "-socket=/tmp/pp-config-binary-test-never.sock"});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output,
              testing::HasSubstr("environment variable NODE_NAME still holds the placeholder"));
  r = run(kAdaptor, {}, {"docker", "-pods-dir=/run/REPLACE_ME"});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr("-pods-dir still holds the placeholder REPLACE_ME"));
}

// The aws overlay's secret as shipped: the adaptor stops at start, naming the settings but not
// showing their values; peerpod-ctrl refuses to build the provider from the same keys.
TEST(ConfigBinaryTest, AwsOverlayPlaceholders) {
  const std::vector<std::string> env = {"AWS_ACCESS_KEY_ID=REPLACE_ME: an access key ID",
                                        "AWS_SECRET_ACCESS_KEY=REPLACE_ME: the secret access key",
                                        "AWS_REGION=us-east-1"};
  auto r = run(kAdaptor, env, {"aws"});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr("-aws-access-key-id (env AWS_ACCESS_KEY_ID) still "
                                           "holds the placeholder REPLACE_ME"));
  EXPECT_THAT(r.output, testing::HasSubstr("(env AWS_SECRET_ACCESS_KEY) still holds"));
  EXPECT_THAT(r.output, testing::Not(testing::HasSubstr("the secret access key")));

  auto built = pp::peerpod_ctrl::buildRegisteredProvider(
      "aws", pp::flags::mapEnv({{"AWS_ACCESS_KEY_ID", "REPLACE_ME: an access key ID"},
                                {"AWS_SECRET_ACCESS_KEY", "x"},
                                {"AWS_REGION", "us-east-1"}}));
  ASSERT_FALSE(built);
  EXPECT_THAT(built.error().message, testing::HasSubstr("provider aws"));
  EXPECT_THAT(built.error().message, testing::HasSubstr("(env AWS_ACCESS_KEY_ID) still holds"));
  built = pp::peerpod_ctrl::buildRegisteredProvider("libvirt",
                                                    pp::flags::mapEnv({{"DISABLECVM", "yes"}}));
  ASSERT_FALSE(built);
  EXPECT_THAT(built.error().message, testing::HasSubstr("environment variable DISABLECVM"));
}

TEST(ConfigBinaryTest, OneHelpAndVersionConvention) {
  const std::vector<std::string> binaries = {PP_CLOUD_API_ADAPTOR, PP_FORWARDER,
                                             PP_PROCESS_USER_DATA, PP_PEERPOD_CTRL,
                                             PP_WEBHOOK,           PP_PEERPODCTL};
  for (const auto& binary : binaries) {
    const std::string name = binary.substr(binary.rfind('/') + 1);
    for (const char* help : {"-help", "--help", "-h"}) {
      auto r = run(binary, {}, {help});
      EXPECT_EQ(r.exitCode, 0) << name << " " << help << ": " << r.output;
      EXPECT_THAT(r.output,
                  testing::AnyOf(testing::HasSubstr("Usage"), testing::HasSubstr("usage")))
          << name << " " << help;
    }
    for (const char* version : {"-version", "--version"}) {
      auto r = run(binary, {}, {version});
      EXPECT_EQ(r.exitCode, 0) << name << " " << version << ": " << r.output;
      EXPECT_THAT(r.output, testing::StartsWith(name + " version " + PP_VERSION + "\n  commit: "))
          << name;
      EXPECT_THAT(r.output, testing::HasSubstr("\n  kata: " PP_KATA_VERSION "\n")) << name;
    }
  }
  // The webhook defines -version as upstream's does; bad settings do not hide it.
  auto r = run(PP_WEBHOOK, {"LOG_FORMAT=xml"}, {"-version"});
  EXPECT_EQ(r.exitCode, 0) << r.output;
  r = run(PP_WEBHOOK, {"LOG_FORMAT=xml"}, {});
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_THAT(r.output, testing::HasSubstr("environment variable LOG_FORMAT"));
  r = run(PP_WEBHOOK, {"TARGET_RUNTIMECLASS=REPLACE_ME"}, {"-version"});
  EXPECT_EQ(r.exitCode, 0) << r.output;
  for (const char* env : {"LOG_FORMAT=xml", "PEERPODS_LOG_LEVEL=loud"}) {
    r = run(PP_PROCESS_USER_DATA, {env}, {"provision-files"});
    EXPECT_EQ(r.exitCode, 1) << r.output;
    EXPECT_THAT(r.output,
                testing::HasSubstr(std::string("environment variable ") +
                                   std::string(env).substr(0, std::string(env).find('='))));
  }
  // The logging variables are checked as strictly by every daemon (their logger reads them
  // leniently before any flag is parsed).
  const std::pair<std::string, std::vector<std::string>> daemons[] = {
      {kAdaptor, {"docker"}}, {PP_FORWARDER, {}}, {PP_PEERPOD_CTRL, {}}, {PP_WEBHOOK, {}}};
  for (const auto& [binary, args] : daemons) {
    for (const char* env : {"PEERPODS_LOG_LEVEL=loud", "LOG_FORMAT=xml"}) {
      r = run(binary, {env}, args);
      EXPECT_EQ(r.exitCode, 1) << binary << " " << env << ": " << r.output;
      EXPECT_THAT(r.output,
                  testing::HasSubstr(std::string("environment variable ") +
                                     std::string(env).substr(0, std::string(env).find('='))))
          << binary;
    }
  }
  r = run(kAdaptor, {}, {"version"});  // upstream's subcommand
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_THAT(r.output, testing::StartsWith("cloud-api-adaptor version "));
}

}  // namespace
