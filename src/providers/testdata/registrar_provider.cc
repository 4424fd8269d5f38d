// A provider registered the way every real one is: PP_REGISTER_PROVIDER in a static library
// linked whole. The registry test checks that it is present before main() runs, which fails if
// the registrar is dropped at link time.
#include <memory>

#include "providers/registry.h"

namespace {

struct EchoConfig {
  std::string greeting;
  int64_t replicas = 0;
};

void registerEchoFlags(pp::flags::FlagSet& fs, EchoConfig& c) {
  fs.stringVar(&c.greeting, "echo-greeting", "hello", "ECHO_GREETING",
               "what instance names start with");
  fs.intVar(&c.replicas, "echo-replicas", 1, "", "ignored");
}

class EchoProvider final : public pp::providers::Provider {
 public:
  explicit EchoProvider(EchoConfig config) : config_(std::move(config)) {}
  pp::Result<pp::providers::Instance> createInstance(
      const pp::providers::CreateRequest& r) override {
    return pp::providers::Instance{
        "echo-" + r.sandboxId, config_.greeting + "-" + r.instanceName, {"198.18.1.1"}};
  }
  pp::Status deleteInstance(const std::string&) override { return {}; }

 private:
  EchoConfig config_;
};

pp::Result<std::unique_ptr<pp::providers::Provider>> buildEcho(const EchoConfig& c) {
  if (c.greeting.empty())
    return pp::fail(pp::Code::kInvalidArgument, "echo-greeting must not be empty");
  return std::make_unique<EchoProvider>(c);
}

}  // namespace

PP_REGISTER_PROVIDER("registrar-echo", EchoConfig, registerEchoFlags, buildEcho)
