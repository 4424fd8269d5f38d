#include "peer_services.h"

#include <google/protobuf/empty.pb.h>
#include <google/protobuf/wrappers.pb.h>

#include <algorithm>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace pp::interop {
namespace {

using asio::awaitable;
namespace gp = google::protobuf;

awaitable<Result<std::string>> echo(const ttrpc::CallContext&, std::string payload) {
  co_return payload;
}

awaitable<Result<std::string>> failWith(const ttrpc::CallContext&, std::string payload) {
  gp::Int32Value in;
  if (!in.ParseFromString(payload)) co_return fail(Code::kInvalidArgument, "bad Int32Value");
  co_return fail(static_cast<Code>(in.value()), "failed with code " + std::to_string(in.value()));
}

awaitable<Result<std::string>> sleepFor(const ttrpc::CallContext&, std::string payload) {
  gp::Int32Value in;
  if (!in.ParseFromString(payload)) co_return fail(Code::kInvalidArgument, "bad Int32Value");
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(in.value()));
  co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return payload;
}

awaitable<Result<std::string>> meta(const ttrpc::CallContext& ctx, std::string) {
  auto md = ctx.metadata;
  std::stable_sort(md.begin(), md.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [k, v] : md) out += k + "=" + v + ";";
  out += ctx.deadline ? "deadline" : "nodeadline";
  gp::StringValue resp;
  resp.set_value(out);
  co_return resp.SerializeAsString();
}

awaitable<Result<std::string>> health(const ttrpc::CallContext&, std::string) {
  gp::Int32Value resp;  // HealthCheckResponse{status: SERVING} has the same encoding
  resp.set_value(1);
  co_return resp.SerializeAsString();
}

}  // namespace

void registerPeerServices(ttrpc::Server& server) {
  server.addMethod("interop.Echo", "Echo", echo);
  server.addMethod("interop.Echo", "Fail", failWith);
  server.addMethod("interop.Echo", "Sleep", sleepFor);
  server.addMethod("interop.Echo", "Meta", meta);
  server.addMethod("grpc.Health", "Check", health);
}

}  // namespace pp::interop
