#include "test_agent.h"

#include <signal.h>
#include <unistd.h>

#include "agent/agent.pb.h"
#include "agent/health.pb.h"
#include "base/log.h"

namespace pp::testagent {
namespace {

constexpr char kAgent[] = "grpc.AgentService";
constexpr char kHealth[] = "grpc.Health";
constexpr char kLog[] = "test-agent";

template <typename Message>
Result<Message> parse(const std::string& payload) {
  Message m;
  if (!m.ParseFromString(payload)) {
    return fail(Code::kInvalidArgument, "cannot decode " + m.GetTypeName());
  }
  return m;
}

// A spawn request from an OCI process; the network namespace comes from the container.
SpawnSpec specFor(const grpc::Process& process, const std::string& netnsPath, bool startNow) {
  SpawnSpec spec;
  spec.args.assign(process.args().begin(), process.args().end());
  spec.env.assign(process.env().begin(), process.env().end());
  spec.cwd = process.cwd();
  // As root the process runs as the OCI user, root included. Otherwise only a different
  // user is asked for (uid 0 is the unset default), and the kernel decides whether we may.
  const auto& user = process.user();
  if (::geteuid() == 0) {
    spec.uid = user.uid();
    spec.gid = user.gid();
    spec.additionalGids.assign(user.additionalgids().begin(), user.additionalgids().end());
  } else {
    if (user.uid() != 0 && user.uid() != ::geteuid()) spec.uid = user.uid();
    if (user.gid() != 0 && user.gid() != ::getegid()) spec.gid = user.gid();
  }
  spec.netnsPath = netnsPath;
  spec.startNow = startNow;
  return spec;
}

asio::awaitable<void> killAndReap(std::shared_ptr<ChildProcess> p) {
  if (auto st = p->signal(SIGKILL); !st) log::warn(kLog, "{}", st.error().message);
  co_await p->wait();
}

asio::awaitable<Result<std::string>> dispatch(std::weak_ptr<TestAgent> weak,
                                              TestAgent::Handler handler,
                                              const ttrpc::CallContext& ctx, std::string payload);

asio::awaitable<Result<std::string>> unimplemented(const ttrpc::CallContext& ctx) {
  co_return fail(Code::kUnimplemented,
                 "/" + ctx.service + "/" + ctx.method + " is not implemented by the test agent");
}

}  // namespace

std::shared_ptr<TestAgent> TestAgent::create(asio::any_io_executor ex) {
  // Writing to the stdin of a process that has exited must be an error, not our death.
  ::signal(SIGPIPE, SIG_IGN);
  std::shared_ptr<TestAgent> agent(new TestAgent(std::move(ex)));
  agent->registerMethods();
  return agent;
}

TestAgent::~TestAgent() = default;

void TestAgent::registerMethods() {
  add(kAgent, "CreateSandbox", &TestAgent::createSandbox);
  add(kAgent, "DestroySandbox", &TestAgent::destroySandbox);
  add(kAgent, "CreateContainer", &TestAgent::createContainer);
  add(kAgent, "StartContainer", &TestAgent::startContainer);
  add(kAgent, "RemoveContainer", &TestAgent::removeContainer);
  add(kAgent, "ExecProcess", &TestAgent::execProcess);
  add(kAgent, "WaitProcess", &TestAgent::waitProcess);
  add(kAgent, "SignalProcess", &TestAgent::signalProcess);
  add(kAgent, "ReadStdout", &TestAgent::readStdout);
  add(kAgent, "ReadStderr", &TestAgent::readStderr);
  add(kAgent, "WriteStdin", &TestAgent::writeStdin);
  add(kAgent, "CloseStdin", &TestAgent::closeStdin);
  add(kAgent, "GetGuestDetails", &TestAgent::guestDetails);
  add(kHealth, "Check", &TestAgent::healthCheck);
  add(kHealth, "Version", &TestAgent::healthVersion);
  // Calls nobody registered are recorded too, then answered UNIMPLEMENTED as the server would.
  std::weak_ptr<TestAgent> weak = weak_from_this();
  server_.setFallback([weak](const ttrpc::CallContext& ctx, std::string payload) {
    if (auto self = weak.lock()) self->record(ctx, payload);
    return unimplemented(ctx);
  });
}

namespace {

asio::awaitable<Result<std::string>> dispatch(std::weak_ptr<TestAgent> weak,
                                              TestAgent::Handler handler,
                                              const ttrpc::CallContext& ctx, std::string payload) {
  auto self = weak.lock();
  if (!self) co_return fail(Code::kUnavailable, "test agent is shut down");
  // The call is made in its own statement: GCC 12 mishandles argument temporaries that live
  // across a co_await.
  auto call = handler(self, ctx, std::move(payload));
  co_return co_await std::move(call);
}

}  // namespace

void TestAgent::add(const char* service, const char* method, Handler handler) {
  std::weak_ptr<TestAgent> weak = weak_from_this();
  server_.addMethod(service, method,
                    [weak, handler](const ttrpc::CallContext& ctx, std::string payload) {
                      if (auto self = weak.lock()) self->record(ctx, payload);
                      return dispatch(weak, handler, ctx, std::move(payload));
                    });
}

void TestAgent::record(const ttrpc::CallContext& ctx, const std::string& payload) {
  calls_.push_back(SeenCall{ctx.service, ctx.method, payload, ctx.metadata, ctx.timeoutNano});
  log::debug(kLog, "{}/{}", ctx.service, ctx.method);
}

Status TestAgent::listen(const std::string& path) {
  std::weak_ptr<TestAgent> weak = weak_from_this();
  auto l = ttrpc::listenUnix(ex_, path, [weak](std::unique_ptr<ttrpc::ByteStream> s) {
    if (auto self = weak.lock(); self && !self->stopped_)
      self->server_.serveConnection(std::move(s));
  });
  if (!l) return fail(l.error());
  listener_ = std::move(*l);
  return {};
}

void TestAgent::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  if (listener_) listener_->close();
  listener_.reset();
  server_.shutdown();
  for (auto& [id, c] : containers_) {
    (void)c.init->signal(SIGKILL);
    for (auto& [eid, p] : c.execs) (void)p->signal(SIGKILL);
  }
  containers_.clear();
}

Result<TestAgent::Container*> TestAgent::container(const std::string& id) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return fail(Code::kNotFound, "container " + id + " not found");
  return &it->second;
}

Result<std::shared_ptr<ChildProcess>> TestAgent::process(const std::string& containerId,
                                                         const std::string& execId) {
  auto c = container(containerId);
  if (!c) return fail(c.error());
  // The shim names a container's own process by an empty exec id or by the container id.
  if (execId.empty() || execId == containerId) return (*c)->init;
  auto it = (*c)->execs.find(execId);
  if (it == (*c)->execs.end())
    return fail(Code::kNotFound, "process " + execId + " not found in container " + containerId);
  return it->second;
}

asio::awaitable<Result<std::string>> TestAgent::createSandbox(std::shared_ptr<TestAgent> self,
                                                              const ttrpc::CallContext&,
                                                              std::string payload) {
  auto req = parse<grpc::CreateSandboxRequest>(payload);
  if (!req) co_return fail(req.error());
  self->hostname_ = req->hostname();
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::destroySandbox(std::shared_ptr<TestAgent> self,
                                                               const ttrpc::CallContext&,
                                                               std::string) {
  std::vector<std::shared_ptr<ChildProcess>> all;
  for (auto& [id, c] : self->containers_) {
    all.push_back(c.init);
    for (auto& [eid, p] : c.execs) all.push_back(p);
  }
  self->containers_.clear();
  for (auto& p : all) co_await killAndReap(p);
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::createContainer(std::shared_ptr<TestAgent> self,
                                                                const ttrpc::CallContext&,
                                                                std::string payload) {
  auto req = parse<grpc::CreateContainerRequest>(payload);
  if (!req) co_return fail(req.error());
  const std::string& id = req->container_id();
  if (id.empty()) co_return fail(Code::kInvalidArgument, "container_id is empty");
  if (self->containers_.contains(id))
    co_return fail(Code::kAlreadyExists, "container " + id + " already exists");
  std::string netns;
  for (const auto& ns : req->oci().linux().namespaces()) {
    if (ns.type() == "network" && !ns.path().empty()) netns = ns.path();
  }
  auto spec = specFor(req->oci().process(), netns, false);
  auto p = ChildProcess::spawn(self->ex_, spec);
  if (!p) co_return fail(p.error().wrap("CreateContainer " + id));
  Container c;
  c.id = id;
  c.init = *p;
  c.netnsPath = netns;
  self->containers_.emplace(id, std::move(c));
  log::info(kLog, "container {} created: pid {}{}", id, (*p)->pid(),
            netns.empty() ? "" : " in " + netns);
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::startContainer(std::shared_ptr<TestAgent> self,
                                                               const ttrpc::CallContext&,
                                                               std::string payload) {
  auto req = parse<grpc::StartContainerRequest>(payload);
  if (!req) co_return fail(req.error());
  auto c = self->container(req->container_id());
  if (!c) co_return fail(c.error());
  auto init = (*c)->init;
  if (auto st = init->start(); !st) co_return fail(st.error());
  (*c)->started = true;
  auto st = co_await init->execResult();
  if (!st) co_return fail(st.error().wrap("StartContainer " + req->container_id()));
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::removeContainer(std::shared_ptr<TestAgent> self,
                                                                const ttrpc::CallContext&,
                                                                std::string payload) {
  auto req = parse<grpc::RemoveContainerRequest>(payload);
  if (!req) co_return fail(req.error());
  auto c = self->container(req->container_id());
  if (!c) co_return fail(c.error());
  std::vector<std::shared_ptr<ChildProcess>> all{(*c)->init};
  for (auto& [eid, p] : (*c)->execs) all.push_back(p);
  self->containers_.erase(req->container_id());
  for (auto& p : all) co_await killAndReap(p);
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::execProcess(std::shared_ptr<TestAgent> self,
                                                            const ttrpc::CallContext&,
                                                            std::string payload) {
  auto req = parse<grpc::ExecProcessRequest>(payload);
  if (!req) co_return fail(req.error());
  auto c = self->container(req->container_id());
  if (!c) co_return fail(c.error());
  const std::string& eid = req->exec_id();
  if (eid.empty() || eid == req->container_id() || (*c)->execs.contains(eid)) {
    co_return fail(Code::kAlreadyExists,
                   "exec id \"" + eid + "\" is already used in container " + req->container_id());
  }
  auto spec = specFor(req->process(), (*c)->netnsPath, true);
  auto p = ChildProcess::spawn(self->ex_, spec);
  if (!p) co_return fail(p.error().wrap("ExecProcess " + eid));
  (*c)->execs.emplace(eid, *p);
  auto proc = *p;
  auto st = co_await proc->execResult();
  if (!st) co_return fail(st.error().wrap("ExecProcess " + eid));
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::waitProcess(std::shared_ptr<TestAgent> self,
                                                            const ttrpc::CallContext&,
                                                            std::string payload) {
  auto req = parse<grpc::WaitProcessRequest>(payload);
  if (!req) co_return fail(req.error());
  auto p = self->process(req->container_id(), req->exec_id());
  if (!p) co_return fail(p.error());
  auto proc = *p;
  grpc::WaitProcessResponse resp;
  resp.set_status(co_await proc->wait());
  co_return resp.SerializeAsString();
}

asio::awaitable<Result<std::string>> TestAgent::signalProcess(std::shared_ptr<TestAgent> self,
                                                              const ttrpc::CallContext&,
                                                              std::string payload) {
  auto req = parse<grpc::SignalProcessRequest>(payload);
  if (!req) co_return fail(req.error());
  auto p = self->process(req->container_id(), req->exec_id());
  if (!p) co_return fail(p.error());
  if (auto st = (*p)->signal(static_cast<int>(req->signal())); !st) co_return fail(st.error());
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::readStream(std::shared_ptr<TestAgent> self,
                                                           std::string payload, bool stderrStream) {
  auto req = parse<grpc::ReadStreamRequest>(payload);
  if (!req) co_return fail(req.error());
  auto p = self->process(req->container_id(), req->exec_id());
  if (!p) co_return fail(p.error());
  auto proc = *p;
  Result<std::string> data;
  if (stderrStream) {
    data = co_await proc->readStderr(req->len());
  } else {
    data = co_await proc->readStdout(req->len());
  }
  if (!data) co_return fail(data.error());
  grpc::ReadStreamResponse resp;
  resp.set_data(std::move(*data));
  co_return resp.SerializeAsString();
}

asio::awaitable<Result<std::string>> TestAgent::readStdout(std::shared_ptr<TestAgent> self,
                                                           const ttrpc::CallContext&,
                                                           std::string payload) {
  auto call = readStream(std::move(self), std::move(payload), false);
  co_return co_await std::move(call);
}

asio::awaitable<Result<std::string>> TestAgent::readStderr(std::shared_ptr<TestAgent> self,
                                                           const ttrpc::CallContext&,
                                                           std::string payload) {
  auto call = readStream(std::move(self), std::move(payload), true);
  co_return co_await std::move(call);
}

asio::awaitable<Result<std::string>> TestAgent::writeStdin(std::shared_ptr<TestAgent> self,
                                                           const ttrpc::CallContext&,
                                                           std::string payload) {
  auto req = parse<grpc::WriteStreamRequest>(payload);
  if (!req) co_return fail(req.error());
  auto p = self->process(req->container_id(), req->exec_id());
  if (!p) co_return fail(p.error());
  auto proc = *p;
  auto n = co_await proc->writeStdin(req->data());
  if (!n) co_return fail(n.error());
  grpc::WriteStreamResponse resp;
  resp.set_len(static_cast<uint32_t>(*n));
  co_return resp.SerializeAsString();
}

asio::awaitable<Result<std::string>> TestAgent::closeStdin(std::shared_ptr<TestAgent> self,
                                                           const ttrpc::CallContext&,
                                                           std::string payload) {
  auto req = parse<grpc::CloseStdinRequest>(payload);
  if (!req) co_return fail(req.error());
  auto p = self->process(req->container_id(), req->exec_id());
  if (!p) co_return fail(p.error());
  (*p)->closeStdin();
  co_return std::string();
}

asio::awaitable<Result<std::string>> TestAgent::guestDetails(std::shared_ptr<TestAgent>,
                                                             const ttrpc::CallContext&,
                                                             std::string payload) {
  auto req = parse<grpc::GuestDetailsRequest>(payload);
  if (!req) co_return fail(req.error());
  grpc::GuestDetailsResponse resp;
  if (req->mem_block_size()) resp.set_mem_block_size_bytes(128u << 20);
  auto* details = resp.mutable_agent_details();
  details->set_version(kAgentVersion);
  details->set_init_daemon(false);
  co_return resp.SerializeAsString();
}

asio::awaitable<Result<std::string>> TestAgent::healthCheck(std::shared_ptr<TestAgent>,
                                                            const ttrpc::CallContext&,
                                                            std::string) {
  grpc::HealthCheckResponse resp;
  resp.set_status(grpc::HealthCheckResponse::SERVING);
  co_return resp.SerializeAsString();
}

asio::awaitable<Result<std::string>> TestAgent::healthVersion(std::shared_ptr<TestAgent>,
                                                              const ttrpc::CallContext&,
                                                              std::string) {
  grpc::VersionCheckResponse resp;
  resp.set_grpc_version("ttrpc");
  resp.set_agent_version(kAgentVersion);
  co_return resp.SerializeAsString();
}

}  // namespace pp::testagent
