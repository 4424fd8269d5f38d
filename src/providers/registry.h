// The table of providers by name (upstream's cloud provider table). A provider folder registers
// itself with PP_REGISTER_PROVIDER; the binaries link every provider library whole (see
// pp_provider() in cmake/peerpods.cmake) so the static registrars run before main().
//
// Start-up sequence, as upstream: setup = registry().setup(name); register the common flags,
// then setup->registerFlags(flags); parse the command line; provider = setup->build().
// peerpod-ctrl skips the parse: registration alone applies the environment.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/flags.h"
#include "providers/provider.h"

namespace pp::providers {

// One configuration of one provider: owns the config its flags bind to, then builds the
// provider from it. The flag set must not outlive the setup (it points into the config).
class ProviderSetup {
 public:
  virtual ~ProviderSetup() = default;
  // Registers the provider's flags, binding them to the config this object owns; registration
  // applies defaults and environment variables.
  virtual void registerFlags(flags::FlagSet& flags) = 0;
  // Builds the provider from the config after the command line was parsed. May contact the
  // cloud (upstream's NewProvider does: IMDS, instance-type lookups).
  virtual Result<std::unique_ptr<Provider>> build() = 0;
};

// The usual ProviderSetup: a config struct plus two functions.
template <typename Config>
class ConfigSetup final : public ProviderSetup {
 public:
  using RegisterFn = void (*)(flags::FlagSet&, Config&);
  using BuildFn = Result<std::unique_ptr<Provider>> (*)(const Config&);

  ConfigSetup(RegisterFn registerFn, BuildFn buildFn) : register_(registerFn), build_(buildFn) {}
  void registerFlags(flags::FlagSet& flags) override { register_(flags, config_); }
  Result<std::unique_ptr<Provider>> build() override { return build_(config_); }
  const Config& config() const { return config_; }

 private:
  Config config_{};
  RegisterFn register_;
  BuildFn build_;
};

// The BuildFn of a provider class P whose static P::create(config) returns
// Result<std::unique_ptr<P>>: PP_REGISTER_PROVIDER("aws", AwsConfig, registerAwsFlags,
// buildWith<AwsProvider>). Config is deduced from the registration.
template <typename P, typename Config>
Result<std::unique_ptr<Provider>> buildWith(const Config& config) {
  auto p = P::create(config);
  if (!p) return fail(p.error());
  return std::unique_ptr<Provider>(std::move(*p));
}

enum class ProviderOrigin { kBuiltIn, kPlugin };

class Registry {
 public:
  using SetupFactory = std::function<std::unique_ptr<ProviderSetup>()>;

  // Registers `name`, replacing an earlier entry of the same name: a plugin overrides the
  // built-in provider, as upstream.
  void add(std::string name, SetupFactory factory,
           ProviderOrigin origin = ProviderOrigin::kBuiltIn);
  bool contains(std::string_view name) const;
  // Registered names, sorted.
  std::vector<std::string> names() const;
  // Where the entry for `name` came from; NOT_FOUND if unregistered.
  Result<ProviderOrigin> origin(std::string_view name) const;
  // A fresh setup for `name`; NOT_FOUND "unsupported cloud provider: <name>" if unknown.
  Result<std::unique_ptr<ProviderSetup>> setup(std::string_view name) const;

 private:
  struct Entry {
    SetupFactory factory;
    ProviderOrigin origin;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// The process-wide registry the static registrars fill.
Registry& registry();

// A static object of this type registers a built-in provider before main() runs.
struct ProviderRegistrar {
  ProviderRegistrar(std::string name, Registry::SetupFactory factory);
};

}  // namespace pp::providers

#define PP_PROVIDER_CONCAT_INNER(a, b) a##b
#define PP_PROVIDER_CONCAT(a, b) PP_PROVIDER_CONCAT_INNER(a, b)

// PP_REGISTER_PROVIDER("docker", DockerConfig, registerDockerFlags, buildDockerProvider)
// where registerDockerFlags is void(pp::flags::FlagSet&, DockerConfig&) and
// buildDockerProvider is pp::Result<std::unique_ptr<pp::providers::Provider>>(const DockerConfig&)
// (or buildWith<DockerProvider>). Use it once in a .cc file of the provider's library, at
// namespace scope.
#define PP_REGISTER_PROVIDER(name, Config, registerFn, buildFn)                                \
  namespace {                                                                                  \
  const ::pp::providers::ProviderRegistrar PP_PROVIDER_CONCAT(ppProviderRegistrar_, __LINE__){ \
      name, [] {                                                                               \
        using Setup = ::pp::providers::ConfigSetup<Config>;                                    \
        return std::unique_ptr<::pp::providers::ProviderSetup>(                                \
            std::make_unique<Setup>(registerFn, static_cast<Setup::BuildFn>(buildFn)));        \
      }};                                                                                      \
  }
