// A stand-in for kata-agent, for our own tests only: it answers the kata agent protocol
// (grpc.AgentService + grpc.Health over ttrpc) with real processes, but without containers:
// no rootfs, mounts, cgroups, seccomp, storages or devices. See README.md.
//
// Implemented: CreateSandbox, DestroySandbox, CreateContainer (process created, stopped before
// exec), StartContainer, ExecProcess, WaitProcess, ReadStdout, ReadStderr, WriteStdin,
// CloseStdin, SignalProcess, RemoveContainer, GetGuestDetails, Health.Check/Version. Every
// other method is UNIMPLEMENTED.
//
// All state lives on the executor given to create() (one thread); blocking waits are
// asynchronous, so a WaitProcess that lasts hours does not hold up other calls.
#pragma once

#include <asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "child_process.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"

namespace pp::testagent {

inline constexpr char kAgentVersion[] = "peerpods-test-agent 0.1.0";

// One call as the agent saw it (tests check what a proxy delivered).
struct SeenCall {
  std::string service;
  std::string method;
  std::string payload;
  ttrpc::Metadata metadata;
  int64_t timeoutNano = 0;  // the deadline the caller sent, 0 = none
};

class TestAgent : public std::enable_shared_from_this<TestAgent> {
 public:
  // One agent method: the agent, the call, the request payload -> the response payload.
  using Handler = asio::awaitable<Result<std::string>> (*)(std::shared_ptr<TestAgent>,
                                                           const ttrpc::CallContext&, std::string);

  static std::shared_ptr<TestAgent> create(asio::any_io_executor ex);
  ~TestAgent();

  // Listens on a unix socket (kata-agent's /run/kata-containers/agent.sock). Call on the
  // executor's thread or before it runs.
  Status listen(const std::string& path);
  // Kills every process, closes the listener and all connections. Call on the executor.
  void shutdown();

  // Calls received so far, in order. Call on the executor.
  const std::vector<SeenCall>& calls() const { return calls_; }
  const std::string& sandboxHostname() const { return hostname_; }
  size_t containerCount() const { return containers_.size(); }

 private:
  struct Container {
    std::string id;
    std::shared_ptr<ChildProcess> init;
    std::map<std::string, std::shared_ptr<ChildProcess>> execs;
    std::string netnsPath;
    bool started = false;
  };

  explicit TestAgent(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  void registerMethods();
  void record(const ttrpc::CallContext& ctx, const std::string& payload);
  Result<Container*> container(const std::string& id);
  Result<std::shared_ptr<ChildProcess>> process(const std::string& containerId,
                                                const std::string& execId);

  void add(const char* service, const char* method, Handler handler);

  static asio::awaitable<Result<std::string>> createSandbox(std::shared_ptr<TestAgent> self,
                                                            const ttrpc::CallContext& ctx,
                                                            std::string payload);
  static asio::awaitable<Result<std::string>> destroySandbox(std::shared_ptr<TestAgent> self,
                                                             const ttrpc::CallContext& ctx,
                                                             std::string payload);
  static asio::awaitable<Result<std::string>> createContainer(std::shared_ptr<TestAgent> self,
                                                              const ttrpc::CallContext& ctx,
                                                              std::string payload);
  static asio::awaitable<Result<std::string>> startContainer(std::shared_ptr<TestAgent> self,
                                                             const ttrpc::CallContext& ctx,
                                                             std::string payload);
  static asio::awaitable<Result<std::string>> removeContainer(std::shared_ptr<TestAgent> self,
                                                              const ttrpc::CallContext& ctx,
                                                              std::string payload);
  static asio::awaitable<Result<std::string>> execProcess(std::shared_ptr<TestAgent> self,
                                                          const ttrpc::CallContext& ctx,
                                                          std::string payload);
  static asio::awaitable<Result<std::string>> waitProcess(std::shared_ptr<TestAgent> self,
                                                          const ttrpc::CallContext& ctx,
                                                          std::string payload);
  static asio::awaitable<Result<std::string>> signalProcess(std::shared_ptr<TestAgent> self,
                                                            const ttrpc::CallContext& ctx,
                                                            std::string payload);
  static asio::awaitable<Result<std::string>> readStdout(std::shared_ptr<TestAgent> self,
                                                         const ttrpc::CallContext& ctx,
                                                         std::string payload);
  static asio::awaitable<Result<std::string>> readStderr(std::shared_ptr<TestAgent> self,
                                                         const ttrpc::CallContext& ctx,
                                                         std::string payload);
  static asio::awaitable<Result<std::string>> writeStdin(std::shared_ptr<TestAgent> self,
                                                         const ttrpc::CallContext& ctx,
                                                         std::string payload);
  static asio::awaitable<Result<std::string>> closeStdin(std::shared_ptr<TestAgent> self,
                                                         const ttrpc::CallContext& ctx,
                                                         std::string payload);
  static asio::awaitable<Result<std::string>> guestDetails(std::shared_ptr<TestAgent> self,
                                                           const ttrpc::CallContext& ctx,
                                                           std::string payload);
  static asio::awaitable<Result<std::string>> healthCheck(std::shared_ptr<TestAgent> self,
                                                          const ttrpc::CallContext& ctx,
                                                          std::string payload);
  static asio::awaitable<Result<std::string>> healthVersion(std::shared_ptr<TestAgent> self,
                                                            const ttrpc::CallContext& ctx,
                                                            std::string payload);
  static asio::awaitable<Result<std::string>> readStream(std::shared_ptr<TestAgent> self,
                                                         std::string payload, bool stderrStream);

  asio::any_io_executor ex_;
  ttrpc::Server server_;
  std::unique_ptr<ttrpc::Listener> listener_;
  std::map<std::string, Container> containers_;
  std::vector<SeenCall> calls_;
  std::string hostname_;
  bool stopped_ = false;
};

}  // namespace pp::testagent
