#include "providers/registry.h"

#include <utility>

namespace pp::providers {

void Registry::add(std::string name, SetupFactory factory, ProviderOrigin origin) {
  std::lock_guard lock(mu_);
  entries_.insert_or_assign(std::move(name), Entry{std::move(factory), origin});
}

bool Registry::contains(std::string_view name) const {
  std::lock_guard lock(mu_);
  return entries_.find(name) != entries_.end();
}

std::vector<std::string> Registry::names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

Result<ProviderOrigin> Registry::origin(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end())
    return fail(Code::kNotFound, "unsupported cloud provider: " + std::string(name));
  return it->second.origin;
}

Result<std::unique_ptr<ProviderSetup>> Registry::setup(std::string_view name) const {
  SetupFactory factory;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(name);
    if (it == entries_.end()) {
      return fail(Code::kNotFound, "unsupported cloud provider: " + std::string(name));
    }
    factory = it->second.factory;
  }
  // Outside the lock: a factory is user code and may be slow.
  auto setup = factory();
  if (!setup) return fail(Code::kInternal, "provider " + std::string(name) + " returned no setup");
  return setup;
}

Registry& registry() {
  // A function-local static, so registrars in other translation units can use it during
  // static initialisation regardless of order.
  static Registry instance;
  return instance;
}

ProviderRegistrar::ProviderRegistrar(std::string name, Registry::SetupFactory factory) {
  registry().add(std::move(name), std::move(factory), ProviderOrigin::kBuiltIn);
}

}  // namespace pp::providers
