// Threads for blocking work (provider calls: HTTP to a cloud, libvirt, dockerd, SSH) that grow
// with demand and shrink when idle. A task never queues behind busy workers while fewer than
// `maxThreads` threads run: 200 pods arriving at once make 200 provider creates in flight, and
// the only brakes are the node's pod limit and the provider's own rate limiter. Threads that
// stay idle for `idleTimeout` exit, so an idle adaptor holds none; the last one to exit returns
// the heap's free pages to the kernel (malloc_trim), which a burst of calls leaves behind.
#pragma once

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace pp {

class ElasticPool {
 public:
  struct Options {
    size_t maxThreads = 1024;
    std::chrono::milliseconds idleTimeout = std::chrono::seconds(30);
    // 0: the system's default (glibc: RLIMIT_STACK, usually 8 MiB of address space; only the
    // pages a thread touches are resident).
    size_t stackBytes = 0;
  };
  struct Stats {
    size_t threads = 0;      // running now
    size_t idle = 0;         // waiting for a task
    size_t queued = 0;       // tasks no thread has taken yet (only when at maxThreads)
    size_t peakThreads = 0;  // most threads at once since the start
  };

  explicit ElasticPool(Options options);
  ElasticPool() : ElasticPool(Options{}) {}
  ElasticPool(const ElasticPool&) = delete;
  ElasticPool& operator=(const ElasticPool&) = delete;
  // join()
  ~ElasticPool();

  // Runs `task` on an idle thread, on a new one, or (at maxThreads) when a thread is free.
  // After join() (shutdown) it runs on the caller's thread before post returns, so that a task
  // that owns a completion (a coroutine waiting for its result) is never dropped.
  void post(std::move_only_function<void()> task);
  // Stops taking tasks, lets the queued ones run, and waits for every thread to end.
  void join();
  Stats stats() const;

 private:
  static void* trampoline(void* self);
  void work();
  void reapLocked();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable allDone_;
  std::deque<std::move_only_function<void()>> tasks_;
  std::vector<pthread_t> exited_;  // ended threads not joined yet
  size_t threads_ = 0;
  size_t idle_ = 0;
  size_t peak_ = 0;
  bool stopping_ = false;
};

}  // namespace pp
