// An io_context running on its own thread, plus a way to run a coroutine on it from ordinary
// code and wait for its result. Used by mains and tests.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <optional>
#include <thread>

namespace pp::ttrpc {

class IoThread {
 public:
  IoThread() : work_(asio::make_work_guard(ctx_)), thread_([this] { ctx_.run(); }) {}
  ~IoThread() { stop(); }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  asio::io_context& context() { return ctx_; }
  asio::any_io_executor executor() { return ctx_.get_executor(); }

  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    ctx_.stop();
    thread_.join();
  }

  // Runs `make()` (which returns an awaitable<T>) on this thread and blocks until it is done.
  template <typename MakeAwaitable>
  auto run(MakeAwaitable make) {
    return asio::co_spawn(ctx_, make(), asio::use_future).get();
  }

 private:
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace pp::ttrpc
