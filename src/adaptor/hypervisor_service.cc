#include "adaptor/hypervisor_service.h"

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "base/log.h"
#include "hypervisor/hypervisor.pb.h"
#include "podvminfo/podvminfo.pb.h"

namespace pp::adaptor {
namespace {

using asio::awaitable;

// Runs a blocking function on the pool and resumes the caller on its own executor.
// (A plain function coroutine, not a capturing lambda coroutine: the lambda object would not
// outlive the coroutine frame that refers to it.)
template <typename F>
awaitable<std::invoke_result_t<F>> offload(ElasticPool& pool, F f) {
  using R = std::invoke_result_t<F>;
  auto caller = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
      [&pool, caller](auto handler, F work) {
        pool.post([work = std::move(work), handler = std::move(handler), caller]() mutable {
          R r = work();
          auto ex = asio::get_associated_executor(handler, caller);
          asio::post(ex, [handler = std::move(handler), r = std::move(r)]() mutable {
            std::move(handler)(std::move(r));
          });
        });
      },
      asio::use_awaitable, std::move(f));
}

// The shim's deadline for StartVM (remote_hypervisor_timeout, 600 s) or a generous default.
Clock::time_point deadlineOf(const ttrpc::CallContext& ctx) {
  return ctx.deadline.value_or(Clock::now() + std::chrono::minutes(10));
}

}  // namespace

void HypervisorService::registerWith(ttrpc::Server& server) {
  SandboxManager* m = &manager_;
  ElasticPool* pool = &workers_;

  server.addTyped<hypervisor::CreateVMRequest, hypervisor::CreateVMResponse>(
      "hypervisor.Hypervisor", "CreateVM",
      [m, pool](const ttrpc::CallContext&, hypervisor::CreateVMRequest req)
          -> awaitable<Result<hypervisor::CreateVMResponse>> {
        CreateVmInput in;
        in.id = req.id();
        in.annotations.insert(req.annotations().begin(), req.annotations().end());
        in.netnsPath = req.networknamespacepath();
        // Named callables: GCC 12 destroys lambda temporaries inside co_await expressions twice.
        auto work = [m, in] { return m->createVM(in); };
        auto r = co_await offload(*pool, std::move(work));
        if (!r) {
          log::warn("hypervisor", "CreateVM {}: {}", in.id, r.error().toString());
          co_return fail(r.error());
        }
        hypervisor::CreateVMResponse resp;
        resp.set_agentsocketpath(*r);
        co_return resp;
      });

  server.addTyped<hypervisor::StartVMRequest, hypervisor::StartVMResponse>(
      "hypervisor.Hypervisor", "StartVM",
      [m, pool](const ttrpc::CallContext& ctx,
                hypervisor::StartVMRequest req) -> awaitable<Result<hypervisor::StartVMResponse>> {
        auto deadline = deadlineOf(ctx);
        auto id = req.id();
        auto work = [m, id, deadline] { return m->startVM(id, deadline); };
        auto st = co_await offload(*pool, std::move(work));
        if (!st) co_return fail(st.error());
        co_return hypervisor::StartVMResponse();
      });

  server.addTyped<hypervisor::StopVMRequest, hypervisor::StopVMResponse>(
      "hypervisor.Hypervisor", "StopVM",
      [m, pool](const ttrpc::CallContext&,
                hypervisor::StopVMRequest req) -> awaitable<Result<hypervisor::StopVMResponse>> {
        auto id = req.id();
        auto work = [m, id] { return m->stopVM(id); };
        auto st = co_await offload(*pool, std::move(work));
        if (!st) co_return fail(st.error());
        co_return hypervisor::StopVMResponse();
      });

  server.addTyped<hypervisor::VersionRequest, hypervisor::VersionResponse>(
      "hypervisor.Hypervisor", "Version",
      [](const ttrpc::CallContext&,
         hypervisor::VersionRequest) -> awaitable<Result<hypervisor::VersionResponse>> {
        hypervisor::VersionResponse resp;
        resp.set_version("0.0.0");  // what upstream answers
        co_return resp;
      });

  server.addTyped<podvminfo::GetInfoRequest, podvminfo::GetInfoResponse>(
      "podvminfo.PodVMInfo", "GetInfo",
      [m, pool](const ttrpc::CallContext& ctx,
                podvminfo::GetInfoRequest req) -> awaitable<Result<podvminfo::GetInfoResponse>> {
        auto deadline = ctx.deadline.value_or(Clock::now() + std::chrono::minutes(10));
        auto work = [m, req, deadline] {
          return m->vmId(req.podname(), req.podnamespace(), req.wait(), deadline);
        };
        auto r = co_await offload(*pool, std::move(work));
        if (!r) co_return fail(r.error());
        podvminfo::GetInfoResponse resp;
        resp.set_vmid(*r);
        co_return resp;
      });
}

}  // namespace pp::adaptor
