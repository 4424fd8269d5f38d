#include "base/elastic_pool.h"

#include <malloc.h>

#include <stdexcept>

namespace pp {

ElasticPool::ElasticPool(Options options) : options_(options) {
  if (options_.maxThreads == 0) throw std::invalid_argument("ElasticPool: maxThreads must be > 0");
}

ElasticPool::~ElasticPool() {
  join();
}

void ElasticPool::post(std::move_only_function<void()> task) {
  std::unique_lock lk(mu_);
  if (stopping_) {
    lk.unlock();
    task();
    return;
  }
  reapLocked();
  tasks_.push_back(std::move(task));
  // Every queued task is matched with an idle thread (idle_ counts a woken thread until it
  // runs), else a new thread is started while the limit allows.
  if (tasks_.size() <= idle_) {
    wake_.notify_one();
    return;
  }
  if (threads_ >= options_.maxThreads) return;  // a busy thread takes it when free

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (options_.stackBytes) pthread_attr_setstacksize(&attr, options_.stackBytes);
  pthread_t t;
  int rc = pthread_create(&t, &attr, &ElasticPool::trampoline, this);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    // Out of threads (memory, RLIMIT_NPROC): the task waits for a running thread, or, with
    // none running, runs on the caller's thread (slow, but nothing is dropped).
    if (threads_ > 0) return;
    auto mine = std::move(tasks_.back());
    tasks_.pop_back();
    lk.unlock();
    mine();
    return;
  }
  ++threads_;
  if (threads_ > peak_) peak_ = threads_;
}

void* ElasticPool::trampoline(void* self) {
  static_cast<ElasticPool*>(self)->work();
  return nullptr;
}

void ElasticPool::work() {
  std::unique_lock lk(mu_);
  for (;;) {
    if (tasks_.empty() && !stopping_) {
      ++idle_;
      bool woken =
          wake_.wait_for(lk, options_.idleTimeout, [&] { return !tasks_.empty() || stopping_; });
      --idle_;
      if (!woken) {
        // Idle for idleTimeout: this thread is not needed. The last one to go ends a burst of
        // provider calls, whose transient allocations left free pages all over the heap
        // between the long-lived ones (sandboxes' proxies): they go back to the kernel.
        if (threads_ == 1) {
          lk.unlock();
          malloc_trim(0);
          lk.lock();
          if (!tasks_.empty() && !stopping_) continue;
        }
        break;
      }
    }
    if (tasks_.empty()) break;  // stopping, and nothing left to run
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lk.unlock();
    task();
    task = nullptr;  // whatever the task holds goes before the lock is taken again
    lk.lock();
  }
  // The threads that ended before this one have only to return: joining them now gives their
  // stacks back (an ended thread that nobody joined keeps its stack mapped, with its thread
  // descriptor and TLS resident, ~24 KiB each after a burst of hundreds) instead of at the next
  // post(). At most this thread is left to be joined.
  reapLocked();
  exited_.push_back(pthread_self());
  --threads_;
  allDone_.notify_all();
}

void ElasticPool::reapLocked() {
  // An exited thread has left work() under the lock: joining it only waits for its return.
  for (pthread_t t : exited_) pthread_join(t, nullptr);
  exited_.clear();
}

void ElasticPool::join() {
  std::unique_lock lk(mu_);
  stopping_ = true;
  wake_.notify_all();
  allDone_.wait(lk, [&] { return threads_ == 0; });
  reapLocked();
}

ElasticPool::Stats ElasticPool::stats() const {
  std::lock_guard lk(mu_);
  return {threads_, idle_, tasks_.size() > idle_ ? tasks_.size() - idle_ : 0, peak_};
}

}  // namespace pp
