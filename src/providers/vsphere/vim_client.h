// A client of vCenter's Web Services API (vim25 SOAP over HTTPS) with what the vsphere provider
// needs: a session (SessionManager.Login with user and password, the vmware_soap_session
// cookie), logged in again under a lock when vCenter answers NotAuthenticated (an expired or
// terminated session), kept alive with CurrentTime; the server's certificate pinned by its SHA-1
// thumbprint; reads retried through the kit's Retrier; task waits with a deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/error.h"
#include "net/http_client.h"
#include "providers/cloud_api.h"
#include "providers/vsphere/soap_xml.h"

namespace pp::providers::vsphere {

// A managed object reference: <x type="VirtualMachine">vm-42</x>.
struct MoRef {
  std::string type;
  std::string value;
  bool empty() const { return value.empty(); }
  bool operator==(const MoRef&) const = default;
};

// <element type="T">value</element>
std::string moRefXml(std::string_view element, const MoRef& ref);
// Reads a reference from a node carrying one; empty when the node is null or has no value.
MoRef moRefOf(const SoapNode* node);

// The fault type of a vim25 error message ("NotAuthenticated", "ManagedObjectNotFound"...), as
// VimClient writes it: "vsphere: <Method>: <FaultType>: <text>"; "" when none.
std::string faultTypeOf(const Error& error);

struct VimConfig {
  std::string url;  // https://host[:port]/sdk
  std::string userName;
  std::string password;
  std::string thumbprint;  // SHA-1 of the server certificate, "AA:BB:..."; "" = see insecure
  bool insecure = false;   // no thumbprint and no verification at all (GOVC_INSECURE)
  std::chrono::milliseconds callTimeout{std::chrono::minutes(2)};
  std::chrono::milliseconds keepalive{std::chrono::minutes(1)};  // 0: no keepalive thread
};

// One object's properties from the PropertyCollector: path -> <val> node.
struct ObjectProps {
  MoRef obj;
  std::map<std::string, SoapNode> props;
  const SoapNode* prop(const std::string& path) const {
    auto it = props.find(path);
    return it == props.end() ? nullptr : &it->second;
  }
  std::string text(const std::string& path) const {
    const SoapNode* n = prop(path);
    return n ? n->text : std::string();
  }
};

class VimClient {
 public:
  // Checks the settings and, with a thumbprint, fetches and pins the server certificate; logs in
  // on the first call, not here.
  static Result<std::unique_ptr<VimClient>> create(VimConfig config, net::HttpClient http = {},
                                                   Retrier::Sleep sleep = {});
  ~VimClient();
  VimClient(const VimClient&) = delete;
  VimClient& operator=(const VimClient&) = delete;

  // Calls `method` on `self` with the request's argument elements (after _this), logging in
  // first when there is no session and once again when the session is gone (NotAuthenticated).
  // Reads (mutating=false) are retried on transport errors and 5xx without a fault. The answer
  // is the <...Response> element.
  Result<SoapNode> call(std::string_view method, const MoRef& self, std::string_view arguments,
                        bool mutating);

  Status login();
  Status logout();
  // How many times Login succeeded (tests check re-login).
  int logins() const { return logins_.load(); }

  // ServiceContent references.
  const MoRef& rootFolder() const { return rootFolder_; }
  const MoRef& propertyCollector() const { return propertyCollector_; }
  const MoRef& searchIndex() const { return searchIndex_; }
  const MoRef& viewManager() const { return viewManager_; }
  const MoRef& sessionManager() const { return sessionManager_; }

  // SearchIndex.FindByInventoryPath: nullopt when nothing is at the path.
  Result<std::optional<MoRef>> findByInventoryPath(const std::string& path);
  // SearchIndex.FindByUuid (a VM's BIOS UUID) within the datacenter: nullopt when none.
  Result<std::optional<MoRef>> findVmByUuid(const MoRef& datacenter, const std::string& uuid);
  // SearchIndex.FindChild: the entity called `name` directly in `parent`.
  Result<std::optional<MoRef>> findChild(const MoRef& parent, const std::string& name);
  // PropertyCollector.RetrieveProperties of `paths` on each object.
  Result<std::vector<ObjectProps>> retrieve(const std::vector<MoRef>& objects,
                                            const std::vector<std::string>& paths);
  Result<ObjectProps> retrieveOne(const MoRef& object, const std::vector<std::string>& paths);
  // Properties of every object of `type` below `container` (a ContainerView, destroyed after),
  // read with RetrievePropertiesEx in pages.
  Result<std::vector<ObjectProps>> retrieveBelow(const MoRef& container, const std::string& type,
                                                 const std::vector<std::string>& paths);
  // Polls a task until it succeeds (returns its TaskInfo), fails (its fault as the error) or
  // `timeout` passes (DEADLINE_EXCEEDED; the task may still finish).
  Result<SoapNode> waitForTask(const MoRef& task, std::chrono::milliseconds timeout,
                               std::string_view what);

 private:
  VimClient(VimConfig config, net::HttpClient http, Retrier::Sleep sleep);
  Status connect();  // RetrieveServiceContent
  Result<SoapNode> post(std::string_view method, const std::string& body, bool mutating,
                        const std::string& cookie);
  Result<SoapNode> postOnce(std::string_view method, const std::string& body,
                            const std::string& cookie);
  Result<std::string> session(uint64_t* generation);
  Status relogin(uint64_t failedGeneration);
  void keepaliveLoop();

  VimConfig config_;
  net::HttpClient http_;
  std::string caPem_;  // the pinned certificate
  Retrier retrier_;

  MoRef rootFolder_, propertyCollector_, searchIndex_, viewManager_, sessionManager_;

  std::mutex loginMu_;    // one Login at a time
  std::mutex sessionMu_;  // guards the cookie and its generation
  std::string cookie_;    // "vmware_soap_session=..."; a secret
  uint64_t generation_ = 0;
  std::atomic<int> logins_{0};

  std::mutex stopMu_;
  std::condition_variable stopCv_;
  bool stopping_ = false;
  std::thread keepalive_;
};

// SHA-1 thumbprint in vSphere's form ("AA:BB:...", upper case) of a DER certificate.
std::string thumbprintOf(std::string_view der);
// Normalizes a user-given thumbprint (any case, with or without colons) to that form;
// INVALID_ARGUMENT when it is not 20 hex bytes.
Result<std::string> normalizeThumbprint(std::string_view text);
// Connects to host:port, completes a TLS handshake without verifying, and returns the server's
// certificate (leaf) as PEM and its thumbprint.
struct ServerCertificate {
  std::string pem;
  std::string thumbprint;
};
Result<ServerCertificate> fetchServerCertificate(const std::string& host, int port,
                                                 std::chrono::milliseconds timeout);

}  // namespace pp::providers::vsphere
