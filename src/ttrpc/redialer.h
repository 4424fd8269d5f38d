// Redialer: the one ttrpc connection to a peer that every call shares, dialled lazily by the
// first call that needs it and again by the first call after it was lost. The adaptor's agent
// proxy (to the pod VM's forwarder) and the forwarder (to kata-agent) each hold one.
//
//  - Single flight: while a dial is in progress, other calls wait for it (each until its own
//    deadline) instead of dialling too; when it ends they are woken and take its connection,
//    or, when it failed, the first of them dials anew.
//  - Backoff: failed attempts are retried after initialBackoff, doubling up to maxBackoff, plus
//    a random jitter below maxJitter, never past the dialling call's deadline.
//  - A call cancelled in the middle of its dial (its client went away) leaves no dial marked
//    in progress and no waiter registered: a waiter then dials instead.
//  - shutdown() closes the connection and wakes every waiter and the backoff wait; from then
//    on every call fails with UNAVAILABLE and the shutdown message.
// Used from coroutines on `ex` only (shutdown included); connects() from any thread.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "ttrpc/client.h"
#include "ttrpc/server.h"
#include "ttrpc/stream.h"

namespace pp::ttrpc {

struct RedialerOptions {
  // The peer in errors and logs: "kata-agent at /run/kata-containers/agent.sock".
  std::string peer;
  // Log component ("proxy", "forwarder") and, when the connection belongs to one, the sandbox.
  std::string logComponent = "ttrpc";
  std::string sandboxId;
  std::chrono::milliseconds initialBackoff{100};
  std::chrono::milliseconds maxBackoff{std::chrono::seconds(5)};
  std::chrono::milliseconds maxJitter{0};  // 0: none
  // Whether one more attempt is made once the backoff wait has reached the deadline (and when a
  // call arrives with its deadline already past): right for a local socket, which answers at
  // once; pointless for a network dial that only has the time left before the deadline.
  bool attemptAtDeadline = false;
  // The code of "cannot reach <peer> after N attempts" when the deadline ends the dialling.
  Code giveUpCode = Code::kDeadlineExceeded;
  // The message of UNAVAILABLE after shutdown().
  std::string shutdownMessage = "connection is shut down";
};

class Redialer {
 public:
  using Clock = std::chrono::steady_clock;
  // One attempt: a connected stream by `deadline`, or why not.
  using DialFn =
      std::function<asio::awaitable<Result<std::unique_ptr<ByteStream>>>(Clock::time_point)>;

  Redialer(asio::any_io_executor ex, RedialerOptions options, DialFn dial);
  ~Redialer();
  Redialer(const Redialer&) = delete;
  Redialer& operator=(const Redialer&) = delete;

  // The open connection; else the one the dial in progress makes; else a new dial's. Fails at
  // `deadline` (DEADLINE_EXCEEDED "waiting for <peer>" for a waiter, giveUpCode "cannot reach
  // <peer> after N attempts: <last error>" for the dialling call), or after shutdown().
  asio::awaitable<Result<std::shared_ptr<Client>>> get(Clock::time_point deadline);

  // Relays one call as bytes: gets the connection by min(now + maxDialWait, call deadline),
  // then calls with the call's deadline and metadata.
  asio::awaitable<Result<std::string>> relay(const CallContext& ctx, std::string payload,
                                             Clock::duration maxDialWait);

  // The open connection, or null while there is none (not dialled yet, lost, shut down): for
  // passing a call on at once (ttrpc::Route), leaving the others to relay().
  Client* connected() const {
    return !stopped_ && client_ && !client_->closed() ? client_.get() : nullptr;
  }

  void shutdown();
  bool stopped() const { return stopped_; }
  // How many times a connection was established.
  int connects() const { return connects_.load(); }

 private:
  Error giveUp(int attempts) const;
  void logLine(bool debug, const std::string& message) const;

  asio::any_io_executor ex_;
  RedialerOptions options_;
  DialFn dial_;
  std::shared_ptr<Client> client_;
  bool dialing_ = false;
  std::vector<asio::steady_timer*> waiters_;  // calls waiting for the dial in progress
  asio::steady_timer* backoff_ = nullptr;     // the dialling call's wait between attempts
  std::string lastError_;
  std::minstd_rand rng_{std::random_device{}()};
  std::atomic<int> connects_{0};
  bool stopped_ = false;
};

}  // namespace pp::ttrpc
