// An io_context running on its own thread, plus a way to run a coroutine on it from ordinary
// code and wait for its result. Used by mains and tests.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <exception>
#include <future>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

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
  // The completion handler is a plain lambda, so it runs on this io_context: asio::use_future
  // would complete through asio's system executor, whose first use starts a pool of
  // 2 x hardware_concurrency idle threads in the process.
  template <typename MakeAwaitable>
  auto run(MakeAwaitable make) {
    using T = typename decltype(make())::value_type;
    auto promise = std::make_shared<std::promise<T>>();
    auto future = promise->get_future();
    if constexpr (std::is_void_v<T>) {
      asio::co_spawn(ctx_, make(), [promise](std::exception_ptr e) {
        if (e) {
          promise->set_exception(e);
        } else {
          promise->set_value();
        }
      });
    } else {
      asio::co_spawn(ctx_, make(), [promise](std::exception_ptr e, T value) {
        if (e) {
          promise->set_exception(e);
        } else {
          promise->set_value(std::move(value));
        }
      });
    }
    return future.get();
  }

 private:
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace pp::ttrpc
