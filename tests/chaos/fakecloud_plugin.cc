// fakecloud: an external provider plugin (plugin_abi.h) for scripts/chaos. Its "cloud" is a
// directory (-fakecloud-dir, env FAKECLOUD_DIR), so instances outlive the adaptor the way a
// real cloud's do:
//   <dir>/instances/<id>     one file per instance: "id\nname\nsandbox\n"
//   <dir>/log                append-only, one line per event:
//                            "<unix ms> create|delete|delete-absent|create-refused|list|
//                             list-refused|delete-refused <id or -> <sandbox or ->"
//   <dir>/faults             re-read at every call, "key=value" lines (# comments):
//     create_delay_ms_before=N    sleep before the instance exists (marker creating-<sandbox>)
//     create_delay_ms_after=N     sleep after the instance file is written, before answering
//                                 (marker created-<sandbox>)
//     create_fail_after_exists=N  the next N creates make the instance, then answer
//                                 UNAVAILABLE ("may have been applied")
//     fail_creates_until=T        every create before unix time T fails (UNAVAILABLE or
//                                 RESOURCE_EXHAUSTED, alternately) without making anything
//     delete_fail_count=N         the next N deletes fail UNAVAILABLE (nothing deleted)
//     list_fail=1                 list_instances fails UNAVAILABLE (an empty tag lists all)
//     delete_delay_ms=N           sleep before deleting (marker deleting-<id>)
//     create_twice=N              the next N creates also make a second instance of the sandbox
//                                 that nobody is told about (the suite's self-test: it must
//                                 count a duplicate and a leak)
//   <dir>/creating-<sandbox>, <dir>/created-<sandbox>, <dir>/deleting-<id>: marker files written
//   at those points, so that the driver can kill the adaptor at exactly that moment.
//   <dir>/used-<knob>        how many of a counted fault (create_fail_after_exists,
//                            delete_fail_count) were used; the driver resets them with the faults.
// Every instance answers IP 127.0.0.1: the driver runs one forwarder and test-agent there.
// Calls may run concurrently (several adaptor threads, or two adaptors): counters and the log
// are updated under an flock on <dir>/lock.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "providers/plugin_abi.h"

namespace {

namespace fs = std::filesystem;

const PeerpodsHostApi* host = nullptr;

constexpr int32_t kUnavailable = 14;
constexpr int32_t kResourceExhausted = 8;
constexpr int32_t kInvalidArgument = 3;
constexpr int32_t kInternal = 13;

struct FakeCloud {
  std::string dir;
};

long long nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::map<std::string, std::string> readFaults(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::ifstream in(dir + "/faults");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

long long knob(const std::map<std::string, std::string>& f, const std::string& key) {
  auto it = f.find(key);
  if (it == f.end()) return 0;
  return std::strtoll(it->second.c_str(), nullptr, 10);
}

// An exclusive lock on <dir>/lock for the life of the object.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    fd_ = ::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

void appendLog(const std::string& dir, const std::string& event, const std::string& id,
               const std::string& sandbox) {
  std::string line = std::to_string(nowMs()) + " " + event + " " + (id.empty() ? "-" : id) + " " +
                     (sandbox.empty() ? "-" : sandbox) + "\n";
  int fd = ::open((dir + "/log").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

void touch(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) ::close(fd);
}

// Takes one unit of a counted fault: true while fewer than `limit` were used. Call under
// DirLock.
bool takeCounted(const std::string& dir, const std::string& name, long long limit) {
  if (limit <= 0) return false;
  const std::string path = dir + "/used-" + name;
  long long used = 0;
  {
    std::ifstream in(path);
    in >> used;
  }
  if (used >= limit) return false;
  std::ofstream(path, std::ios::trunc) << used + 1 << "\n";
  return true;
}

std::string newId() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(nowMs())};
  char buf[32];
  std::snprintf(buf, sizeof buf, "fc-%012llx",
                static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
  return buf;
}

bool writeInstance(const std::string& dir, const std::string& id, const std::string& name,
                   const std::string& sandbox) {
  const std::string tmp = dir + "/instances/." + id + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n" << name << "\n" << sandbox << "\n";
    if (!out.flush()) return false;
  }
  return ::rename(tmp.c_str(), (dir + "/instances/" + id).c_str()) == 0;
}

void sleepMs(long long ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

const PeerpodsFlagSpec kFlags[] = {
    {"fakecloud-dir", PEERPODS_FLAG_STRING, nullptr, "FAKECLOUD_DIR",
     "directory holding the fake cloud's instances, log and faults", 0},
};

void* fcCreate(const PeerpodsConfigValue* config, size_t count, PeerpodsResult* result) {
  std::string dir;
  for (size_t i = 0; i < count; ++i) {
    if (std::strcmp(config[i].name, "fakecloud-dir") == 0 && config[i].value != nullptr)
      dir = config[i].value;
  }
  if (dir.empty()) {
    host->set_error(result, kInvalidArgument, "-fakecloud-dir is required");
    return nullptr;
  }
  std::error_code ec;
  fs::create_directories(dir + "/instances", ec);
  if (ec) {
    host->set_error(result, kInvalidArgument,
                    ("-fakecloud-dir " + dir + ": " + ec.message()).c_str());
    return nullptr;
  }
  return new FakeCloud{dir};
}

void fcDestroy(void* p) {
  delete static_cast<FakeCloud*>(p);
}

int32_t fcCreateInstance(void* p, const PeerpodsCreateRequest* req, PeerpodsResult* result) {
  const std::string& dir = static_cast<FakeCloud*>(p)->dir;
  const std::string sandbox = req->sandbox_id ? req->sandbox_id : "";
  auto faults = readFaults(dir);
  long long until = knob(faults, "fail_creates_until");
  if (until > 0 && std::time(nullptr) < until) {
    static std::atomic<unsigned> n{0};
    bool exhausted = (n++ % 2) == 1;
    appendLog(dir, "create-refused", "", sandbox);
    host->set_error(result, exhausted ? kResourceExhausted : kUnavailable,
                    exhausted ? "fakecloud: quota exceeded (throttled), try again later"
                              : "fakecloud: service unavailable (throttled), try again later");
    return 1;
  }
  touch(dir + "/creating-" + sandbox);
  sleepMs(knob(faults, "create_delay_ms_before"));
  const std::string id = newId();
  {
    DirLock lock(dir);
    if (!writeInstance(dir, id, req->instance_name ? req->instance_name : "", sandbox)) {
      host->set_error(result, kInternal, ("fakecloud: cannot write instance " + id).c_str());
      return 1;
    }
    appendLog(dir, "create", id, sandbox);
    if (takeCounted(dir, "create_twice", knob(faults, "create_twice"))) {
      const std::string extra = newId();
      if (writeInstance(dir, extra, req->instance_name ? req->instance_name : "", sandbox))
        appendLog(dir, "create", extra, sandbox);
    }
  }
  touch(dir + "/created-" + sandbox);
  sleepMs(knob(faults, "create_delay_ms_after"));
  bool failApplied;
  {
    DirLock lock(dir);
    failApplied =
        takeCounted(dir, "create_fail_after_exists", knob(faults, "create_fail_after_exists"));
  }
  if (failApplied) {
    host->set_error(result, kUnavailable,
                    "fakecloud: connection reset while waiting for the create's answer");
    return 1;
  }
  host->add_instance(result, id.c_str(), req->instance_name ? req->instance_name : "");
  host->add_ip(result, "127.0.0.1");
  return 0;
}

int32_t fcDeleteInstance(void* p, const char* idArg, PeerpodsResult* result) {
  const std::string& dir = static_cast<FakeCloud*>(p)->dir;
  const std::string id = idArg ? idArg : "";
  if (id.empty() || id.find('/') != std::string::npos || id[0] == '.') {
    host->set_error(result, kInvalidArgument, "fakecloud: bad instance id");
    return 1;
  }
  auto faults = readFaults(dir);
  if (long long ms = knob(faults, "delete_delay_ms"); ms > 0) {
    touch(dir + "/deleting-" + id);
    sleepMs(ms);
  }
  DirLock lock(dir);
  if (takeCounted(dir, "delete_fail_count", knob(faults, "delete_fail_count"))) {
    appendLog(dir, "delete-refused", id, "");
    host->set_error(result, kUnavailable, "fakecloud: delete failed, service unavailable");
    return 1;
  }
  const std::string path = dir + "/instances/" + id;
  std::string sandbox;
  {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    std::getline(in, line);
    std::getline(in, sandbox);
  }
  if (::unlink(path.c_str()) == 0) {
    appendLog(dir, "delete", id, sandbox);
  } else {
    appendLog(dir, "delete-absent", id, "");  // already gone: success, as the ABI asks
  }
  return 0;
}

int32_t fcListInstances(void* p, const char* tagArg, PeerpodsResult* result) {
  const std::string& dir = static_cast<FakeCloud*>(p)->dir;
  const std::string tag = tagArg ? tagArg : "";
  auto faults = readFaults(dir);
  if (knob(faults, "list_fail") != 0) {
    appendLog(dir, "list-refused", "", tag);
    host->set_error(result, kUnavailable, "fakecloud: list failed, service unavailable");
    return 1;
  }
  appendLog(dir, "list", "", tag);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir + "/instances", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::ifstream in(e.path());
    std::string id, instName, sandbox;
    std::getline(in, id);
    std::getline(in, instName);
    std::getline(in, sandbox);
    // An empty tag lists every pod VM (peerpod-ctrl's orphan sweep), as the docker provider.
    if (tag.empty() || sandbox == tag) {
      host->add_instance(result, id.c_str(), instName.c_str());
      host->add_ip(result, "127.0.0.1");
    }
  }
  return 0;
}

const PeerpodsProviderOps kOps = {
    PEERPODS_PLUGIN_ABI_VERSION,
    "fakecloud",
    kFlags,
    sizeof kFlags / sizeof kFlags[0],
    fcCreate,
    fcDestroy,
    fcCreateInstance,
    fcDeleteInstance,
    nullptr, /* teardown */
    nullptr, /* verify_config */
    fcListInstances,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const PeerpodsProviderOps* peerpods_provider_init(
    const PeerpodsHostApi* h) {
  host = h;
  return &kOps;
}
