#include "base/flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace pp::flags {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;

// The flags of a small daemon, one of each kind, bound to a config the test inspects.
struct Config {
  std::string socket;
  bool tlsSkipVerify = false;
  int64_t limit = 0;
  uint64_t vxlanPort = 0;
  double memory = 0;
  std::chrono::nanoseconds proxyTimeout{};
  std::vector<std::string> cidrs;
  std::map<std::string, std::string> tags;
  std::string noEnv;
};

void registerAll(FlagSet& fs, Config& c) {
  fs.stringVar(&c.socket, "socket", "/run/peerpod/hypervisor.sock", "REMOTE_HYPERVISOR_ENDPOINT",
               "Unix domain socket path of remote hypervisor service");
  fs.boolVar(&c.tlsSkipVerify, "tls-skip-verify", false, "TLS_SKIP_VERIFY",
             "Skip TLS certificate verification");
  fs.intVar(&c.limit, "peerpods-limit-per-node", 10, "PEERPODS_LIMIT_PER_NODE",
            "peer pods per node");
  fs.uintVar(&c.vxlanPort, "vxlan-port", 4789, "VXLAN_PORT", "VXLAN UDP port number");
  fs.floatVar(&c.memory, "memory", 2, "POWERVS_MEMORY", "memory in GB");
  fs.durationVar(&c.proxyTimeout, "proxy-timeout", 5min, "PROXY_TIMEOUT", "Maximum timeout");
  fs.stringListVar(&c.cidrs, "pod-subnet-cidrs", {}, "POD_SUBNET_CIDRS", "pod subnets");
  fs.keyValueVar(&c.tags, "tags", {}, "TAGS", "custom tags");
  fs.stringVar(&c.noEnv, "host-interface", "", "", "host interface");
}

TEST(FlagsTest, DefaultsWithoutEnvOrArgs) {
  Config c;
  FlagSet fs("test", mapEnv({}));
  registerAll(fs, c);
  EXPECT_EQ(c.socket, "/run/peerpod/hypervisor.sock");
  EXPECT_FALSE(c.tlsSkipVerify);
  EXPECT_EQ(c.limit, 10);
  EXPECT_EQ(c.vxlanPort, 4789u);
  EXPECT_EQ(c.memory, 2.0);
  EXPECT_EQ(c.proxyTimeout, 5min);
  EXPECT_TRUE(c.cidrs.empty());
  EXPECT_EQ(fs.lookup("socket")->source(), "default");
  auto r = fs.parse({});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_FALSE(r->helpRequested);
  EXPECT_TRUE(r->remaining.empty());
}

TEST(FlagsTest, CommandLineSyntaxes) {
  struct Case {
    std::vector<std::string> args;
    uint64_t port;
    std::vector<std::string> remaining;
  };
  const Case cases[] = {
      {{"-vxlan-port", "1"}, 1, {}},
      {{"-vxlan-port=2"}, 2, {}},
      {{"--vxlan-port", "3"}, 3, {}},
      {{"--vxlan-port=4"}, 4, {}},
      {{"-vxlan-port=0x10"}, 16, {}},  // Go base-0 integers
      {{"-vxlan-port=0o17"}, 15, {}},
      {{"-vxlan-port=017"}, 15, {}},
      {{"-vxlan-port=0b101"}, 5, {}},
      {{"-vxlan-port=1_000"}, 1000, {}},
      {{"-vxlan-port", "5", "rest", "-vxlan-port=6"}, 5, {"rest", "-vxlan-port=6"}},
      {{"-vxlan-port", "7", "--", "-vxlan-port=8"}, 7, {"-vxlan-port=8"}},
      {{"-", "-vxlan-port=9"}, 4789, {"-", "-vxlan-port=9"}},
      {{"-vxlan-port=1", "-vxlan-port=2"}, 2, {}},  // last one wins
  };
  for (const auto& tc : cases) {
    Config c;
    FlagSet fs("test", mapEnv({}));
    registerAll(fs, c);
    auto r = fs.parse(tc.args);
    ASSERT_TRUE(r) << tc.args[0] << ": " << r.error().toString();
    EXPECT_EQ(c.vxlanPort, tc.port) << tc.args[0];
    EXPECT_EQ(r->remaining, tc.remaining) << tc.args[0];
  }
}

TEST(FlagsTest, BoolSyntax) {
  struct Case {
    std::vector<std::string> args;
    bool value;
    std::vector<std::string> remaining;
  };
  const Case cases[] = {
      {{"-tls-skip-verify"}, true, {}},
      {{"--tls-skip-verify"}, true, {}},
      {{"-tls-skip-verify=true"}, true, {}},
      {{"-tls-skip-verify=T"}, true, {}},
      {{"-tls-skip-verify=1"}, true, {}},
      {{"-tls-skip-verify", "-tls-skip-verify=false"}, false, {}},
      {{"-tls-skip-verify=FALSE"}, false, {}},
      // "-f false" is the flag followed by a positional argument, as in Go.
      {{"-tls-skip-verify", "false"}, true, {"false"}},
  };
  for (const auto& tc : cases) {
    Config c;
    FlagSet fs("test", mapEnv({}));
    registerAll(fs, c);
    auto r = fs.parse(tc.args);
    ASSERT_TRUE(r) << tc.args.back() << ": " << r.error().toString();
    EXPECT_EQ(c.tlsSkipVerify, tc.value) << tc.args.back();
    EXPECT_EQ(r->remaining, tc.remaining);
  }
}

TEST(FlagsTest, OtherKindsFromCommandLine) {
  Config c;
  FlagSet fs("test", mapEnv({}));
  registerAll(fs, c);
  auto r = fs.parse({"-socket", "-weird-but-a-value", "-peerpods-limit-per-node=-3", "-memory=0.5",
                     "-proxy-timeout=1h30m", "-pod-subnet-cidrs", "10.0.0.0/8, 192.168.0.0/16,",
                     "-pod-subnet-cidrs=172.16.0.0/12", "-tags", "a=1, b = 2", "--tags=c=x=y",
                     "-host-interface=", "positional"});
  ASSERT_TRUE(r) << r.error().toString();
  EXPECT_EQ(c.socket, "-weird-but-a-value");  // a non-bool flag takes the next argument verbatim
  EXPECT_EQ(c.limit, -3);
  EXPECT_EQ(c.memory, 0.5);
  EXPECT_EQ(c.proxyTimeout, 90min);
  EXPECT_EQ(c.cidrs, (std::vector<std::string>{"10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"}));
  EXPECT_EQ(c.tags, (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}, {"c", "x=y"}}));
  EXPECT_EQ(c.noEnv, "");
  EXPECT_EQ(r->remaining, std::vector<std::string>{"positional"});
  EXPECT_TRUE(fs.lookup("socket")->setOnCommandLine());
  EXPECT_FALSE(fs.lookup("vxlan-port")->setOnCommandLine());
}

TEST(FlagsTest, PrecedenceDefaultEnvFlag) {
  Env env = {{"VXLAN_PORT", "5000"},
             {"REMOTE_HYPERVISOR_ENDPOINT", ""},
             {"PROXY_TIMEOUT", "2s"},
             {"POD_SUBNET_CIDRS", "10.0.0.0/8,10.1.0.0/16"},
             {"TAGS", "env=1"}};
  {
    Config c;
    FlagSet fs("test", mapEnv(env));
    registerAll(fs, c);
    EXPECT_EQ(c.vxlanPort, 5000u);                        // env beats default
    EXPECT_EQ(c.socket, "/run/peerpod/hypervisor.sock");  // empty env is ignored
    EXPECT_EQ(c.proxyTimeout, 2s);
    EXPECT_EQ(fs.lookup("vxlan-port")->source(), "env");
    EXPECT_EQ(fs.lookup("socket")->source(), "default");
    ASSERT_TRUE(fs.parse({}));
    EXPECT_EQ(c.vxlanPort, 5000u);
    EXPECT_EQ(c.cidrs, (std::vector<std::string>{"10.0.0.0/8", "10.1.0.0/16"}));
  }
  {
    Config c;
    FlagSet fs("test", mapEnv(env));
    registerAll(fs, c);
    ASSERT_TRUE(fs.parse({"-vxlan-port=6000", "-pod-subnet-cidrs=1.0.0.0/8",
                          "-pod-subnet-cidrs=2.0.0.0/8", "-tags=cli=2"}));
    EXPECT_EQ(c.vxlanPort, 6000u);  // the command line beats env
    EXPECT_EQ(fs.lookup("vxlan-port")->source(), "flag");
    // Lists: the command line replaces the environment's list, and its repetitions accumulate.
    EXPECT_EQ(c.cidrs, (std::vector<std::string>{"1.0.0.0/8", "2.0.0.0/8"}));
    EXPECT_EQ(c.tags, (std::map<std::string, std::string>{{"cli", "2"}}));
    EXPECT_EQ(c.proxyTimeout, 2s);
  }
}

// A variable renamed upstream keeps working under its old name; the new name wins when both
// are set, and the command line beats both.
TEST(FlagsTest, EnvAliasIsReadWhenTheMainVariableIsEmpty) {
  auto types = [](Env env, std::vector<std::string> args = {}) {
    std::vector<std::string> v;
    FlagSet fs("test", mapEnv(std::move(env)));
    Flag& f = fs.stringListVar(&v, "machine-types", {}, "GCP_INSTANCE_TYPES", "types")
                  .alsoEnv("GCP_MACHINE_TYPES");
    EXPECT_EQ(f.env(), "GCP_INSTANCE_TYPES");
    EXPECT_EQ(f.envAliases(), (std::vector<std::string>{"GCP_MACHINE_TYPES"}));
    EXPECT_TRUE(fs.parse(args));
    return std::pair{v, std::string(f.source())};
  };
  using Types = std::vector<std::string>;
  EXPECT_EQ(types({}), std::pair(Types{}, std::string("default")));
  EXPECT_EQ(types({{"GCP_MACHINE_TYPES", "a,b"}}), std::pair(Types{"a", "b"}, std::string("env")));
  EXPECT_EQ(types({{"GCP_INSTANCE_TYPES", ""}, {"GCP_MACHINE_TYPES", "a"}}),
            std::pair(Types{"a"}, std::string("env")));
  EXPECT_EQ(types({{"GCP_INSTANCE_TYPES", "c"}, {"GCP_MACHINE_TYPES", "a"}}),
            std::pair(Types{"c"}, std::string("env")));
  EXPECT_EQ(types({{"GCP_MACHINE_TYPES", "a"}}, {"-machine-types=d"}),
            std::pair(Types{"d"}, std::string("flag")));

  // An alias that does not parse is an error like the main variable.
  int64_t n = 0;
  FlagSet fs("test", mapEnv({{"OLD_LIMIT", "many"}}));
  fs.intVar(&n, "limit", 3, "LIMIT", "limit").alsoEnv("OLD_LIMIT");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(fs.lookup("limit")->source(), "default");
  ASSERT_FALSE(fs.validate());
  EXPECT_THAT(fs.validate().error().message, testing::HasSubstr("environment variable OLD_LIMIT"));
  // A bad main variable is reported; its alias is not read.
  FlagSet both("test", mapEnv({{"LIMIT", "x"}, {"OLD_LIMIT", "5"}}));
  both.intVar(&n, "limit", 3, "LIMIT", "limit").alsoEnv("OLD_LIMIT");
  EXPECT_EQ(n, 3);
  EXPECT_THAT(both.validate().error().message, testing::HasSubstr("environment variable LIMIT"));
}

TEST(FlagsTest, EnvParsing) {
  struct Case {
    std::string var;
    std::string text;
    std::string flag;
    std::string expected;  // the value after registration, as toString() prints it
    bool valid = true;     // false: the default stays and validate() names the variable
  };
  const Case cases[] = {
      // Bools: strconv.ParseBool's spellings, anything else is an error.
      {"TLS_SKIP_VERIFY", "1", "tls-skip-verify", "true"},
      {"TLS_SKIP_VERIFY", "t", "tls-skip-verify", "true"},
      {"TLS_SKIP_VERIFY", "T", "tls-skip-verify", "true"},
      {"TLS_SKIP_VERIFY", "TRUE", "tls-skip-verify", "true"},
      {"TLS_SKIP_VERIFY", "true", "tls-skip-verify", "true"},
      {"TLS_SKIP_VERIFY", "True", "tls-skip-verify", "true"},
      {"TLS_SKIP_VERIFY", "0", "tls-skip-verify", "false"},
      {"TLS_SKIP_VERIFY", "f", "tls-skip-verify", "false"},
      {"TLS_SKIP_VERIFY", "F", "tls-skip-verify", "false"},
      {"TLS_SKIP_VERIFY", "FALSE", "tls-skip-verify", "false"},
      {"TLS_SKIP_VERIFY", "false", "tls-skip-verify", "false"},
      {"TLS_SKIP_VERIFY", "False", "tls-skip-verify", "false"},
      {"TLS_SKIP_VERIFY", "TrUe", "tls-skip-verify", "false", false},
      {"TLS_SKIP_VERIFY", "yes", "tls-skip-verify", "false", false},
      {"TLS_SKIP_VERIFY", "on", "tls-skip-verify", "false", false},
      {"TLS_SKIP_VERIFY", "no", "tls-skip-verify", "false", false},
      {"TLS_SKIP_VERIFY", " true", "tls-skip-verify", "false", false},
      // Ints: decimal, as upstream scans them.
      {"PEERPODS_LIMIT_PER_NODE", "25", "peerpods-limit-per-node", "25"},
      {"PEERPODS_LIMIT_PER_NODE", "-2", "peerpods-limit-per-node", "-2"},
      {"PEERPODS_LIMIT_PER_NODE", "abc", "peerpods-limit-per-node", "10", false},
      {"PEERPODS_LIMIT_PER_NODE", "ten", "peerpods-limit-per-node", "10", false},
      {"PEERPODS_LIMIT_PER_NODE", "0x10", "peerpods-limit-per-node", "10", false},
      {"PEERPODS_LIMIT_PER_NODE", "99999999999999999999", "peerpods-limit-per-node", "10", false},
      // Uints: base 10, 32 bits.
      {"VXLAN_PORT", "4790", "vxlan-port", "4790"},
      {"VXLAN_PORT", "4294967295", "vxlan-port", "4294967295"},
      {"VXLAN_PORT", "4294967296", "vxlan-port", "4789", false},
      {"VXLAN_PORT", "-1", "vxlan-port", "4789", false},
      {"VXLAN_PORT", "0x12b5", "vxlan-port", "4789", false},
      // Durations: Go syntax.
      {"PROXY_TIMEOUT", "300ms", "proxy-timeout", "300ms"},
      {"PROXY_TIMEOUT", "1h30m", "proxy-timeout", "1h30m0s"},
      {"PROXY_TIMEOUT", "5", "proxy-timeout", "5m0s", false},
      {"PROXY_TIMEOUT", "soon", "proxy-timeout", "5m0s", false},
      // Floats.
      {"POWERVS_MEMORY", "4.5", "memory", "4.5"},
      {"POWERVS_MEMORY", "lots", "memory", "2", false},
      // Key-value: a bad item keeps the default.
      {"TAGS", "a=1,b", "tags", "", false},
      {"TAGS", "a=1,b=2", "tags", "a=1,b=2"},
  };
  for (const auto& tc : cases) {
    Config c;
    FlagSet fs("test", mapEnv({{tc.var, tc.text}}));
    registerAll(fs, c);
    const Flag* flag = fs.lookup(tc.flag);
    ASSERT_NE(flag, nullptr);
    EXPECT_EQ(flag->value().toString(), tc.expected) << tc.var << "=" << tc.text;
    auto validated = fs.validate();
    auto parsed = fs.parse({});
    EXPECT_EQ(validated.has_value(), tc.valid) << tc.var << "=" << tc.text;
    EXPECT_EQ(parsed.has_value(), tc.valid) << tc.var << "=" << tc.text;
    if (!tc.valid && !validated) {
      EXPECT_EQ(validated.error().code, Code::kInvalidArgument);
      EXPECT_THAT(validated.error().message,
                  testing::HasSubstr("environment variable " + tc.var + " (flag -" + tc.flag + ")"))
          << tc.text;
      EXPECT_EQ(parsed.error().message, validated.error().message);
    }
  }
}

TEST(FlagsTest, BadEnvironmentValueMessage) {
  Config c;
  FlagSet fs("test", mapEnv({{"PEERPODS_LIMIT_PER_NODE", "abc"}}));
  registerAll(fs, c);
  auto parsed = fs.parse({});
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message,
            "invalid value \"abc\" for environment variable PEERPODS_LIMIT_PER_NODE (flag "
            "-peerpods-limit-per-node): parse error");
  // Still an error when the command line also sets the flag: the deployment is wrong.
  EXPECT_FALSE(fs.parse({"-peerpods-limit-per-node=3"}));
  // Help and version are still answered.
  auto help = fs.parse({"-help"});
  ASSERT_TRUE(help);
  EXPECT_TRUE(help->helpRequested);
  auto version = fs.parse({"--version"});
  ASSERT_TRUE(version);
  EXPECT_TRUE(version->versionRequested);
}

TEST(FlagsTest, BadSecretEnvironmentValueIsNotShown) {
  int64_t n = 0;
  FlagSet fs("test", mapEnv({{"TOKEN_COUNT", "hunter2"}}));
  fs.intVar(&n, "token-count", 1, "TOKEN_COUNT", "count").secret();
  auto s = fs.validate();
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, testing::Not(testing::HasSubstr("hunter2")));
  EXPECT_THAT(s.error().message, testing::HasSubstr("TOKEN_COUNT"));
}

TEST(FlagsTest, PlaceholdersAreRefused) {
  struct Case {
    Env env;
    std::vector<std::string> args;
    std::string message;  // empty: accepted
  };
  const Case cases[] = {
      {{{"REMOTE_HYPERVISOR_ENDPOINT", "REPLACE_ME"}},
       {},
       "-socket (env REMOTE_HYPERVISOR_ENDPOINT) still holds the placeholder REPLACE_ME: set it "
       "to a real value"},
      {{{"TAGS", "owner=REPLACE_ME_OWNER"}},
       {},
       "-tags (env TAGS) still holds the placeholder REPLACE_ME: set it to a real value"},
      {{}, {"-socket=/run/REPLACE_ME.sock"}, "-socket still holds the placeholder REPLACE_ME"},
      {{}, {"-pod-subnet-cidrs=10.0.0.0/8,REPLACE_ME"}, "-pod-subnet-cidrs still holds"},
      // The command line replaces a placeholder from the environment.
      {{{"REMOTE_HYPERVISOR_ENDPOINT", "REPLACE_ME"}}, {"-socket=/run/x.sock"}, ""},
      {{{"REMOTE_HYPERVISOR_ENDPOINT", "replace_me"}}, {}, ""},  // the marker is upper case
  };
  for (const auto& tc : cases) {
    Config c;
    FlagSet fs("test", mapEnv(tc.env));
    registerAll(fs, c);
    auto parsed = fs.parse(tc.args);
    if (tc.message.empty()) {
      EXPECT_TRUE(parsed) << parsed.error().message;
    } else {
      ASSERT_FALSE(parsed) << tc.message;
      EXPECT_THAT(parsed.error().message, testing::HasSubstr(tc.message));
    }
  }
  // Several problems are named together.
  Config c;
  FlagSet fs("test", mapEnv({{"VXLAN_PORT", "x"}, {"PAUSE", "REPLACE_ME"}}));
  registerAll(fs, c);
  std::string pause;
  fs.stringVar(&pause, "pause-image", "", "PAUSE", "pause image");
  auto s = fs.validate();
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, testing::HasSubstr("VXLAN_PORT"));
  EXPECT_THAT(s.error().message, testing::HasSubstr("-pause-image (env PAUSE)"));
}

TEST(FlagsTest, VersionIsAnsweredUnlessDefined) {
  FlagSet fs("test", mapEnv({}));
  auto parsed = fs.parse({"-version", "ignored"});
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->versionRequested);
  bool version = false;
  FlagSet defined("test", mapEnv({}));
  defined.boolVar(&version, "version", false, "", "Show version");
  parsed = defined.parse({"--version"});
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->versionRequested);
  EXPECT_TRUE(version);
  parsed = defined.parse({"--version=false"});
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->versionRequested);
  // The version is answered even when the configuration is bad.
  int64_t n = 0;
  FlagSet bad("test", mapEnv({{"N", "x"}}));
  bad.boolVar(&version, "version", false, "", "Show version");
  bad.intVar(&n, "n", 0, "N", "n");
  EXPECT_FALSE(bad.parse({}));
  parsed = bad.parse({"-version"});
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->versionRequested);
}

TEST(FlagsTest, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"-foo"}, "flag provided but not defined: -foo"},
      {{"--foo=1"}, "flag provided but not defined: -foo"},
      {{"-vxlan-port", "x"}, "invalid value \"x\" for flag -vxlan-port: parse error"},
      {{"-vxlan-port=-1"}, "invalid value \"-1\" for flag -vxlan-port: parse error"},
      {{"-vxlan-port=18446744073709551616"},
       "invalid value \"18446744073709551616\" for flag -vxlan-port: value out of range"},
      {{"-peerpods-limit-per-node=9223372036854775808"},
       "invalid value \"9223372036854775808\" for flag -peerpods-limit-per-node: value out of "
       "range"},
      {{"-peerpods-limit-per-node=1__0"},
       "invalid value \"1__0\" for flag -peerpods-limit-per-node: parse error"},
      {{"-peerpods-limit-per-node=08"},
       "invalid value \"08\" for flag -peerpods-limit-per-node: parse error"},
      {{"-proxy-timeout=5"}, "invalid value \"5\" for flag -proxy-timeout: parse error"},
      {{"-memory=abc"}, "invalid value \"abc\" for flag -memory: parse error"},
      {{"-tls-skip-verify=yes"}, "invalid boolean value \"yes\" for -tls-skip-verify: parse error"},
      {{"-tags=novalue"},
       "invalid value \"novalue\" for flag -tags: key-value pair \"novalue\" has no '='"},
      {{"-vxlan-port"}, "flag needs an argument: -vxlan-port"},
      {{"---vxlan-port=1"}, "bad flag syntax: ---vxlan-port=1"},
      {{"-=1"}, "bad flag syntax: -=1"},
  };
  for (const auto& tc : cases) {
    Config c;
    FlagSet fs("test", mapEnv({}));
    registerAll(fs, c);
    auto r = fs.parse(tc.args);
    ASSERT_FALSE(r) << tc.args[0];
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().message, tc.message);
  }
}

TEST(FlagsTest, HelpRequested) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-h"}, {"-help"}, {"--help"}, {"--h"}, {"-vxlan-port=1", "-help", "-unknown"}}) {
    Config c;
    FlagSet fs("test", mapEnv({}));
    registerAll(fs, c);
    auto r = fs.parse(args);
    ASSERT_TRUE(r) << args.back();
    EXPECT_TRUE(r->helpRequested) << args.back();
  }
  // A flag set that defines -h itself gets the value instead.
  bool h = false;
  FlagSet fs("test", mapEnv({}));
  fs.boolVar(&h, "h", false, "", "human-readable");
  auto r = fs.parse({"-h"});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->helpRequested);
  EXPECT_TRUE(h);
}

TEST(FlagsTest, HelpText) {
  Config c;
  FlagSet fs("test", mapEnv({{"VXLAN_PORT", "1"}}));  // help shows the built-in default, not env
  registerAll(fs, c);
  bool v = false;
  fs.boolVar(&v, "v", false, "", "verbose");
  std::string file;
  fs.stringVar(&file, "config", "", "", "read the `path` to a config");
  EXPECT_EQ(
      fs.helpText(),
      "  -config path\n"
      "    \tread the path to a config\n"
      "  -host-interface string\n"
      "    \thost interface\n"
      "  -memory float\n"
      "    \tmemory in GB (env POWERVS_MEMORY) (default 2)\n"
      "  -peerpods-limit-per-node int\n"
      "    \tpeer pods per node (env PEERPODS_LIMIT_PER_NODE) (default 10)\n"
      "  -pod-subnet-cidrs value\n"
      "    \tpod subnets (env POD_SUBNET_CIDRS)\n"
      "  -proxy-timeout duration\n"
      "    \tMaximum timeout (env PROXY_TIMEOUT) (default 5m0s)\n"
      "  -socket string\n"
      "    \tUnix domain socket path of remote hypervisor service (env REMOTE_HYPERVISOR_ENDPOINT) "
      "(default \"/run/peerpod/hypervisor.sock\")\n"
      "  -tags value\n"
      "    \tcustom tags (env TAGS)\n"
      "  -tls-skip-verify\n"
      "    \tSkip TLS certificate verification (env TLS_SKIP_VERIFY)\n"
      "  -v\tverbose\n"
      "  -vxlan-port uint\n"
      "    \tVXLAN UDP port number (env VXLAN_PORT) (default 4789)\n");
}

TEST(FlagsTest, DumpMasksSecrets) {
  std::string key, region;
  FlagSet fs("test", mapEnv({{"AWS_SECRET_ACCESS_KEY", "hunter2"}}));
  fs.stringVar(&key, "aws-secret-key", "", "AWS_SECRET_ACCESS_KEY", "secret").secret();
  fs.stringVar(&region, "aws-region", "us-east-1", "AWS_REGION", "region").required();
  EXPECT_EQ(key, "hunter2");
  EXPECT_TRUE(fs.lookup("aws-secret-key")->isSecret());
  EXPECT_TRUE(fs.lookup("aws-region")->isRequired());
  EXPECT_EQ(fs.dump(),
            (std::vector<std::string>{"aws-region=us-east-1", "aws-secret-key=**********"}));
}

TEST(FlagsTest, RedefinitionIsAProgrammingError) {
  std::string a, b;
  FlagSet fs("test", mapEnv({}));
  fs.stringVar(&a, "x", "", "", "");
  EXPECT_THROW(fs.stringVar(&b, "x", "", "", ""), std::logic_error);
  EXPECT_THROW(fs.stringVar(&b, "-y", "", "", ""), std::logic_error);
}

// A custom kind, the way a provider with its own list type (byom's IP ranges) plugs in.
class EvenValue final : public Value {
 public:
  explicit EvenValue(int* target) : target_(target) {}
  Status set(std::string_view text) override {
    if (text.empty() || text.size() > 3 || (text.back() - '0') % 2 != 0) {
      return fail(Code::kInvalidArgument, "not even");
    }
    *target_ = std::stoi(std::string(text));
    return {};
  }
  std::string toString() const override { return std::to_string(*target_); }
  std::string_view typeName() const override { return "even"; }
  bool isZero() const override { return *target_ == 0; }

 private:
  int* target_;
};

TEST(FlagsTest, CustomValue) {
  int n = 4;
  FlagSet fs("test", mapEnv({{"EVEN", "7"}}));
  fs.var(std::make_unique<EvenValue>(&n), "even", "EVEN", "an even number");
  EXPECT_EQ(n, 4);  // a bad env value leaves the default and fails validation
  EXPECT_FALSE(fs.validate());
  EXPECT_EQ(fs.helpText(), "  -even even\n    \tan even number (env EVEN) (default 4)\n");
  FlagSet clean("test", mapEnv({}));
  clean.var(std::make_unique<EvenValue>(&n), "even", "EVEN", "an even number");
  auto bad = clean.parse({"-even=3"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "invalid value \"3\" for flag -even: not even");
  ASSERT_TRUE(clean.parse({"-even", "12"}));
  EXPECT_EQ(n, 12);
}

TEST(FlagsTest, PublicValueParsers) {
  EXPECT_EQ(*parseBool("T"), true);
  EXPECT_EQ(*parseBool("0"), false);
  EXPECT_EQ(parseBool("yes").error().message, "parse error");
  EXPECT_EQ(*parseInt("-0x10"), -16);
  EXPECT_EQ(*parseInt("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(parseInt("9223372036854775808").error().message, "value out of range");
  EXPECT_EQ(*parseUint("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parseUint("+1").error().message, "parse error");
  EXPECT_EQ(*parseFloat("+1.25"), 1.25);
  EXPECT_EQ(*parseFloat("0x1p-2"), 0.25);
  EXPECT_EQ(parseFloat("1e400").error().message, "value out of range");
  EXPECT_EQ(parseFloat("1.5x").error().message, "parse error");
  EXPECT_EQ(formatFloat(0.5), "0.5");
  EXPECT_EQ(formatFloat(2), "2");
  EXPECT_EQ(splitList(" a, ,b ,"), (std::vector<std::string>{"a", "b"}));
}

TEST(FlagsDurationTest, Parse) {
  struct Case {
    std::string text;
    std::chrono::nanoseconds value;
  };
  const Case good[] = {
      {"0", 0ns},
      {"-0", 0ns},
      {"5s", 5s},
      {"+5s", 5s},
      {"-5s", -5s},
      {"300ms", 300ms},
      {"1h30m", 90min},
      {"2h45m10.5s", 2h + 45min + 10500ms},
      {"1.5h", 90min},
      {".5s", 500ms},
      {"1.s", 1s},
      {"10us", 10us},
      {"10\u00b5s", 10us},
      {"10\u03bcs", 10us},
      {"7ns", 7ns},
      {"1m0.000000001s", 1min + 1ns},
      {"9223372036854775807ns", std::chrono::nanoseconds(INT64_MAX)},
      {"-9223372036854775808ns", std::chrono::nanoseconds(INT64_MIN)},
      {"0.100000000000000000000h", 6min},
  };
  for (const auto& tc : good) {
    auto d = parseDuration(tc.text);
    ASSERT_TRUE(d) << tc.text << ": " << d.error().message;
    EXPECT_EQ(*d, tc.value) << tc.text;
  }
  struct Bad {
    std::string text;
    std::string message;
  };
  const Bad bad[] = {
      {"", "time: invalid duration \"\""},
      {"5", "time: missing unit in duration \"5\""},
      {"3x", "time: unknown unit \"x\" in duration \"3x\""},
      {"-", "time: invalid duration \"-\""},
      {".s", "time: invalid duration \".s\""},
      {"s", "time: invalid duration \"s\""},
      {"1h 2m", "time: unknown unit \"h \" in duration \"1h 2m\""},
      {"9223372036854775808ns", "time: invalid duration \"9223372036854775808ns\""},
      {"3000000h", "time: invalid duration \"3000000h\""},
  };
  for (const auto& tc : bad) {
    auto d = parseDuration(tc.text);
    ASSERT_FALSE(d) << tc.text;
    EXPECT_EQ(d.error().message, tc.message);
  }
}

TEST(FlagsDurationTest, Format) {
  struct Case {
    std::chrono::nanoseconds value;
    std::string text;
  };
  const Case cases[] = {
      {0ns, "0s"},
      {1ns, "1ns"},
      {1100ns, "1.1\u00b5s"},
      {2200us, "2.2ms"},
      {300ms, "300ms"},
      {2s, "2s"},
      {3300ms, "3.3s"},
      {5min, "5m0s"},
      {90s, "1m30s"},
      {90min, "1h30m0s"},
      {4h + 5min + 6s + 7ms, "4h5m6.007s"},
      {-5s, "-5s"},
      {-1ns, "-1ns"},
      {std::chrono::nanoseconds(INT64_MAX), "2562047h47m16.854775807s"},
      {std::chrono::nanoseconds(INT64_MIN), "-2562047h47m16.854775808s"},
  };
  for (const auto& tc : cases) {
    EXPECT_EQ(formatDuration(tc.value), tc.text);
    auto back = parseDuration(tc.text);
    ASSERT_TRUE(back) << tc.text;
    EXPECT_EQ(*back, tc.value) << tc.text;
  }
}

}  // namespace
}  // namespace pp::flags
