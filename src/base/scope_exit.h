// Runs a function when a scope ends, however it ends: also when a cancelled coroutine unwinds
// (an Asio awaitable whose cancellation throws at its next co_await).
#pragma once

#include <utility>

namespace pp {

template <typename F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

}  // namespace pp
