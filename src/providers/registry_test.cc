#include "providers/registry.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pp::providers {
namespace {

// A provider whose behaviour the tests set directly.
struct StubConfig {
  std::string name;
  bool failBuild = false;
};

class StubProvider final : public Provider {
 public:
  explicit StubProvider(std::string name) : name_(std::move(name)) {}
  Result<Instance> createInstance(const CreateRequest& r) override {
    return Instance{name_, r.instanceName, {}};
  }
  Status deleteInstance(const std::string&) override { return {}; }

 private:
  std::string name_;
};

void registerStubFlags(flags::FlagSet& fs, StubConfig& c) {
  fs.stringVar(&c.name, "stub-name", "stub", "STUB_NAME", "name");
  fs.boolVar(&c.failBuild, "stub-fail", false, "", "fail build");
}

Result<std::unique_ptr<Provider>> buildStub(const StubConfig& c) {
  if (c.failBuild) return fail(Code::kInvalidArgument, "stub asked to fail");
  return std::make_unique<StubProvider>(c.name);
}

Registry::SetupFactory stubFactory() {
  return [] {
    return std::unique_ptr<ProviderSetup>(
        std::make_unique<ConfigSetup<StubConfig>>(registerStubFlags, buildStub));
  };
}

TEST(ProviderRegistryTest, StaticRegistrarRanBeforeMain) {
  // registrar_provider.cc lives in a static library linked whole; if the linker dropped its
  // registrar object, this name would be missing.
  auto names = registry().names();
  EXPECT_NE(std::ranges::find(names, "registrar-echo"), names.end());
  ASSERT_TRUE(registry().origin("registrar-echo"));
  EXPECT_EQ(*registry().origin("registrar-echo"), ProviderOrigin::kBuiltIn);
}

TEST(ProviderRegistryTest, SetupRegistersFlagsAndBuilds) {
  auto setup = registry().setup("registrar-echo");
  ASSERT_TRUE(setup) << setup.error().toString();
  flags::FlagSet fs("registrar-echo", flags::mapEnv({{"ECHO_GREETING", "hi"}}));
  (*setup)->registerFlags(fs);
  ASSERT_NE(fs.lookup("echo-greeting"), nullptr);
  EXPECT_EQ(fs.lookup("echo-greeting")->value().toString(), "hi");  // env applied at registration
  ASSERT_TRUE(fs.parse({"-echo-greeting", "yo"}));
  auto provider = (*setup)->build();
  ASSERT_TRUE(provider) << provider.error().toString();
  auto instance =
      (*provider)->createInstance(CreateRequest{.sandboxId = "abc", .instanceName = "podvm-x"});
  ASSERT_TRUE(instance);
  EXPECT_EQ(instance->id, "echo-abc");
  EXPECT_EQ(instance->name, "yo-podvm-x");

  // A fresh setup has its own config: the flag above does not leak into it.
  auto second = registry().setup("registrar-echo");
  ASSERT_TRUE(second);
  flags::FlagSet fs2("registrar-echo", flags::mapEnv({}));
  (*second)->registerFlags(fs2);
  ASSERT_TRUE(fs2.parse({"-echo-greeting="}));
  auto bad = (*second)->build();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "echo-greeting must not be empty");
}

TEST(ProviderRegistryTest, AddLookupReplace) {
  Registry r;
  EXPECT_TRUE(r.names().empty());
  r.add("zeta", stubFactory());
  r.add("alpha", stubFactory());
  EXPECT_EQ(r.names(), (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_TRUE(r.contains("alpha"));
  EXPECT_FALSE(r.contains("beta"));

  auto missing = r.setup("beta");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound);
  EXPECT_EQ(missing.error().message, "unsupported cloud provider: beta");
  EXPECT_FALSE(r.origin("beta"));

  // A plugin of the same name replaces the built-in entry.
  bool pluginUsed = false;
  r.add(
      "alpha",
      [&pluginUsed] {
        pluginUsed = true;
        return std::unique_ptr<ProviderSetup>(
            std::make_unique<ConfigSetup<StubConfig>>(registerStubFlags, buildStub));
      },
      ProviderOrigin::kPlugin);
  EXPECT_EQ(r.names().size(), 2u);
  EXPECT_EQ(*r.origin("alpha"), ProviderOrigin::kPlugin);
  ASSERT_TRUE(r.setup("alpha"));
  EXPECT_TRUE(pluginUsed);
}

TEST(ProviderRegistryTest, BuildFailureAndDefaults) {
  Registry r;
  r.add("stub", stubFactory());
  auto setup = r.setup("stub");
  ASSERT_TRUE(setup);
  flags::FlagSet fs("stub", flags::mapEnv({{"STUB_NAME", "from-env"}}));
  (*setup)->registerFlags(fs);
  ASSERT_TRUE(fs.parse({"-stub-fail"}));
  auto failed = (*setup)->build();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Code::kInvalidArgument);

  ASSERT_TRUE(fs.parse({"-stub-fail=false"}));
  auto provider = (*setup)->build();
  ASSERT_TRUE(provider);
  EXPECT_EQ((*provider)->createInstance({})->id, "from-env");
  // The interface's optional calls.
  EXPECT_TRUE((*provider)->teardown());
  EXPECT_TRUE((*provider)->verifyConfig());
  auto listed = (*provider)->listInstances("coco-pod-vm");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Code::kUnimplemented);
}

TEST(ProviderRegistryTest, FactoryReturningNothingIsAnError) {
  Registry r;
  r.add("broken", [] { return std::unique_ptr<ProviderSetup>(); });
  auto setup = r.setup("broken");
  ASSERT_FALSE(setup);
  EXPECT_EQ(setup.error().code, Code::kInternal);
}

}  // namespace
}  // namespace pp::providers
