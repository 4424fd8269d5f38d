#include "providers/plugin_loader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace pp::providers {
namespace {

namespace fs = std::filesystem;

// Every test copies plugins into its own directory below one root that lives until the end of
// the process, so each test loads a distinct file (a distinct object with fresh statics) and
// loaded plugins' files stay in place while their code is mapped.
const fs::path& testRoot() {
  static const fs::path root = [] {
    std::string tmpl = (fs::temp_directory_path() / "pp-plugin-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    return fs::path(tmpl);
  }();
  return root;
}

fs::path freshDir() {
  static int counter = 0;
  fs::path dir = testRoot() / std::to_string(++counter);
  fs::create_directories(dir);
  // Whatever the umask: the loader refuses group-writable directories.
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  return dir;
}

class RootCleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(testRoot()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new RootCleanup);

// Computed independently of the loader's own hashing.
std::string sha256Of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr), 1);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

fs::path install(const char* source, const fs::path& dir, const std::string& fileName) {
  fs::path target = dir / fileName;
  fs::copy_file(source, target);
  ::chmod(target.c_str(), 0755);
  return target;
}

flags::EnvLookup pluginEnv(const fs::path& path, const std::string& hash,
                           std::string enable = "true") {
  return flags::mapEnv({{std::string(kPluginEnableEnv), enable},
                        {std::string(kPluginPathEnv), path.string()},
                        {std::string(kPluginHashEnv), hash}});
}

class PluginLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv("TESTCLOUD_PLUGIN_MODE"); }
  void TearDown() override { ::unsetenv("TESTCLOUD_PLUGIN_MODE"); }

  // Loads the test plugin from a fresh directory; returns the loader's error message, or "" on
  // success.
  std::string loadTestcloud(Registry& r) {
    fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
    auto loaded = loadExternalPlugin("testcloud", r, pluginEnv(path, sha256Of(path)));
    if (!loaded) return loaded.error().message;
    return *loaded ? "" : "not enabled";
  }
};

TEST_F(PluginLoaderTest, Sha256KnownVector) {
  fs::path file = freshDir() / "abc";
  std::ofstream(file) << "abc";
  auto hash = sha256FileHex(file.string());
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(*hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*hash, sha256Of(file));
  EXPECT_FALSE(sha256FileHex((freshDir() / "missing").string()));
}

TEST_F(PluginLoaderTest, DisabledUnlessExactlyTrue) {
  fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
  const std::string hash = sha256Of(path);
  for (const std::string enable : {"", "TRUE", "True", "1", "yes", "true "}) {
    Registry r;
    auto loaded = loadExternalPlugin("testcloud", r, pluginEnv(path, hash, enable));
    ASSERT_TRUE(loaded) << enable << ": " << loaded.error().message;
    EXPECT_FALSE(*loaded) << enable;
    EXPECT_FALSE(r.contains("testcloud"));
  }
  Registry r;
  auto unset = loadExternalPlugin("testcloud", r, flags::mapEnv({}));
  ASSERT_TRUE(unset);
  EXPECT_FALSE(*unset);
}

TEST_F(PluginLoaderTest, EachCheckFailing) {
  const fs::path good = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
  const std::string hash = sha256Of(good);

  // 2. The parent directory: missing, not a directory, without owner-execute.
  const fs::path noExec = freshDir();
  fs::path noExecPlugin = install(PP_TESTCLOUD_PLUGIN, noExec, "testcloud.so");
  fs::permissions(noExec, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_exec |
                              fs::perms::others_exec);
  const fs::path fileAsDir = freshDir() / "plain-file";
  std::ofstream(fileAsDir) << "x";

  // 5. Content: a different hash, the right hash in upper case, a file that is not a plugin.
  const fs::path garbageDir = freshDir();
  const fs::path garbage = garbageDir / "testcloud.so";
  std::ofstream(garbage) << "not an ELF object";
  const fs::path noEntry = install(PP_NOENTRY_PLUGIN, freshDir(), "testcloud.so");
  std::string upper = hash;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  struct Case {
    std::string what;
    std::string name;
    fs::path path;
    std::string hash;
    std::string expected;  // substring of the error
  };
  const Case cases[] = {
      {"missing dir", "testcloud", freshDir() / "nope" / "testcloud.so", hash,
       "No such file or directory"},
      {"dir is a file", "testcloud", fileAsDir / "testcloud.so", hash, "is not a directory"},
      {"dir without owner-execute", "testcloud", noExecPlugin, hash,
       "lacks the owner-execute permission"},
      {"empty path", "testcloud", "", hash, "must both be set"},
      {"empty hash", "testcloud", good, "", "must both be set"},
      {"wrong basename", "aws", good, hash, "does not match provider aws (expected aws.so)"},
      {"basename without .so", "testcloud", good.parent_path() / "testcloud", hash,
       "expected testcloud.so"},
      {"wrong hash", "testcloud", good, std::string(64, '0'), "has SHA-256 " + hash},
      {"upper-case hash", "testcloud", good, upper, "has SHA-256 " + hash},
      {"missing file", "testcloud", freshDir() / "testcloud.so", hash, "opening plugin"},
      {"not a shared object", "testcloud", garbage, sha256Of(garbage), "loading plugin"},
      {"no entry point", "testcloud", noEntry, sha256Of(noEntry),
       "has no entry point peerpods_provider_init"},
  };
  for (const auto& tc : cases) {
    Registry r;
    auto loaded = loadExternalPlugin(tc.name, r, pluginEnv(tc.path, tc.hash));
    ASSERT_FALSE(loaded) << tc.what;
    EXPECT_EQ(loaded.error().code, Code::kFailedPrecondition) << tc.what;
    EXPECT_NE(loaded.error().message.find(tc.expected), std::string::npos)
        << tc.what << ": " << loaded.error().message;
    EXPECT_FALSE(r.contains(tc.name)) << tc.what;
  }
  fs::permissions(noExec, fs::perms::owner_all);  // so that cleanup can enter it
}

TEST_F(PluginLoaderTest, BadPluginTables) {
  struct Case {
    std::string mode;
    std::string expected;
  };
  const Case cases[] = {
      {"null", "the plugin's init returned no provider"},
      {"abi", "the plugin uses ABI version 99, this adaptor version 1"},
      {"name", "the plugin implements provider \"othercloud\", not \"testcloud\""},
      {"baddefault", "the plugin's flag -testcloud-count has a bad default \"many\": parse error"},
  };
  for (const auto& tc : cases) {
    ::setenv("TESTCLOUD_PLUGIN_MODE", tc.mode.c_str(), 1);
    Registry r;
    std::string error = loadTestcloud(r);
    EXPECT_NE(error.find(tc.expected), std::string::npos) << tc.mode << ": " << error;
    EXPECT_FALSE(r.contains("testcloud"));
  }
}

TEST_F(PluginLoaderTest, LoadsAndRunsThePlugin) {
  // A built-in of the same name is replaced by the plugin.
  Registry r;
  r.add("testcloud", [] { return std::unique_ptr<ProviderSetup>(); });
  ASSERT_EQ(loadTestcloud(r), "");
  ASSERT_TRUE(r.contains("testcloud"));
  EXPECT_EQ(*r.origin("testcloud"), ProviderOrigin::kPlugin);

  auto setup = r.setup("testcloud");
  ASSERT_TRUE(setup) << setup.error().toString();
  flags::FlagSet fs("testcloud",
                    flags::mapEnv({{"TESTCLOUD_REGION", "eu"}, {"TESTCLOUD_KEY", "k3y"}}));
  (*setup)->registerFlags(fs);
  // The plugin's flags get the built-in help, environment and secret handling.
  const std::string help = fs.helpText();
  EXPECT_NE(help.find("  -testcloud-region string\n    \tregion to create VMs in (env "
                      "TESTCLOUD_REGION) (default \"r1\")"),
            std::string::npos)
      << help;
  EXPECT_NE(help.find("  -testcloud-boot-timeout duration\n    \tboot timeout (env "
                      "TESTCLOUD_BOOT_TIMEOUT) (default 1m30s)"),
            std::string::npos)
      << help;
  auto dump = fs.dump();
  EXPECT_NE(std::ranges::find(dump, "testcloud-key=**********"), dump.end());

  ASSERT_TRUE(fs.parse({"-testcloud-zones=x", "-testcloud-zones", "y", "-testcloud-verbose"}));
  auto provider = (*setup)->build();
  ASSERT_TRUE(provider) << provider.error().toString();

  CreateRequest req;
  req.podName = "web";
  req.podNamespace = "default";
  req.sandboxId = "0123456789";
  req.instanceName = "podvm-web-01234567";
  req.userData = "#cloud-config\n";
  req.spec.memoryMiB = 2048;
  req.spec.image = "img-1";
  auto instance = (*provider)->createInstance(req);
  ASSERT_TRUE(instance) << instance.error().toString();
  EXPECT_EQ(instance->id, "tc-0123456789");
  // Every flag value and request field reached the plugin.
  EXPECT_EQ(instance->name, "podvm-web-01234567|eu|90000000000|x,y|true|k3y|14|default|2048|img-1");
  EXPECT_EQ(instance->ips, (std::vector<std::string>{"198.18.0.10", "198.18.0.11"}));

  req.spec.vcpus = 99;
  auto noCapacity = (*provider)->createInstance(req);
  ASSERT_FALSE(noCapacity);
  EXPECT_EQ(noCapacity.error().code, Code::kResourceExhausted);
  EXPECT_EQ(noCapacity.error().message, "no capacity for 99 vCPUs");
  req.spec.vcpus = 98;
  auto silent = (*provider)->createInstance(req);
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().code, Code::kUnknown);
  EXPECT_EQ(silent.error().message, "create_instance failed without an error message");

  EXPECT_TRUE((*provider)->deleteInstance("tc-gone"));
  auto busy = (*provider)->deleteInstance("tc-busy");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, Code::kUnavailable);
  EXPECT_EQ(busy.error().message, "instance tc-busy is busy");

  EXPECT_TRUE((*provider)->verifyConfig());
  EXPECT_TRUE((*provider)->teardown());  // the plugin has none
  auto listed = (*provider)->listInstances("tag");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Code::kUnimplemented);
}

TEST_F(PluginLoaderTest, PluginConfigErrors) {
  Registry r;
  ASSERT_EQ(loadTestcloud(r), "");
  {
    auto setup = r.setup("testcloud");
    ASSERT_TRUE(setup);
    flags::FlagSet fs("testcloud", flags::mapEnv({}));
    (*setup)->registerFlags(fs);
    ASSERT_TRUE(fs.parse({"-testcloud-region=forbidden"}));
    auto provider = (*setup)->build();
    ASSERT_FALSE(provider);
    EXPECT_EQ(provider.error().code, Code::kInvalidArgument);
    EXPECT_EQ(provider.error().message, "plugin testcloud: region forbidden is not allowed");
  }
  {
    auto setup = r.setup("testcloud");
    ASSERT_TRUE(setup);
    flags::FlagSet fs("testcloud", flags::mapEnv({}));
    (*setup)->registerFlags(fs);
    auto bad = fs.parse({"-testcloud-boot-timeout=soon"});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message,
              "invalid value \"soon\" for flag -testcloud-boot-timeout: parse error");
    ASSERT_TRUE(fs.parse({"-testcloud-zones="}));
    auto provider = (*setup)->build();
    ASSERT_TRUE(provider);
    auto verified = (*provider)->verifyConfig();
    ASSERT_FALSE(verified);
    EXPECT_EQ(verified.error().message, "no zones configured");
  }
}

TEST_F(PluginLoaderTest, CaseInsensitiveBasename) {
  fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "TestCloud.SO");
  Registry r;
  auto loaded = loadExternalPlugin("testcloud", r, pluginEnv(path, sha256Of(path)));
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(*loaded);
  EXPECT_TRUE(r.contains("testcloud"));
}

TEST_F(PluginLoaderTest, SameObjectLoadedTwice) {
  fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
  for (int i = 0; i < 2; ++i) {
    Registry r;
    auto loaded = loadExternalPlugin("testcloud", r, pluginEnv(path, sha256Of(path)));
    ASSERT_TRUE(loaded) << loaded.error().message;
    EXPECT_TRUE(*loaded);
  }
}

TEST_F(PluginLoaderTest, LookupFallsBackToBuiltIns) {
  Registry r;
  bool builtInUsed = false;
  r.add("testcloud", [&builtInUsed] {
    builtInUsed = true;
    return std::unique_ptr<ProviderSetup>();
  });
  fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
  // A wrong hash: the plugin is refused, the built-in is used.
  auto setup = lookupProvider("testcloud", r, pluginEnv(path, std::string(64, 'f')));
  EXPECT_TRUE(builtInUsed);
  EXPECT_EQ(*r.origin("testcloud"), ProviderOrigin::kBuiltIn);
  // Unknown provider with plugins disabled.
  auto unknown = lookupProvider("nosuchcloud", r, flags::mapEnv({}));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Code::kNotFound);
  EXPECT_EQ(unknown.error().message, "unsupported cloud provider: nosuchcloud");
  // And with the right hash the plugin wins.
  auto plugin = lookupProvider("testcloud", r, pluginEnv(path, sha256Of(path)));
  ASSERT_TRUE(plugin) << plugin.error().toString();
  EXPECT_EQ(*r.origin("testcloud"), ProviderOrigin::kPlugin);
}

// Runs a function between hash and load for as long as it lives.
class HashedHook {
 public:
  explicit HashedHook(std::function<void(const std::string&)> hook) {
    setPluginHashedHookForTesting(std::move(hook));
  }
  ~HashedHook() { setPluginHashedHookForTesting(nullptr); }
};

// Loads `path` as provider testcloud with its current hash; returns the error message or "".
std::string loadAt(const fs::path& path, Registry& r) {
  auto loaded = loadExternalPlugin("testcloud", r, pluginEnv(path, sha256Of(path)));
  if (!loaded) return loaded.error().message;
  return *loaded ? "" : "not enabled";
}

TEST_F(PluginLoaderTest, FileSwappedAfterHashingIsNotLoaded) {
  const fs::path dir = freshDir();
  const fs::path path = install(PP_TESTCLOUD_PLUGIN, dir, "testcloud.so");
  const fs::path other = install(PP_NOENTRY_PLUGIN, dir, "other.so");
  bool swapped = false;
  HashedHook hook([&](const std::string& hashed) {
    // An attacker with write access to the directory renames another object over the
    // plugin once its hash was checked.
    fs::rename(other, hashed);
    swapped = true;
  });
  Registry r;
  // Loaded by path, this would be the object without an entry point.
  ASSERT_EQ(loadAt(path, r), "");
  ASSERT_TRUE(swapped);
  EXPECT_EQ(sha256Of(path), sha256Of(PP_NOENTRY_PLUGIN));
  // What runs is the hashed plugin.
  auto setup = r.setup("testcloud");
  ASSERT_TRUE(setup) << setup.error().toString();
  flags::FlagSet fs("testcloud", flags::mapEnv({}));
  (*setup)->registerFlags(fs);
  ASSERT_TRUE(fs.parse({}));
  auto provider = (*setup)->build();
  ASSERT_TRUE(provider) << provider.error().toString();
  CreateRequest req;
  req.sandboxId = "42";
  auto instance = (*provider)->createInstance(req);
  ASSERT_TRUE(instance) << instance.error().toString();
  EXPECT_EQ(instance->id, "tc-42");
}

TEST_F(PluginLoaderTest, SymbolicLinkIsRefused) {
  const fs::path dir = freshDir();
  const fs::path real = install(PP_TESTCLOUD_PLUGIN, dir, "real.so");
  const fs::path link = dir / "testcloud.so";
  fs::create_symlink(real, link);
  Registry r;
  std::string error = loadAt(link, r);
  EXPECT_NE(error.find("is a symbolic link; set CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH to the file"),
            std::string::npos)
      << error;
  EXPECT_FALSE(r.contains("testcloud"));
}

TEST_F(PluginLoaderTest, FifoIsRefusedWithoutBlocking) {
  const fs::path path = freshDir() / "testcloud.so";
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0);
  Registry r;
  auto loaded = loadExternalPlugin("testcloud", r, pluginEnv(path, std::string(64, '0')));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("is not a regular file"), std::string::npos)
      << loaded.error().message;
}

TEST_F(PluginLoaderTest, PluginWritableByOthersIsRefused) {
  for (mode_t mode : {0775, 0757, 0666}) {
    const fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    Registry r;
    std::string error = loadAt(path, r);
    EXPECT_NE(error.find(fmt::format("is writable by group or others (mode {:04o})", mode)),
              std::string::npos)
        << mode << ": " << error;
    EXPECT_FALSE(r.contains("testcloud"));
  }
  // Read and execute for everyone is fine.
  const fs::path ok = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
  ASSERT_EQ(::chmod(ok.c_str(), 0555), 0);
  Registry r;
  EXPECT_EQ(loadAt(ok, r), "");
}

TEST_F(PluginLoaderTest, DirectoryWritableByOthersIsRefusedUnlessSticky) {
  for (mode_t mode : {0775, 0757, 0777}) {
    const fs::path dir = freshDir();
    const fs::path path = install(PP_TESTCLOUD_PLUGIN, dir, "testcloud.so");
    ASSERT_EQ(::chmod(dir.c_str(), mode), 0);
    Registry r;
    std::string error = loadAt(path, r);
    EXPECT_NE(error.find(fmt::format("plugin directory {} is writable by group or others (mode "
                                     "{:04o})",
                                     dir.string(), mode)),
              std::string::npos)
        << mode << ": " << error;
    EXPECT_FALSE(r.contains("testcloud"));
  }
  // Sticky, as /tmp: others may add files but not replace ours.
  const fs::path sticky = freshDir();
  const fs::path path = install(PP_TESTCLOUD_PLUGIN, sticky, "testcloud.so");
  ASSERT_EQ(::chmod(sticky.c_str(), 01777), 0);
  Registry r;
  EXPECT_EQ(loadAt(path, r), "");
}

TEST_F(PluginLoaderTest, OwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  const uid_t nobody = 65534;
  {
    const fs::path path = install(PP_TESTCLOUD_PLUGIN, freshDir(), "testcloud.so");
    ASSERT_EQ(::chown(path.c_str(), nobody, static_cast<gid_t>(-1)), 0);
    Registry r;
    std::string error = loadAt(path, r);
    EXPECT_NE(error.find("is owned by uid 65534, not by root or uid 0"), std::string::npos)
        << error;
  }
  {
    const fs::path dir = freshDir();
    const fs::path path = install(PP_TESTCLOUD_PLUGIN, dir, "testcloud.so");
    ASSERT_EQ(::chown(dir.c_str(), nobody, static_cast<gid_t>(-1)), 0);
    Registry r;
    std::string error = loadAt(path, r);
    EXPECT_NE(error.find("plugin directory " + dir.string() +
                         " is owned by uid 65534, not by root or uid 0"),
              std::string::npos)
        << error;
  }
}

}  // namespace
}  // namespace pp::providers
