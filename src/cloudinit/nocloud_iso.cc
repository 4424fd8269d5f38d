#include "cloudinit/nocloud_iso.h"

#define LIBISOFS_WITHOUT_LIBBURN yes
#include <libisofs/libisofs.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace pp::cloudinit {
namespace {

std::mutex& isoMutex() {
  static std::mutex m;  // libisofs keeps global state; one image at a time
  return m;
}

Status addFile(IsoImage* image, const char* name, const std::string& content) {
  // libisofs takes ownership of the buffer and frees it with free().
  auto* buf = static_cast<unsigned char*>(std::malloc(content.size() ? content.size() : 1));
  if (!buf) return fail(Code::kResourceExhausted, "out of memory");
  std::memcpy(buf, content.data(), content.size());
  IsoStream* stream = nullptr;
  if (iso_memory_stream_new(buf, content.size(), &stream) < 0) {
    std::free(buf);
    return fail(Code::kInternal, std::string("libisofs: cannot make a stream for ") + name);
  }
  IsoFile* file = nullptr;
  // The new file node takes over our reference to the stream.
  int rc = iso_tree_add_new_file(iso_image_get_root(image), name, stream, &file);
  if (rc < 0) {
    iso_stream_unref(stream);
    return fail(Code::kInternal, std::string("libisofs: cannot add ") + name);
  }
  iso_node_set_permissions(reinterpret_cast<IsoNode*>(file), 0444);
  return {};
}

}  // namespace

Result<std::string> buildNoCloudIso(const std::string& userData, const std::string& metaData) {
  if (userData.size() > (16u << 20)) return fail(Code::kInvalidArgument, "user data above 16 MiB");
  std::lock_guard lock(isoMutex());
  static const bool initialised = iso_init() >= 0;
  if (!initialised) return fail(Code::kInternal, "libisofs failed to initialise");
  IsoImage* image = nullptr;
  if (iso_image_new("cidata", &image) < 0)
    return fail(Code::kInternal, "libisofs: cannot create an image");
  iso_image_set_volume_id(image, "cidata");
  Result<std::string> out = std::string();
  IsoWriteOpts* opts = nullptr;
  burn_source* src = nullptr;
  do {
    if (auto st = addFile(image, "user-data", userData); !st) {
      out = fail(st.error());
      break;
    }
    if (auto st = addFile(image, "meta-data", metaData); !st) {
      out = fail(st.error());
      break;
    }
    if (iso_write_opts_new(&opts, 0) < 0) {
      out = fail(Code::kInternal, "libisofs: cannot create write options");
      break;
    }
    iso_write_opts_set_rockridge(opts, 1);
    iso_write_opts_set_joliet(opts, 1);
    if (iso_image_create_burn_source(image, opts, &src) < 0) {
      out = fail(Code::kInternal, "libisofs: cannot start writing the image");
      break;
    }
    unsigned char block[2048];
    while (true) {
      int n = src->read_xt(src, block, sizeof block);
      if (n < 0) {
        out = fail(Code::kInternal, "libisofs: writing the image failed");
        break;
      }
      if (n == 0) break;
      out->append(reinterpret_cast<char*>(block), static_cast<size_t>(n));
    }
  } while (false);
  if (src) {
    src->free_data(src);
    std::free(src);
  }
  if (opts) iso_write_opts_free(opts);
  iso_image_unref(image);
  return out;
}

}  // namespace pp::cloudinit
