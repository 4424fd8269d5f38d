#include "fake_provider.h"

#include <openssl/ssl.h>

#include <thread>

#include "apf/apf_config.h"
#include "cloudinit/cloud_config.h"

namespace pp::fakes {

class FakeVm {
 public:
  std::string id;
  std::string ip;
  ttrpc::Server server;
  std::unique_ptr<ttrpc::Listener> listener;
  std::shared_ptr<asio::ssl::context> tls;
  mutable std::mutex mu;
  std::vector<RecordedCall> calls;
};

namespace {

Result<std::shared_ptr<asio::ssl::context>> serverContextFromUserData(const std::string& userData,
                                                                      int maxTlsVersion) {
  auto files = cloudinit::parseCloudConfig(userData);
  if (!files) return fail(files.error());
  for (const auto& f : *files) {
    if (f.path != apf::kApfJsonPath) continue;
    auto config = apf::ApfConfig::parse(f.content);
    if (!config) return fail(config.error());
    if (config->tlsServerCert.empty()) return std::shared_ptr<asio::ssl::context>();  // no TLS
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    if (maxTlsVersion) SSL_CTX_set_max_proto_version(ctx->native_handle(), maxTlsVersion);
    SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(ctx->native_handle(), 0);  // as our forwarder (net/tls_context.cc)
    ctx->use_certificate_chain(asio::buffer(config->tlsServerCert));
    ctx->use_private_key(asio::buffer(config->tlsServerKey), asio::ssl::context::pem);
    ctx->add_certificate_authority(asio::buffer(config->tlsClientCa));
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    return ctx;
  }
  return fail(Code::kInvalidArgument, "user data has no /run/peerpod/apf.json");
}

}  // namespace

FakeProvider::~FakeProvider() {
  std::lock_guard lock(mu_);
  for (auto& [id, vm] : vms_) {
    auto v = vm;
    io_.run([v]() -> asio::awaitable<void> {
      if (v->listener) v->listener->close();
      v->server.shutdown();
      co_return;
    });
  }
  vms_.clear();
}

Result<providers::Instance> FakeProvider::createInstance(const providers::CreateRequest& req) {
  // The VM's side is prepared from the user data within the create delay: on a cloud that
  // work happens on another machine while the VM boots (bench/sandboxes starts 200 at once).
  const auto due = std::chrono::steady_clock::now() + createDelay;
  auto tls = serverContextFromUserData(req.userData, maxTlsVersion);
  std::this_thread::sleep_until(due);
  if (failCreate)
    return fail(Code::kInvalidArgument, "fake cloud: image \"" + req.spec.image + "\" not found");
  if (!tls) return fail(tls.error());
  auto vm = std::make_shared<FakeVm>();
  vm->id = "fake-" + req.instanceName;
  vm->ip = "127.0.0." + std::to_string(nextHost_++);
  std::weak_ptr<FakeVm> weak = vm;
  vm->server.setFallback([weak](const ttrpc::CallContext& ctx,
                                std::string payload) -> asio::awaitable<Result<std::string>> {
    auto v = weak.lock();
    if (!v) co_return fail(Code::kUnavailable, "vm gone");
    {
      std::lock_guard lock(v->mu);
      v->calls.push_back({ctx.service, ctx.method, payload, ctx.metadata});
    }
    if (ctx.service == "grpc.Health" && ctx.method == "Check") co_return std::string("\x08\x01", 2);
    if (ctx.method == "Fail") co_return fail(Code::kInternal, "agent says no");
    if (ctx.method == "GetGuestDetails")
      co_return std::string(
          "\x12\x07\x0a\x05"
          "3.23.0",
          11);
    co_return std::string();
  });
  vm->tls = *tls;
  if (startVmServer) {
    if (auto st = listen(vm); !st) return fail(st.error());
  }
  {
    std::lock_guard lock(mu_);
    vms_[vm->id] = vm;
  }
  if (failAfterCreate) {
    // The provider contract: a create that fails after the instance exists deletes it.
    (void)deleteInstance(vm->id);
    return fail(Code::kInternal, "fake cloud: instance " + vm->id + " failed to boot");
  }
  return providers::Instance{vm->id, req.instanceName, {vm->ip}};
}

Status FakeProvider::deleteInstance(const std::string& id) {
  std::shared_ptr<FakeVm> vm;
  {
    std::lock_guard lock(mu_);
    auto it = vms_.find(id);
    if (it == vms_.end()) return {};  // already gone is success
    vm = it->second;
    vms_.erase(it);
  }
  ++deletes_;
  io_.run([vm]() -> asio::awaitable<void> {
    if (vm->listener) vm->listener->close();
    vm->server.shutdown();
    co_return;
  });
  return {};
}

size_t FakeProvider::liveInstances() const {
  std::lock_guard lock(mu_);
  return vms_.size();
}

bool FakeProvider::exists(const std::string& id) const {
  std::lock_guard lock(mu_);
  return vms_.contains(id);
}

std::vector<RecordedCall> FakeProvider::calls(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = vms_.find(id);
  if (it == vms_.end()) return {};
  std::lock_guard vlock(it->second->mu);
  return it->second->calls;
}

Status FakeProvider::listen(const std::shared_ptr<FakeVm>& vm) {
  std::weak_ptr<FakeVm> weak = vm;
  auto l = io_.run([&]() -> asio::awaitable<Result<std::unique_ptr<ttrpc::Listener>>> {
    co_return ttrpc::listenTcp(io_.executor(), vm->ip, port_, vm->tls,
                               [weak](std::unique_ptr<ttrpc::ByteStream> s) {
                                 if (auto v = weak.lock()) v->server.serveConnection(std::move(s));
                               });
  });
  if (!l) return fail(l.error().wrap("fake VM listen"));
  vm->listener = std::move(*l);
  return {};
}

Status FakeProvider::setListening(const std::string& id, bool listening) {
  std::shared_ptr<FakeVm> vm;
  {
    std::lock_guard lock(mu_);
    auto it = vms_.find(id);
    if (it == vms_.end()) return fail(Code::kNotFound, "no fake VM " + id);
    vm = it->second;
  }
  if (listening) return vm->listener ? Status{} : listen(vm);
  io_.run([vm]() -> asio::awaitable<void> {
    if (vm->listener) vm->listener->close();
    co_return;
  });
  vm->listener.reset();
  return {};
}

void FakeProvider::dropConnections(const std::string& id) {
  std::shared_ptr<FakeVm> vm;
  {
    std::lock_guard lock(mu_);
    auto it = vms_.find(id);
    if (it == vms_.end()) return;
    vm = it->second;
  }
  vm->server.shutdown();
}

}  // namespace pp::fakes
