#include "csi/vm_id_source.h"

#include "podvminfo/podvminfo.pb.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/stream.h"

namespace pp::csi {

PodVmInfoClient::PodVmInfoClient(std::string socketPath)
    : socketPath_(std::move(socketPath)), io_(std::make_unique<ttrpc::IoThread>()) {}

PodVmInfoClient::~PodVmInfoClient() = default;

Result<std::string> PodVmInfoClient::vmId(const std::string& podName,
                                          const std::string& podNamespace) {
  auto ex = io_->executor();
  std::string path = socketPath_;
  podvminfo::GetInfoRequest req;
  req.set_podname(podName);
  req.set_podnamespace(podNamespace);
  req.set_wait(false);
  return io_->run([ex, path, req]() -> asio::awaitable<Result<std::string>> {
    auto stream = co_await ttrpc::connectUnix(ex, path);
    if (!stream) co_return fail(stream.error().wrap("connecting to " + path));
    auto client = ttrpc::Client::create(std::move(*stream));
    ttrpc::CallOptions options;
    options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto resp = co_await client->callTyped<podvminfo::GetInfoResponse>("podvminfo.PodVMInfo",
                                                                       "GetInfo", req, options);
    client->close();
    if (!resp) co_return fail(resp.error().wrap("podvminfo.PodVMInfo/GetInfo"));
    if (resp->vmid().empty()) {
      co_return fail(Code::kNotFound, "podvminfo.PodVMInfo/GetInfo answered an empty VMID");
    }
    co_return resp->vmid();
  });
}

}  // namespace pp::csi
