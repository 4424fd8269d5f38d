// -ext-network-via-podvm on EC2 (upstream aws provider's "MultiNic"): a second network
// interface in the configured subnet, attached at device index 1 and deleted with the instance,
// and with -use-public-ip an Elastic IP on it. Deleting an instance first gives back its
// Elastic IPs. Unlike upstream, every partial step is undone when a later one fails.
#include <atomic>
#include <thread>

#include "base/log.h"
#include "providers/aws/aws_provider.h"

namespace pp::providers::aws {
namespace {

constexpr const char* kLog = "aws";

void tagParams(QueryParams& p, const std::string& resourceType, const std::string& name,
               const std::string& instanceId) {
  p.emplace_back("TagSpecification.1.ResourceType", resourceType);
  p.emplace_back("TagSpecification.1.Tag.1.Key", "Name");
  p.emplace_back("TagSpecification.1.Tag.1.Value", name);
  p.emplace_back("TagSpecification.1.Tag.2.Key", "io.peerpods.instance-id");
  p.emplace_back("TagSpecification.1.Tag.2.Value", instanceId);
}

}  // namespace

Status AwsProvider::attachSecondaryNic(const std::string& instanceId,
                                       const std::string& clientToken, std::string* nicId) {
  nicId->clear();
  QueryParams create = {{"SubnetId", config_.subnetId},
                        {"Description", "peerpods secondary interface of " + instanceId},
                        {"ClientToken", clientToken + "-nic"}};
  for (size_t i = 0; i < config_.securityGroupIds.size(); ++i) {
    create.emplace_back("SecurityGroupId." + std::to_string(i + 1), config_.securityGroupIds[i]);
  }
  tagParams(create, "network-interface", "nic-" + instanceId, instanceId);
  auto created = ec2_->call("CreateNetworkInterface", create, true);
  if (!created) return fail(created.error().toError("EC2 CreateNetworkInterface"));
  const XmlElement* nic = created->child("networkInterface");
  std::string id = nic ? nic->childText("networkInterfaceId") : "";
  if (id.empty()) return fail(Code::kInternal, "EC2 CreateNetworkInterface: no networkInterfaceId");
  std::string status = nic->childText("status");

  auto deleteNic = [&](Error err) -> Status {
    auto d = ec2_->call("DeleteNetworkInterface", {{"NetworkInterfaceId", id}}, true);
    if (!d && !d.error().notFound()) {
      log::error(kLog, "deleting network interface {}: {}", id,
                 d.error().toError("EC2 DeleteNetworkInterface").message);
      err.message += "; network interface " + id + " remains";
    }
    return fail(std::move(err));
  };

  // Wait until the interface is available (EC2's NetworkInterfaceAvailable waiter).
  auto deadline = std::chrono::steady_clock::now() + config_.ipTimeout;
  while (status != "available") {
    if (std::chrono::steady_clock::now() >= deadline) {
      return deleteNic(
          Error(Code::kDeadlineExceeded, "network interface " + id + " is still " + status));
    }
    std::this_thread::sleep_for(deps_.pollInterval);
    auto d = ec2_->call("DescribeNetworkInterfaces", {{"NetworkInterfaceId.1", id}}, false);
    if (!d) {
      if (d.error().notFound()) continue;  // eventual consistency right after the create
      return deleteNic(d.error().toError("EC2 DescribeNetworkInterfaces"));
    }
    const XmlElement* set = d->child("networkInterfaceSet");
    const XmlElement* item = set ? set->child("item") : nullptr;
    status = item ? item->childText("status") : "";
  }

  auto attached = ec2_->call(
      "AttachNetworkInterface",
      {{"DeviceIndex", "1"}, {"InstanceId", instanceId}, {"NetworkInterfaceId", id}}, true);
  if (!attached) return deleteNic(attached.error().toError("EC2 AttachNetworkInterface"));
  std::string attachmentId = attached->childText("attachmentId");
  *nicId = id;  // from here on the interface is attached: the instance holds it
  auto modified = ec2_->call("ModifyNetworkInterfaceAttribute",
                             {{"NetworkInterfaceId", id},
                              {"Attachment.AttachmentId", attachmentId},
                              {"Attachment.DeleteOnTermination", "true"}},
                             true);
  if (!modified) return fail(modified.error().toError("EC2 ModifyNetworkInterfaceAttribute"));
  nicId->clear();  // deleted with the instance now
  log::info(kLog, "attached network interface {} to instance {}", id, instanceId);

  if (!config_.usePublicIp) return {};
  QueryParams alloc = {{"Domain", "vpc"}};
  tagParams(alloc, "elastic-ip", "eip-" + instanceId, instanceId);
  auto address = ec2_->call("AllocateAddress", alloc, true);
  if (!address) return fail(address.error().toError("EC2 AllocateAddress"));
  std::string allocationId = address->childText("allocationId");
  auto associated = ec2_->call("AssociateAddress",
                               {{"AllocationId", allocationId}, {"NetworkInterfaceId", id}}, true);
  if (!associated) {
    Error err = associated.error().toError("EC2 AssociateAddress");
    auto r = ec2_->call("ReleaseAddress", {{"AllocationId", allocationId}}, true);
    if (!r) {
      log::error(kLog, "releasing Elastic IP {}: {}", allocationId,
                 r.error().toError("EC2 ReleaseAddress").message);
      err.message += "; Elastic IP " + allocationId + " remains";
    }
    return fail(std::move(err));
  }
  log::info(kLog, "Elastic IP {} ({}) on network interface {}", address->childText("publicIp"),
            allocationId, id);
  return {};
}

void AwsProvider::releaseAddresses(const std::string& instanceId) {
  static std::atomic<bool> warnedPermission{false};
  auto r = ec2_->call("DescribeAddresses",
                      {{"Filter.1.Name", "instance-id"}, {"Filter.1.Value.1", instanceId}}, false);
  if (!r) {
    Error e = r.error().toError("EC2 DescribeAddresses");
    if (e.code != Code::kPermissionDenied || !warnedPermission.exchange(true)) {
      log::warn(kLog, "looking for Elastic IPs of instance {}: {}", instanceId, e.message);
    }
    return;
  }
  const XmlElement* set = r->child("addressesSet");
  if (set == nullptr) return;
  for (const XmlElement* a : set->all("item")) {
    std::string association = a->childText("associationId");
    std::string allocation = a->childText("allocationId");
    if (!association.empty()) {
      auto d = ec2_->call("DisassociateAddress", {{"AssociationId", association}}, true);
      if (!d) log::warn(kLog, "{}", d.error().toError("EC2 DisassociateAddress").message);
    }
    if (!allocation.empty()) {
      auto rel = ec2_->call("ReleaseAddress", {{"AllocationId", allocation}}, true);
      if (!rel)
        log::warn(kLog, "{}", rel.error().toError("EC2 ReleaseAddress").message);
      else
        log::info(kLog, "released Elastic IP {} of instance {}", allocation, instanceId);
    }
  }
}

}  // namespace pp::providers::aws
