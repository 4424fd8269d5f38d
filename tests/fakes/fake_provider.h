// A provider for tests: each "pod VM" is a mutual-TLS ttrpc server on a loopback address
// (127.0.0.N:<forwarder port>) that answers agent calls like a forwarder in front of a
// kata-agent would. It reads its certificate from the user data's apf.json exactly as the real
// forwarder does, so the adaptor's TLS plumbing is exercised end to end. Not in release builds.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "providers/provider.h"
#include "ttrpc/io_thread.h"
#include "ttrpc/listener.h"
#include "ttrpc/server.h"

namespace pp::fakes {

struct RecordedCall {
  std::string service;
  std::string method;
  std::string payload;
  ttrpc::Metadata metadata;
};

class FakeVm;

class FakeProvider final : public providers::Provider {
 public:
  explicit FakeProvider(uint16_t forwarderPort) : port_(forwarderPort) {}
  ~FakeProvider() override;

  Result<providers::Instance> createInstance(const providers::CreateRequest& request) override;
  Status deleteInstance(const std::string& id) override;

  // Test knobs.
  std::chrono::milliseconds createDelay{0};  // counted from the call
  std::atomic<bool> failAfterCreate{false};  // the instance is created, then an error returned
  std::atomic<bool> failCreate{false};       // nothing created, error returned
  std::atomic<bool> startVmServer{true};     // false: the VM never answers (dial timeouts)
  std::atomic<int> maxTlsVersion{0};         // set (TLS1_2_VERSION...): the VM's TLS ceiling
  std::string ownImage;  // set: like docker, only this image is taken without -allowed-images

  bool acceptsUnlistedImage(const std::string& image) const override {
    return ownImage.empty() || image == ownImage;
  }

  size_t liveInstances() const;
  bool exists(const std::string& id) const;
  int deletes() const { return deletes_; }
  std::vector<RecordedCall> calls(const std::string& id) const;
  // Closes every connection to the VM (the proxy must reconnect).
  void dropConnections(const std::string& id);
  // Stops or starts the VM's listener (connections already made stay).
  Status setListening(const std::string& id, bool listening);

 private:
  Status listen(const std::shared_ptr<FakeVm>& vm);

  uint16_t port_;
  ttrpc::IoThread io_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FakeVm>> vms_;
  std::atomic<int> nextHost_{2};
  std::atomic<int> deletes_{0};
};

}  // namespace pp::fakes
