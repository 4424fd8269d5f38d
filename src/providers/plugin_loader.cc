#include "providers/plugin_loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "base/log.h"
#include "base/strings.h"
#include "providers/plugin_abi.h"

// Where a plugin call's outcome lands; the C ABI only sees an opaque pointer.
struct PeerpodsResult {
  std::optional<pp::Error> error;
  std::vector<pp::providers::Instance> instances;
  bool ipWithoutInstance = false;
};

namespace {

std::string orEmpty(const char* s) {
  return s == nullptr ? std::string() : std::string(s);
}

}  // namespace

// The host services handed to plugins. C linkage, and no exception may cross back into C.
extern "C" {

static void peerpodsHostSetError(PeerpodsResult* result, int32_t code, const char* message) {
  if (result == nullptr) return;
  try {
    auto c = static_cast<pp::Code>(code);
    if (code <= 0 || code > static_cast<int32_t>(pp::Code::kUnauthenticated))
      c = pp::Code::kUnknown;
    result->error = pp::Error{c, orEmpty(message)};
  } catch (...) {
  }
}

static void peerpodsHostAddInstance(PeerpodsResult* result, const char* id, const char* name) {
  if (result == nullptr) return;
  try {
    result->instances.push_back(pp::providers::Instance{orEmpty(id), orEmpty(name), {}});
  } catch (...) {
  }
}

static void peerpodsHostAddIp(PeerpodsResult* result, const char* ip) {
  if (result == nullptr) return;
  try {
    if (result->instances.empty()) {
      result->ipWithoutInstance = true;
      return;
    }
    result->instances.back().ips.push_back(orEmpty(ip));
  } catch (...) {
  }
}

static void peerpodsHostLog(int32_t level, const char* message) {
  try {
    auto l = static_cast<pp::log::Level>(std::clamp(level, 0, 3));
    pp::log::write(l, "plugin", message == nullptr ? "" : message);
  } catch (...) {
  }
}

}  // extern "C"

namespace pp::providers {
namespace {

const PeerpodsHostApi kHostApi = {
    PEERPODS_PLUGIN_ABI_VERSION, &peerpodsHostSetError, &peerpodsHostAddInstance,
    &peerpodsHostAddIp,          &peerpodsHostLog,
};

// The outcome of a plugin call as a Status: the plugin's own error if it reported one.
Status callStatus(int32_t rc, const PeerpodsResult& result, std::string_view what) {
  if (rc == 0 && !result.error) return {};
  if (result.error) return fail(*result.error);
  return fail(Code::kUnknown, std::string(what) + " failed without an error message");
}

// A provider implemented by a plugin: forwards each call through the ops table.
class PluginProvider final : public Provider {
 public:
  PluginProvider(const PeerpodsProviderOps* ops, void* handle) : ops_(ops), handle_(handle) {}
  ~PluginProvider() override { ops_->destroy(handle_); }

  Result<Instance> createInstance(const CreateRequest& request) override {
    PeerpodsCreateRequest c{};
    c.pod_name = request.podName.c_str();
    c.pod_namespace = request.podNamespace.c_str();
    c.sandbox_id = request.sandboxId.c_str();
    c.instance_name = request.instanceName.c_str();
    c.user_data = request.userData.c_str();
    c.user_data_size = request.userData.size();
    c.spec.instance_type = request.spec.instanceType.c_str();
    c.spec.vcpus = request.spec.vcpus;
    c.spec.memory_mib = request.spec.memoryMiB;
    c.spec.gpus = request.spec.gpus;
    c.spec.gpu_model = request.spec.gpuModel.c_str();
    c.spec.image = request.spec.image.c_str();
    c.spec.multi_nic = request.spec.multiNic ? 1 : 0;
    PeerpodsResult result;
    int32_t rc = ops_->create_instance(handle_, &c, &result);
    if (auto s = callStatus(rc, result, "create_instance"); !s) return fail(std::move(s.error()));
    if (result.instances.size() != 1 || result.ipWithoutInstance) {
      return fail(Code::kInternal,
                  fmt::format("plugin {} returned {} instances from create_instance, expected one",
                              ops_->name, result.instances.size()));
    }
    return std::move(result.instances.front());
  }

  Status deleteInstance(const std::string& id) override {
    PeerpodsResult result;
    return callStatus(ops_->delete_instance(handle_, id.c_str(), &result), result,
                      "delete_instance");
  }

  Status teardown() override {
    if (ops_->teardown == nullptr) return {};
    PeerpodsResult result;
    return callStatus(ops_->teardown(handle_, &result), result, "teardown");
  }

  Status verifyConfig() override {
    if (ops_->verify_config == nullptr) return {};
    PeerpodsResult result;
    return callStatus(ops_->verify_config(handle_, &result), result, "verify_config");
  }

  Result<std::vector<Instance>> listInstances(const std::string& tag) override {
    if (ops_->list_instances == nullptr) return Provider::listInstances(tag);
    PeerpodsResult result;
    if (auto s = callStatus(ops_->list_instances(handle_, tag.c_str(), &result), result,
                            "list_instances");
        !s) {
      return fail(std::move(s.error()));
    }
    return std::move(result.instances);
  }

 private:
  const PeerpodsProviderOps* ops_;
  void* handle_;
};

// The flags a plugin declared, bound to storage this setup owns.
class PluginSetup final : public ProviderSetup {
 public:
  explicit PluginSetup(const PeerpodsProviderOps* ops) : ops_(ops), slots_(ops->flag_count) {}

  void registerFlags(flags::FlagSet& fs) override {
    for (size_t i = 0; i < ops_->flag_count; ++i) {
      const PeerpodsFlagSpec& spec = ops_->flags[i];
      Slot& slot = slots_[i];
      const std::string def = orEmpty(spec.default_value);
      // Defaults were validated when the plugin was loaded, so value_or() never hides an error.
      flags::Flag* flag = nullptr;
      switch (static_cast<PeerpodsFlagKind>(spec.kind)) {
        case PEERPODS_FLAG_STRING:
          flag = &fs.stringVar(&slot.text, spec.name, def, orEmpty(spec.env), orEmpty(spec.usage));
          break;
        case PEERPODS_FLAG_BOOL:
          flag = &fs.boolVar(&slot.boolean, spec.name,
                             def.empty() ? false : flags::parseBool(def).value_or(false),
                             orEmpty(spec.env), orEmpty(spec.usage));
          break;
        case PEERPODS_FLAG_INT:
          flag = &fs.intVar(&slot.integer, spec.name,
                            def.empty() ? 0 : flags::parseInt(def).value_or(0), orEmpty(spec.env),
                            orEmpty(spec.usage));
          break;
        case PEERPODS_FLAG_UINT:
          flag = &fs.uintVar(&slot.unsignedInteger, spec.name,
                             def.empty() ? 0 : flags::parseUint(def).value_or(0), orEmpty(spec.env),
                             orEmpty(spec.usage));
          break;
        case PEERPODS_FLAG_FLOAT:
          flag = &fs.floatVar(&slot.real, spec.name,
                              def.empty() ? 0 : flags::parseFloat(def).value_or(0),
                              orEmpty(spec.env), orEmpty(spec.usage));
          break;
        case PEERPODS_FLAG_DURATION:
          flag = &fs.durationVar(
              &slot.duration, spec.name,
              def.empty() ? std::chrono::nanoseconds(0)
                          : flags::parseDuration(def).value_or(std::chrono::nanoseconds(0)),
              orEmpty(spec.env), orEmpty(spec.usage));
          break;
        case PEERPODS_FLAG_STRING_LIST:
          flag = &fs.stringListVar(&slot.list, spec.name, flags::splitList(def), orEmpty(spec.env),
                                   orEmpty(spec.usage));
          break;
      }
      if (flag != nullptr && spec.secret != 0) flag->secret();
    }
  }

  Result<std::unique_ptr<Provider>> build() override {
    std::vector<std::string> texts;
    texts.reserve(slots_.size());
    for (size_t i = 0; i < slots_.size(); ++i) texts.push_back(slotText(ops_->flags[i], slots_[i]));
    std::vector<PeerpodsConfigValue> config;
    config.reserve(texts.size());
    for (size_t i = 0; i < texts.size(); ++i)
      config.push_back({ops_->flags[i].name, texts[i].c_str()});
    PeerpodsResult result;
    void* handle = ops_->create(config.data(), config.size(), &result);
    if (handle == nullptr) {
      if (result.error) return fail(result.error->wrap(std::string("plugin ") + ops_->name));
      return fail(Code::kUnknown,
                  std::string("plugin ") + ops_->name + " could not create its provider");
    }
    return std::make_unique<PluginProvider>(ops_, handle);
  }

 private:
  struct Slot {
    std::string text;
    bool boolean = false;
    int64_t integer = 0;
    uint64_t unsignedInteger = 0;
    double real = 0;
    std::chrono::nanoseconds duration{0};
    std::vector<std::string> list;
  };

  static std::string slotText(const PeerpodsFlagSpec& spec, const Slot& slot) {
    switch (static_cast<PeerpodsFlagKind>(spec.kind)) {
      case PEERPODS_FLAG_STRING:
        return slot.text;
      case PEERPODS_FLAG_BOOL:
        return slot.boolean ? "true" : "false";
      case PEERPODS_FLAG_INT:
        return std::to_string(slot.integer);
      case PEERPODS_FLAG_UINT:
        return std::to_string(slot.unsignedInteger);
      case PEERPODS_FLAG_FLOAT:
        return flags::formatFloat(slot.real);
      case PEERPODS_FLAG_DURATION:
        return std::to_string(slot.duration.count());
      case PEERPODS_FLAG_STRING_LIST: {
        std::string out;
        for (const auto& item : slot.list) out += (out.empty() ? "" : ",") + item;
        return out;
      }
    }
    return "";
  }

  const PeerpodsProviderOps* ops_;
  std::vector<Slot> slots_;  // sized once: flags point into it
};

using strings::equalsIgnoreCase;

// Go's filepath.Dir and filepath.Base for the absolute or relative paths operators write.
std::string parentDir(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  std::string_view dir = path.substr(0, slash);
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  return dir.empty() ? "/" : std::string(dir);
}

std::string baseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash != std::string_view::npos && path.size() > 1) path.remove_prefix(slash + 1);
  return path.empty() ? "." : std::string(path);
}

std::string envValue(const flags::EnvLookup& env, std::string_view name) {
  return env(std::string(name)).value_or("");
}

Result<std::string> sha256Fd(int fd, const std::string& path) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return fail(Code::kInternal, "cannot initialise SHA-256");
  }
  std::vector<unsigned char> buf(64 * 1024);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::kUnavailable, "reading " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) != 1) {
      return fail(Code::kInternal, "SHA-256 update failed");
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1)
    return fail(Code::kInternal, "SHA-256 final failed");
  return encoding::hexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

Status validateOps(const PeerpodsProviderOps* ops, std::string_view name) {
  if (ops == nullptr)
    return fail(Code::kFailedPrecondition, "the plugin's init returned no provider");
  if (ops->abi_version != PEERPODS_PLUGIN_ABI_VERSION) {
    return fail(Code::kFailedPrecondition,
                fmt::format("the plugin uses ABI version {}, this adaptor version {}",
                            ops->abi_version, PEERPODS_PLUGIN_ABI_VERSION));
  }
  if (ops->name == nullptr || std::string_view(ops->name) != name) {
    return fail(
        Code::kFailedPrecondition,
        fmt::format("the plugin implements provider \"{}\", not \"{}\"", orEmpty(ops->name), name));
  }
  if (ops->create == nullptr || ops->destroy == nullptr || ops->create_instance == nullptr ||
      ops->delete_instance == nullptr) {
    return fail(Code::kFailedPrecondition,
                "the plugin lacks create, destroy, create_instance or delete_instance");
  }
  if (ops->flag_count > 0 && ops->flags == nullptr) {
    return fail(Code::kFailedPrecondition, "the plugin declares flags but no flag table");
  }
  for (size_t i = 0; i < ops->flag_count; ++i) {
    const PeerpodsFlagSpec& f = ops->flags[i];
    const std::string flagName = orEmpty(f.name);
    if (flagName.empty() || flagName[0] == '-' || flagName.find('=') != std::string::npos) {
      return fail(Code::kFailedPrecondition,
                  fmt::format("the plugin's flag #{} has a bad name \"{}\"", i, flagName));
    }
    const std::string def = orEmpty(f.default_value);
    // The parse error of the default, if any; only kinds with a syntax can fail.
    std::optional<Error> bad;
    auto check = [&bad](const auto& parsed) {
      if (!parsed) bad = parsed.error();
    };
    switch (f.kind) {
      case PEERPODS_FLAG_STRING:
      case PEERPODS_FLAG_STRING_LIST:
        break;
      case PEERPODS_FLAG_BOOL:
        if (!def.empty()) check(flags::parseBool(def));
        break;
      case PEERPODS_FLAG_INT:
        if (!def.empty()) check(flags::parseInt(def));
        break;
      case PEERPODS_FLAG_UINT:
        if (!def.empty()) check(flags::parseUint(def));
        break;
      case PEERPODS_FLAG_FLOAT:
        if (!def.empty()) check(flags::parseFloat(def));
        break;
      case PEERPODS_FLAG_DURATION:
        if (!def.empty()) check(flags::parseDuration(def));
        break;
      default:
        return fail(Code::kFailedPrecondition,
                    fmt::format("the plugin's flag -{} has unknown kind {}", flagName, f.kind));
    }
    if (bad) {
      return fail(Code::kFailedPrecondition,
                  fmt::format("the plugin's flag -{} has a bad default \"{}\": {}", flagName, def,
                              bad->message));
    }
  }
  return {};
}

// Plugins already loaded, by the file's identity. A file that is mapped keeps its inode, so
// (device, inode) cannot name a different file while the plugin is loaded. Loading the same
// file again reuses the object and does not run its init a second time (as Go plugins).
struct LoadedPlugins {
  std::mutex mu;
  std::map<std::pair<dev_t, ino_t>, const PeerpodsProviderOps*> byFile;
  // glibc recognises a loaded object by the name it was opened with before it looks at the
  // file, so each "/proc/self/fd/N" name may be used for one object only.
  std::set<std::string> usedFdNames;
};

LoadedPlugins& loadedPlugins() {
  static LoadedPlugins instance;
  return instance;
}

// Opens the shared object behind `fd` (the bytes that were hashed) through a /proc/self/fd
// name not used before. Caller holds LoadedPlugins::mu.
Result<void*> openObject(int fd, LoadedPlugins& loaded) {
  std::string loadPath;
  int loadFd = fd;
  std::vector<std::unique_ptr<FdCloser>> dups;
  while (true) {
    loadPath = "/proc/self/fd/" + std::to_string(loadFd);
    if (!loaded.usedFdNames.contains(loadPath)) break;
    // F_DUPFD takes the lowest free number above the one whose name is taken.
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, loadFd + 1);
    if (dup < 0) {
      return fail(Code::kResourceExhausted,
                  std::string("duplicating a descriptor: ") + std::strerror(errno));
    }
    dups.push_back(std::make_unique<FdCloser>(dup));
    loadFd = dup;
  }
  // Loading by path instead would reopen whatever the path names by then: without /proc the
  // plugin is refused rather than loaded unchecked.
  if (::access(loadPath.c_str(), R_OK) != 0) {
    return fail(Code::kFailedPrecondition,
                loadPath +
                    " is not available (is /proc mounted?): cannot load the plugin from "
                    "the descriptor that was hashed");
  }
  ::dlerror();
  void* lib = ::dlopen(loadPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    return fail(Code::kFailedPrecondition, why == nullptr ? "unknown error" : why);
  }
  loaded.usedFdNames.insert(loadPath);
  return lib;
}

std::function<void(const std::string&)>& afterHashHook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}

// Only root and the user we run as may own what we execute: anyone else could rewrite it.
bool trustedOwner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

std::string octalMode(mode_t mode) {
  return fmt::format("{:04o}", mode & 07777);
}

// The directory may not let others replace the plugin: owned by a trusted user and not
// writable by group or others, unless sticky (then only the file's owner may rename or unlink
// it, and the file's owner is checked). Ancestors are not checked: the file is opened through
// this directory's descriptor and pinned by its hash.
Status checkDirectory(const struct stat& st, const std::string& dir) {
  if (!trustedOwner(st.st_uid)) {
    return fail(Code::kFailedPrecondition,
                fmt::format("plugin directory {} is owned by uid {}, not by root or uid {}", dir,
                            st.st_uid, ::geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return fail(Code::kFailedPrecondition,
                fmt::format("plugin directory {} is writable by group or others (mode {}): "
                            "anyone with that access could replace the plugin",
                            dir, octalMode(st.st_mode)));
  }
  return {};
}

// The file itself: regular, owned by a trusted user, writable by no one else. A file others
// may write could be changed in place after it was hashed, even through our descriptor.
Status checkPluginFile(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode))
    return fail(Code::kFailedPrecondition, fmt::format("plugin {} is not a regular file", path));
  if (!trustedOwner(st.st_uid)) {
    return fail(Code::kFailedPrecondition,
                fmt::format("plugin {} is owned by uid {}, not by root or uid {}", path, st.st_uid,
                            ::geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fail(Code::kFailedPrecondition,
                fmt::format("plugin {} is writable by group or others (mode {})", path,
                            octalMode(st.st_mode)));
  }
  return {};
}

}  // namespace

void setPluginHashedHookForTesting(std::function<void(const std::string& path)> hook) {
  afterHashHook() = std::move(hook);
}

Result<std::string> sha256FileHex(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(Code::kNotFound, "opening " + path + ": " + std::strerror(errno));
  FdCloser closer(fd);
  return sha256Fd(fd, path);
}

Result<bool> loadExternalPlugin(std::string_view name, Registry& table,
                                const flags::EnvLookup& env) {
  auto refuse = [](std::string message) {
    return fail(Code::kFailedPrecondition, std::move(message));
  };

  // 1. Opt-in, exactly "true" as upstream.
  if (envValue(env, kPluginEnableEnv) != "true") return false;

  // 2. The directory holding the plugin. It is opened once: the file is then opened through
  // this descriptor, so the directory checked is the directory the plugin comes from. O_PATH
  // needs no read permission and does not block on a FIFO.
  const std::string path = envValue(env, kPluginPathEnv);
  const std::string dir = parentDir(path);
  int dirFd = ::open(dir.c_str(), O_PATH | O_CLOEXEC);
  if (dirFd < 0) return refuse(fmt::format("plugin directory {}: {}", dir, std::strerror(errno)));
  FdCloser dirCloser(dirFd);
  struct stat st {};
  if (::fstat(dirFd, &st) != 0) {
    return refuse(fmt::format("plugin directory {}: {}", dir, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode))
    return refuse(fmt::format("plugin directory {} is not a directory", dir));
  if ((st.st_mode & S_IXUSR) == 0) {
    return refuse(fmt::format("plugin directory {} lacks the owner-execute permission", dir));
  }

  // 3. Both the path and the expected hash.
  const std::string hash = envValue(env, kPluginHashEnv);
  if (path.empty() || hash.empty()) {
    return refuse(fmt::format("{} and {} must both be set", kPluginPathEnv, kPluginHashEnv));
  }

  // 4. The file is named after the provider.
  const std::string base = baseName(path);
  if (!equalsIgnoreCase(base, std::string(name) + ".so")) {
    return refuse(fmt::format("plugin file {} does not match provider {} (expected {}.so)", base,
                              name, name));
  }

  // Not upstream's: who may change the plugin (see checkDirectory, checkPluginFile).
  if (auto s = checkDirectory(st, dir); !s) return refuse(s.error().message);

  // 5. Its content is the one the operator pinned. The file is opened once, without following
  // a symbolic link (the name checked in 4 is the file's own), and everything below reads and
  // loads that descriptor. O_NONBLOCK: opening a FIFO must not hang the start.
  int fd = ::openat(dirFd, base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ELOOP) {
      return refuse(fmt::format("plugin {} is a symbolic link; set {} to the file itself", path,
                                kPluginPathEnv));
    }
    return refuse(fmt::format("opening plugin {}: {}", path, std::strerror(errno)));
  }
  FdCloser closer(fd);
  if (::fstat(fd, &st) != 0)
    return refuse(fmt::format("plugin {}: {}", path, std::strerror(errno)));
  if (auto s = checkPluginFile(st, path); !s) return refuse(s.error().message);
  auto actual = sha256Fd(fd, path);
  if (!actual) return refuse(actual.error().message);
  if (*actual != hash) {
    return refuse(
        fmt::format("plugin {} has SHA-256 {}, but {} is {}", path, *actual, kPluginHashEnv, hash));
  }
  if (afterHashHook()) afterHashHook()(path);

  // Load the very file we hashed. The object stays loaded for the life of the process:
  // providers and their threads may still run its code, and Go plugins cannot be unloaded
  // either.
  const PeerpodsProviderOps* ops = nullptr;
  {
    LoadedPlugins& loaded = loadedPlugins();
    std::lock_guard lock(loaded.mu);
    const auto identity = std::make_pair(st.st_dev, st.st_ino);
    if (auto it = loaded.byFile.find(identity); it != loaded.byFile.end()) {
      ops = it->second;
    } else {
      auto lib = openObject(fd, loaded);
      if (!lib) return refuse(fmt::format("loading plugin {}: {}", path, lib.error().message));
      ::dlerror();
      void* sym = ::dlsym(*lib, PEERPODS_PLUGIN_ENTRY_POINT);
      if (sym == nullptr) {
        const char* why = ::dlerror();
        return refuse(fmt::format("plugin {} has no entry point {}: {}", path,
                                  PEERPODS_PLUGIN_ENTRY_POINT,
                                  why == nullptr ? "symbol is null" : why));
      }
      auto init = reinterpret_cast<PeerpodsProviderInitFn>(sym);
      ops = init(&kHostApi);
      loaded.byFile.emplace(identity, ops);
    }
  }
  // Validated on every load: the same object may be offered under another provider name.
  if (auto s = validateOps(ops, name); !s)
    return refuse(fmt::format("plugin {}: {}", path, s.error().message));

  table.add(
      std::string(name),
      [ops] { return std::unique_ptr<ProviderSetup>(std::make_unique<PluginSetup>(ops)); },
      ProviderOrigin::kPlugin);
  return true;
}

Result<std::unique_ptr<ProviderSetup>> lookupProvider(std::string_view name, Registry& table,
                                                      const flags::EnvLookup& env) {
  auto loaded = loadExternalPlugin(name, table, env);
  if (!loaded) {
    log::warn("providers",
              "external plugin for provider {} not loaded: {}; using the built-in providers", name,
              loaded.error().message);
  } else if (*loaded) {
    log::info("providers", "provider {} comes from external plugin {}", name,
              envValue(env, kPluginPathEnv));
  } else {
    log::debug("providers", "external plugins disabled ({} is not \"true\")", kPluginEnableEnv);
  }
  return table.setup(name);
}

}  // namespace pp::providers
