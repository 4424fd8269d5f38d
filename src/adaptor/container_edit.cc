// The adaptor's edit of the agent's CreateContainerRequest (see container_edit.h).
#include "adaptor/container_edit.h"

#include <google/protobuf/unknown_field_set.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/log.h"
#include "peerpods/agent_edit.pb.h"

namespace pp::adaptor {
namespace {

constexpr char kTargetPathAnnotation[] = "io.confidentialcontainers.org.peerpodvolumes.target_path";
constexpr char kGpuAnnotation[] = "io.katacontainers.config.hypervisor.default_gpus";
constexpr char kCdiAnnotation[] = "cdi.k8s.io/peer-pods";

// Like Go's filepath.Clean: lexical normalisation without a trailing slash.
std::string cleanPath(const std::string& p) {
  std::string out = std::filesystem::path(p).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool isDirectory(const std::string& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// Storage.fstype (field 4), which our view of the message leaves among the unknown fields so that
// the request is re-encoded byte for byte; only the log reads it.
std::string storageFstype(const ::peerpods::edit::Storage& s) {
  const auto& unknown = s.GetReflection()->GetUnknownFields(s);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const auto& f = unknown.field(i);
    if (f.number() == 4 && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      return f.length_delimited();
  }
  return {};
}

}  // namespace

Result<std::string> editCreateContainer(std::string_view payload,
                                        const std::string& directVolumesDir,
                                        std::string_view sandboxId) {
  ::peerpods::edit::CreateContainerRequest req;
  if (!req.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return fail(Code::kInvalidArgument, "CreateContainer: malformed request");
  }
  // Upstream's lines (proxy/service.go), one per storage, that its e2e suite greps for
  // "mount_point:/run/kata-containers/...<cid>... driver:image_guest_pull".
  const log::Sandbox sb(sandboxId);
  log::info("proxy", sb, "CreateContainer: containerID:{}", req.container_id());
  if (req.storages_size() > 0) log::info("proxy", sb, "    storages:");
  for (const auto& s : req.storages()) {
    log::info("proxy", sb, "        mount_point:{} source:{} fstype:{} driver:{}", s.mount_point(),
              s.source(), storageFstype(s), s.driver());
  }
  auto* spec = req.mutable_oci();
  auto* annotations = spec->mutable_annotations();
  std::string targets;
  for (const auto& m : spec->mounts()) {
    std::string source = cleanPath(m.source());
    if (source.find("/volumes/kubernetes.io~csi/") == std::string::npos) continue;
    if (!isDirectory(directVolumesDir + "/" + encoding::base64UrlEncode(source))) continue;
    // Comma-joined without the leading comma upstream produces when the first CSI mount is not
    // the first mount.
    if (!targets.empty()) targets += ",";
    targets += source;
  }
  if (!targets.empty()) (*annotations)[kTargetPathAnnotation] = targets;
  if (auto it = annotations->find(kGpuAnnotation);
      it != annotations->end() && !it->second.empty()) {
    (*annotations)[kCdiAnnotation] = "nvidia.com/gpu=all";
  }
  bool guestPull = false;
  for (const auto& s : req.storages()) guestPull |= s.driver() == "image_guest_pull";
  if (!guestPull) {
    log::warn("proxy", sb,
              "CreateContainer {}: no image_guest_pull storage; the image will not be pulled in "
              "the guest",
              req.container_id());
  }
  return req.SerializeAsString();
}

}  // namespace pp::adaptor
