// The pod VM boots: podvm/build's kernel + initramfs start under QEMU (TCG) with a NoCloud
// user-data ISO made the way the adaptor makes it (apf.json with a server certificate issued
// by our CA), and the agent-protocol-forwarder inside answers grpc.Health/Check over mutual
// TLS from the host, through QEMU's user-mode network (hostfwd on 127.0.0.1), within 30 s.
// Three machines: microvm (direct kernel boot) with the ISO on virtio-blk; pc (direct kernel
// boot) with the ISO on an IDE CD-ROM as the libvirt provider attaches it (hda); pc booting the
// qcow2 disk image (BIOS, syslinux) with the same CD-ROM.
// The production disk image (podvm/build --disk: Debian 12, systemd, dm-verity root) boots the
// same way on pc with the cidata CD-ROM: UEFI (OVMF, the UKI) and BIOS (syslinux), within
// 180 s under TCG; and a root whose data was changed is refused (veritysetup verify, and a
// boot that stops in the initramfs).
//
// PEERPODS_PODVM_DIR=<dir with vmlinuz and initrd.img> skips the image build;
// PEERPODS_PODVM_DISK_DIR=<dir with podvm.raw and roothash> skips the disk image build;
// PEERPODS_VM_CONSOLE=1 prints the whole VM console, also when the test passes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adaptor/cert_issuer.h"
#include "apf/apf_config.h"
#include "cloudinit/cloud_config.h"
#include "cloudinit/nocloud_iso.h"
#include "ttrpc/client.h"
#include "ttrpc/io_thread.h"

#ifndef PP_SOURCE_DIR
#error PP_SOURCE_DIR must name the source tree
#endif
#ifndef PP_BINARY_DIR
#error PP_BINARY_DIR must name the build tree
#endif

namespace pp {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr char kInstance[] = "podvm-e2e";
constexpr auto kBootBudget = 30s;
// systemd under TCG: ~8 s to the initramfs, ~40 s to the forwarder here; the margin is for a
// busy 2-core CI machine.
constexpr auto kDiskBootBudget = 180s;
constexpr char kOvmf[] = "/usr/share/OVMF/OVMF_CODE.fd";

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << "writing " << p;
}

bool onPath(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// A TCP port that was free a moment ago on 127.0.0.1.
uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// Runs podvm/build once per process (the build itself skips unchanged inputs and serialises
// concurrent runs on its output directory). Returns the directory with vmlinuz and initrd.img.
const std::string& podvmImages(std::string& error) {
  static std::string dir;
  static std::string buildError;
  static bool done = false;
  if (!done) {
    done = true;
    if (const char* pre = std::getenv("PEERPODS_PODVM_DIR"); pre && *pre) {
      dir = pre;
    } else {
      const std::string out = std::string(PP_BINARY_DIR) + "/podvm-e2e";
      const std::string log =
          std::string(PP_BINARY_DIR) + "/podvm-e2e-" + std::to_string(::getpid()) + ".log";
      const std::string cmd = std::string(PP_SOURCE_DIR) +
                              "/podvm/build --kernel-only --bin-dir '" + PP_BINARY_DIR +
                              "' --out '" + out + "' >'" + log + "' 2>&1";
      const auto start = Clock::now();
      const int rc = std::system(cmd.c_str());
      std::printf("vm_boot: podvm/build took %.2f s\n",
                  std::chrono::duration<double>(Clock::now() - start).count());
      if (rc != 0) {
        buildError = "podvm/build failed (rc " + std::to_string(rc) + "):\n" + readFile(log);
      } else {
        dir = out;
      }
      std::remove(log.c_str());
    }
  }
  error = buildError;
  return dir;
}

// Runs podvm/build --disk once per process into <build>/podvm-disk-e2e (raw only: what the test
// boots; the build prints size, digests and build time). Returns the directory with podvm.raw.
const std::string& podvmDiskImage(std::string& error) {
  static std::string dir;
  static std::string buildError;
  static bool done = false;
  if (!done) {
    done = true;
    if (const char* pre = std::getenv("PEERPODS_PODVM_DISK_DIR"); pre && *pre) {
      dir = pre;
    } else {
      const std::string out = std::string(PP_BINARY_DIR) + "/podvm-disk-e2e";
      const std::string log = out + ".log";
      const std::string cmd = std::string(PP_SOURCE_DIR) +
                              "/podvm/build --disk --formats raw --bin-dir '" + PP_BINARY_DIR +
                              "' --out '" + out + "' >'" + log + "' 2>&1";
      const auto start = Clock::now();
      const int rc = std::system(cmd.c_str());
      std::printf("vm_boot: podvm/build --disk took %.2f s (log %s)\n",
                  std::chrono::duration<double>(Clock::now() - start).count(), log.c_str());
      const std::string text = readFile(log);
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line);) {
        // The build's own timeline, sizes and root hash (not the package list).
        if (line.starts_with("[podvm-disk")) std::printf("  %s\n", line.c_str());
      }
      if (rc != 0) {
        buildError = "podvm/build --disk failed (rc " + std::to_string(rc) + "):\n" + text;
      } else {
        dir = out;
      }
    }
  }
  error = buildError;
  return dir;
}

// The QEMU child: killed and reaped when this goes away, whatever happened.
class Qemu {
 public:
  ~Qemu() { stop(); }
  bool start(const std::vector<std::string>& args, std::string& error) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) {
      error = "fork failed";
      return false;
    }
    if (pid_ == 0) {
      // QEMU must not outlive a test that crashes or is killed by ctest's timeout.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::execvp(argv[0], argv.data());
      std::perror("exec qemu");
      ::_exit(127);
    }
    return true;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Concurrent Health.Check attempts against the booting VM; the first answer wins.
class Probe {
 public:
  void record(Result<std::string> reply) {
    std::lock_guard lock(mu_);
    if (answered_) return;
    if (reply) {
      answered_ = true;
      answeredAt_ = Clock::now();
      reply_ = *reply;
    } else {
      lastError_ = reply.error().message;
    }
  }
  bool answered() {
    std::lock_guard lock(mu_);
    return answered_;
  }
  Clock::time_point answeredAt() {
    std::lock_guard lock(mu_);
    return answeredAt_;
  }
  std::string reply() {
    std::lock_guard lock(mu_);
    return reply_;
  }
  std::string lastError() {
    std::lock_guard lock(mu_);
    return lastError_;
  }

 private:
  std::mutex mu_;
  bool answered_ = false;
  Clock::time_point answeredAt_;
  std::string reply_;
  std::string lastError_ = "no attempt finished";
};

// One grpc.Health/Check through a fresh mutual-TLS connection; the response payload.
asio::awaitable<Result<std::string>> healthCheckOnce(asio::any_io_executor ex,
                                                     std::shared_ptr<asio::ssl::context> tls,
                                                     uint16_t port,
                                                     std::chrono::milliseconds timeout) {
  ttrpc::TcpTarget target{"127.0.0.1", port, tls, kInstance, timeout};
  auto stream = co_await ttrpc::connectTcp(ex, target);
  if (!stream) co_return fail(std::move(stream.error()));
  auto client = ttrpc::Client::create(std::move(*stream));
  ttrpc::CallOptions options;
  options.deadline = Clock::now() + timeout;
  auto reply = co_await client->call("grpc.Health", "Check", "", options);
  client->close();
  co_return reply;
}

asio::awaitable<void> probeOnce(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> tls,
                                uint16_t port, std::shared_ptr<Probe> probe) {
  auto reply = co_await healthCheckOnce(ex, tls, port, 5000ms);
  probe->record(std::move(reply));
}

enum class Boot { kMicrovm, kPcKernel, kPcDisk, kDiskUefi, kDiskBios };
struct Machine {
  std::string name;
  Boot boot;
};
void PrintTo(const Machine& m, std::ostream* os) {
  *os << m.name;
}
std::string machineName(const ::testing::TestParamInfo<Machine>& info) {
  std::string n = info.param.name;
  for (char& c : n) {
    if (c == '-') c = '_';
  }
  return n;
}

class VmBootTest : public ::testing::TestWithParam<Machine> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ppvm-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    qemu_.stop();
    if (HasFailure() || std::getenv("PEERPODS_VM_CONSOLE")) {
      std::printf("--- VM console (%s) ---\n%s--- end of console ---\n",
                  (dir_ / "console.log").c_str(), readFile(dir_ / "console.log").c_str());
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // grpc.Health/Check through a fresh mutual-TLS connection; the response payload.
  Result<std::string> healthCheck(ttrpc::IoThread& io, const adaptor::ClientBundle& bundle,
                                  uint16_t port) {
    auto tls = adaptor::makeClientContext(bundle, false);
    if (!tls) return fail(tls.error());
    return io.run([&]() -> asio::awaitable<Result<std::string>> {
      asio::any_io_executor ex = io.executor();
      std::shared_ptr<asio::ssl::context> context = *tls;
      co_return co_await healthCheckOnce(ex, context, port, 5000ms);
    });
  }

  fs::path dir_;
  Qemu qemu_;
};

TEST_P(VmBootTest, ForwarderAnswersHealthCheckOverMutualTls) {
  const Machine& m = GetParam();
  ASSERT_TRUE(onPath("qemu-system-x86_64"))
      << "qemu-system-x86_64 is missing: run scripts/install-deps";
  const bool disk = m.boot == Boot::kDiskUefi || m.boot == Boot::kDiskBios;
  if (!std::getenv(disk ? "PEERPODS_PODVM_DISK_DIR" : "PEERPODS_PODVM_DIR") &&
      !fs::exists(fs::path(PP_BINARY_DIR) / "cmd/process-user-data/process-user-data")) {
    GTEST_SKIP() << "process-user-data is not built: the image could not read its user data";
  }
  if (disk && !std::getenv("PEERPODS_PODVM_DISK_DIR") && ::geteuid() != 0) {
    GTEST_SKIP() << "podvm/build --disk needs root (mmdebstrap)";
  }
  if (m.boot == Boot::kDiskUefi) {
    ASSERT_TRUE(fs::exists(kOvmf)) << kOvmf << " is missing: run scripts/install-deps (ovmf)";
  }
  std::string buildError;
  const std::string images = disk ? podvmDiskImage(buildError) : podvmImages(buildError);
  ASSERT_TRUE(buildError.empty()) << buildError;

  // TLS material and apf.json as the adaptor makes them for a pod VM (no pod network here).
  auto issuer = adaptor::OpensslCertIssuer::loadOrCreate((dir_ / "tls").string());
  ASSERT_TRUE(issuer) << issuer.error().message;
  auto server = (*issuer)->issueServer(kInstance);
  ASSERT_TRUE(server) << server.error().message;
  apf::ApfConfig apf;
  apf.podNamespace = "default";  // Kubernetes namespace; the netns is the unit's -pod-namespace
  apf.podName = "vm-boot";
  apf.tlsServerKey = server->keyPem;
  apf.tlsServerCert = server->certPem;
  apf.tlsClientCa = (*issuer)->clientCaPem();
  const std::string userData =
      cloudinit::renderCloudConfig({{apf::kApfJsonPath, apf.toJsonIndented()}});
  const std::string metaData =
      std::string("instance-id: ") + kInstance + "\nlocal-hostname: " + kInstance + "\n";
  auto iso = cloudinit::buildNoCloudIso(userData, metaData);
  ASSERT_TRUE(iso) << iso.error().message;
  const fs::path seed = dir_ / "seed.iso";
  writeFile(seed, *iso);

  const uint16_t port = freePort();
  ASSERT_NE(port, 0);
  const std::string fwd = "user,id=n0,hostfwd=tcp:127.0.0.1:" + std::to_string(port) + "-:15150";
  std::vector<std::string> args = {"qemu-system-x86_64",
                                   "-accel",
                                   "tcg",
                                   "-m",
                                   "512",
                                   "-smp",
                                   "1",
                                   "-netdev",
                                   fwd,
                                   "-serial",
                                   "file:" + (dir_ / "console.log").string(),
                                   "-display",
                                   "none",
                                   "-monitor",
                                   "none",
                                   "-no-reboot",
                                   "-nodefaults"};
  // virtio-rng: without an entropy source the guest kernel's random pool is ready only ~4 s
  // into the boot under TCG, and the forwarder's TLS set-up waits for it.
  switch (m.boot) {
    case Boot::kMicrovm:
      // tsc_early_khz: without it the microvm kernel sometimes hangs calibrating the TSC (TCG).
      args.insert(args.begin() + 1, {"-M", "microvm,x-option-roms=off,rtc=on"});
      args.insert(args.end(),
                  {"-kernel", images + "/vmlinuz", "-initrd", images + "/initrd.img", "-append",
                   "console=ttyS0 panic=-1 tsc_early_khz=2600000", "-device",
                   "virtio-net-device,netdev=n0", "-device", "virtio-rng-device", "-drive",
                   "id=cidata,file=" + seed.string() + ",if=none,format=raw,readonly=on", "-device",
                   "virtio-blk-device,drive=cidata"});
      break;
    case Boot::kPcKernel:
      args.insert(args.end(),
                  {"-kernel", images + "/vmlinuz", "-initrd", images + "/initrd.img", "-append",
                   "console=ttyS0 panic=-1", "-device", "virtio-net-pci,netdev=n0", "-device",
                   "virtio-rng-pci", "-drive",
                   "file=" + seed.string() + ",if=ide,index=0,media=cdrom,format=raw,readonly=on"});
      break;
    case Boot::kPcDisk:
      // BIOS -> syslinux on the disk image -> the same kernel and initramfs. snapshot=on keeps
      // the image unchanged.
      if (!fs::exists(images + "/podvm.qcow2")) {
        GTEST_SKIP() << "no podvm.qcow2 (podvm/build needs qemu-utils dosfstools mtools syslinux)";
      }
      args.insert(args.end(),
                  {"-drive", "file=" + images + "/podvm.qcow2,if=virtio,format=qcow2,snapshot=on",
                   "-device", "virtio-net-pci,netdev=n0", "-device", "virtio-rng-pci", "-drive",
                   "file=" + seed.string() + ",if=ide,index=0,media=cdrom,format=raw,readonly=on"});
      break;
    case Boot::kDiskUefi:
    case Boot::kDiskBios:
      // The production disk image, as a cloud or libvirt boots it: firmware -> UKI (UEFI) or
      // syslinux (BIOS) -> initramfs (dm-verity) -> systemd. snapshot=on keeps it unchanged.
      if (m.boot == Boot::kDiskUefi) args.insert(args.end(), {"-bios", kOvmf});
      args.insert(
          args.end(),
          {"-m", "1024", "-drive", "file=" + images + "/podvm.raw,if=virtio,format=raw,snapshot=on",
           "-device", "virtio-net-pci,netdev=n0", "-device", "virtio-rng-pci", "-drive",
           "file=" + seed.string() + ",if=ide,index=0,media=cdrom,format=raw,readonly=on"});
      break;
  }
  const auto budget = disk ? kDiskBootBudget : kBootBudget;

  ttrpc::IoThread io;
  const adaptor::ClientBundle bundle = (*issuer)->clientBundle();
  std::string error;
  const auto start = Clock::now();
  ASSERT_TRUE(qemu_.start(args, error)) << error;
  // A new attempt every 250 ms, each allowed 5 s: an attempt made before the guest listens can
  // hang in QEMU's user-mode network until its timeout, and must not delay the next one.
  auto probe = std::make_shared<Probe>();
  auto tls = adaptor::makeClientContext(bundle, false);
  ASSERT_TRUE(tls) << tls.error().message;
  while (Clock::now() - start < budget && !probe->answered()) {
    ASSERT_TRUE(qemu_.running()) << "QEMU exited";
    asio::any_io_executor ex = io.executor();
    std::shared_ptr<asio::ssl::context> context = *tls;
    asio::co_spawn(ex, probeOnce(ex, context, port, probe), asio::detached);
    std::this_thread::sleep_for(250ms);
  }
  const bool answered = probe->answered();
  ASSERT_TRUE(answered) << "no Health.Check answer within " << budget.count()
                        << " s; last error: " << probe->lastError();
  EXPECT_EQ(probe->reply(), std::string("\x08\x01", 2)) << "Health.Check reply is not SERVING";
  const double seconds = std::chrono::duration<double>(probe->answeredAt() - start).count();
  std::printf(
      "vm_boot: %s: forwarder answered Health.Check over mutual TLS %.2f s after QEMU started\n",
      m.name.c_str(), seconds);
  RecordProperty("boot_to_forwarder_ms", static_cast<int>(seconds * 1000));

  // Mutual TLS is enforced: a client certificate from another CA is refused.
  auto other = adaptor::OpensslCertIssuer::loadOrCreate((dir_ / "other-tls").string());
  ASSERT_TRUE(other) << other.error().message;
  adaptor::ClientBundle stranger = (*other)->clientBundle();
  stranger.caCertPem = bundle.caCertPem;  // still trusts the VM's certificate
  EXPECT_FALSE(healthCheck(io, stranger, port))
      << "the forwarder accepted a client certificate of another CA";

  // The init's timeline (uptime in brackets) shows where the boot time goes.
  const std::string console = readFile(dir_ / "console.log");
  std::istringstream lines(console);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("podvm-init[") || line.starts_with("podvm-initrd[")) {
      std::printf("  %s\n", line.c_str());
    }
  }

  // The user data went through process-user-data, not around it.
  if (disk) {
    // systemd's status lines; the root came through dm-verity.
    EXPECT_NE(console.find("podvm-initrd"), std::string::npos) << "not the disk image's initramfs";
    EXPECT_NE(console.find("root verified (roothash "), std::string::npos)
        << "the root was not opened through dm-verity";
    // process-user-data's own lines (journal+console): it found the cidata ISO and read the
    // user data from it (the disk image has no mount unit for it), and wrote apf.json.
    EXPECT_NE(console.find("user data from cidata device"), std::string::npos)
        << "process-user-data did not read the cidata ISO";
    EXPECT_NE(console.find("wrote /run/peerpod/apf.json"), std::string::npos)
        << "process-user-data did not write apf.json";
  } else {
    EXPECT_NE(console.find("/media/cidata"), std::string::npos) << "the cidata ISO was not mounted";
    EXPECT_NE(console.find("process-user-data: wrote"), std::string::npos)
        << "process-user-data did not run";
  }
}

INSTANTIATE_TEST_SUITE_P(Machines, VmBootTest,
                         ::testing::Values(Machine{"microvm-virtio-blk", Boot::kMicrovm},
                                           Machine{"pc-ide-cdrom", Boot::kPcKernel},
                                           Machine{"pc-qcow2-ide-cdrom", Boot::kPcDisk}),
                         machineName);

// The output of a command (stdout), and its exit status.
int runCapture(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return -1;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  const int status = ::pclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Start and size (bytes) of the GPT partition named NAME in a disk image, from sfdisk -d.
bool partition(const std::string& image, const std::string& name, uint64_t& start, uint64_t& size) {
  std::string dump;
  if (runCapture("sfdisk -d '" + image + "' 2>/dev/null", dump) != 0) return false;
  std::istringstream lines(dump);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("name=\"" + name + "\"") == std::string::npos) continue;
    unsigned long long st = 0, sz = 0;
    const auto a = line.find("start=");
    const auto b = line.find("size=");
    if (a == std::string::npos || b == std::string::npos) return false;
    st = std::stoull(line.substr(a + 6));
    sz = std::stoull(line.substr(b + 5));
    start = st * 512;
    size = sz * 512;
    return true;
  }
  return false;
}

// Copies LEN bytes at OFFSET of FROM into a new file TO.
bool extract(const std::string& from, uint64_t offset, uint64_t len, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<char> buf(1 << 20);
  while (len > 0 && in) {
    const auto n = static_cast<std::streamsize>(std::min<uint64_t>(len, buf.size()));
    in.read(buf.data(), n);
    out.write(buf.data(), in.gcount());
    len -= static_cast<uint64_t>(in.gcount());
  }
  return len == 0 && out.good();
}

// Inverts the byte at OFFSET of FILE in place.
bool flipByte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  if (!f.read(&c, 1)) return false;
  c = static_cast<char>(~c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  return f.good();
}

// dm-verity refuses a root that was changed after the build: veritysetup verify fails on one
// flipped byte in the middle of the root partition (and passes without it), and a disk whose
// root's first block was changed stops in the initramfs instead of starting systemd.
TEST(DiskImageVerity, ModifiedRootIsRefused) {
  ASSERT_TRUE(onPath("qemu-system-x86_64"))
      << "qemu-system-x86_64 is missing: run scripts/install-deps";
  ASSERT_TRUE(onPath("veritysetup")) << "veritysetup is missing: run scripts/install-deps";
  if (!std::getenv("PEERPODS_PODVM_DISK_DIR") &&
      !fs::exists(fs::path(PP_BINARY_DIR) / "cmd/process-user-data/process-user-data")) {
    GTEST_SKIP() << "process-user-data is not built";
  }
  if (!std::getenv("PEERPODS_PODVM_DISK_DIR") && ::geteuid() != 0) {
    GTEST_SKIP() << "podvm/build --disk needs root (mmdebstrap)";
  }
  std::string buildError;
  const std::string images = podvmDiskImage(buildError);
  ASSERT_TRUE(buildError.empty()) << buildError;
  const std::string raw = images + "/podvm.raw";
  std::string roothash = readFile(images + "/roothash");
  while (!roothash.empty() && std::isspace(static_cast<unsigned char>(roothash.back()))) {
    roothash.pop_back();
  }
  ASSERT_EQ(roothash.size(), 64u) << "no root hash in " << images << "/roothash";

  char tmpl[] = "/tmp/ppvm-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};

  uint64_t rootStart = 0, rootSize = 0, verityStart = 0, veritySize = 0;
  ASSERT_TRUE(partition(raw, "root-x86-64", rootStart, rootSize)) << "no root partition in " << raw;
  ASSERT_TRUE(partition(raw, "root-x86-64-verity", verityStart, veritySize))
      << "no verity partition in " << raw;
  ASSERT_TRUE(extract(raw, rootStart, rootSize, dir / "root.img"));
  ASSERT_TRUE(extract(raw, verityStart, veritySize, dir / "verity.img"));
  const std::string verify = "veritysetup verify '" + (dir / "root.img").string() + "' '" +
                             (dir / "verity.img").string() + "' " + roothash + " 2>&1";
  std::string out;
  ASSERT_EQ(runCapture(verify, out), 0) << "the built root does not verify: " << out;
  ASSERT_TRUE(flipByte(dir / "root.img", rootSize / 2));
  EXPECT_NE(runCapture(verify, out), 0) << "veritysetup verify accepted a modified root";
  std::printf("vm_boot: veritysetup verify of the modified root: %s", out.c_str());

  // The whole disk, with the root's first byte of the squashfs superblock region changed.
  const fs::path bad = dir / "tampered.raw";
  ASSERT_EQ(std::system(("cp --sparse=always '" + raw + "' '" + bad.string() + "'").c_str()), 0);
  ASSERT_TRUE(flipByte(bad, rootStart + 100));
  Qemu qemu;
  std::string error;
  const fs::path console = dir / "console.log";
  ASSERT_TRUE(qemu.start({"qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1",
                          "-drive", "file=" + bad.string() + ",if=virtio,format=raw", "-device",
                          "virtio-rng-pci", "-serial", "file:" + console.string(), "-display",
                          "none", "-monitor", "none", "-no-reboot", "-nodefaults"},
                         error))
      << error;
  const auto start = Clock::now();
  std::string text;
  while (Clock::now() - start < 90s) {
    text = readFile(console);
    if (text.find("FATAL") != std::string::npos || text.find("Started ") != std::string::npos) {
      break;
    }
    if (!qemu.running()) break;
    std::this_thread::sleep_for(500ms);
  }
  qemu.stop();
  text = readFile(console);
  EXPECT_NE(text.find("podvm-initrd"), std::string::npos) << "the initramfs did not run:\n" << text;
  EXPECT_NE(text.find("FATAL"), std::string::npos)
      << "the initramfs did not stop on the modified root:\n"
      << text;
  EXPECT_EQ(text.find("root verified"), std::string::npos) << "a modified root was mounted:\n"
                                                           << text;
  EXPECT_EQ(text.find("systemd[1]"), std::string::npos) << "systemd started from a modified root:\n"
                                                        << text;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("podvm-initrd[") != std::string::npos ||
        line.find("verity") != std::string::npos) {
      std::printf("  %s\n", line.c_str());
    }
  }
}

// The build's slots fill the image: --guest-components (a tree laid over /, its units enabled),
// --pause-bundle (unpacked to /pause_bundle), --agent-policy (default-policy.rego). The inputs
// are TEST STAND-INS made here (a unit that runs /bin/true, a bundle with a config.json); the
// root file system is read back from the built disk with unsquashfs.
TEST(DiskImageSlots, GuestComponentsPauseBundleAndPolicyAreInTheRoot) {
  ASSERT_TRUE(onPath("unsquashfs")) << "unsquashfs is missing: run scripts/install-deps";
  if (!fs::exists(fs::path(PP_BINARY_DIR) / "cmd/process-user-data/process-user-data")) {
    GTEST_SKIP() << "process-user-data is not built";
  }
  if (::geteuid() != 0) GTEST_SKIP() << "podvm/build --disk needs root (mmdebstrap)";
  char tmpl[] = "/tmp/ppvm-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};

  const fs::path gc = dir / "guest-components-stand-in";
  fs::create_directories(gc / "etc/systemd/system");
  fs::create_directories(gc / "etc/containers");
  writeFile(gc / "etc/systemd/system/test-guest-components-stand-in.service",
            "[Unit]\nDescription=TEST STAND-IN for the guest components\n[Service]\n"
            "Type=oneshot\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
  writeFile(gc / "etc/containers/policy.json", "{\"default\":[{\"type\":\"reject\"}]}\n");
  const fs::path bundle = dir / "pause-bundle-stand-in";
  fs::create_directories(bundle / "rootfs");
  writeFile(bundle / "config.json",
            "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"/pause\"]}}\n");
  writeFile(bundle / "rootfs/pause", "stand-in\n");
  ASSERT_EQ(std::system(("tar -C '" + bundle.string() + "' -cf '" + (dir / "pause.tar").string() +
                         "' config.json rootfs")
                            .c_str()),
            0);

  const std::string out = std::string(PP_BINARY_DIR) + "/podvm-disk-slots-e2e";
  const std::string log = out + ".log";
  const std::string cmd = std::string(PP_SOURCE_DIR) +
                          "/podvm/build --disk --formats raw --bin-dir '" + PP_BINARY_DIR +
                          "' --out '" + out + "' --guest-components '" + gc.string() +
                          "' --pause-bundle '" + (dir / "pause.tar").string() +
                          "' --agent-policy allow-all-except-exec-process >'" + log + "' 2>&1";
  const auto start = Clock::now();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << readFile(log);
  std::printf("vm_boot: podvm/build --disk with the slots took %.2f s\n",
              std::chrono::duration<double>(Clock::now() - start).count());

  uint64_t rootStart = 0, rootSize = 0;
  ASSERT_TRUE(partition(out + "/podvm.raw", "root-x86-64", rootStart, rootSize));
  ASSERT_TRUE(extract(out + "/podvm.raw", rootStart, rootSize, dir / "root.img"));
  auto cat = [&](const std::string& path) {
    std::string text;
    runCapture("unsquashfs -cat '" + (dir / "root.img").string() + "' '" + path + "' 2>/dev/null",
               text);
    return text;
  };
  EXPECT_NE(cat("etc/kata-opa/default-policy.rego").find("default ExecProcessRequest := false"),
            std::string::npos);
  EXPECT_NE(cat("etc/kata-opa/default-policy.rego").find("default CreateContainerRequest := true"),
            std::string::npos);
  EXPECT_NE(cat("pause_bundle/config.json").find("\"/pause\""), std::string::npos);
  EXPECT_EQ(cat("pause_bundle/rootfs/pause"), "stand-in\n");
  EXPECT_NE(cat("etc/containers/policy.json").find("reject"), std::string::npos);
  EXPECT_NE(cat("etc/systemd/system/test-guest-components-stand-in.service").find("TEST STAND-IN"),
            std::string::npos);
  std::string listing;
  ASSERT_EQ(runCapture("unsquashfs -lls '" + (dir / "root.img").string() +
                           "' etc/systemd/system/multi-user.target.wants 2>/dev/null",
                       listing),
            0);
  EXPECT_NE(listing.find("test-guest-components-stand-in.service"), std::string::npos)
      << "the guest component's unit is not enabled:\n"
      << listing;
  EXPECT_NE(
      cat("etc/systemd/system/kata-agent.service.d/50-test-agent-stand-in.conf").find("test-agent"),
      std::string::npos);
}

// The production disk image (podvm/build --disk), UEFI and BIOS. Cost on 2 cores: a cold
// image build ~1.5-2 min (mmdebstrap), ~45 s per boot, ~40 s for the dm-verity check.
INSTANTIATE_TEST_SUITE_P(DiskImage, VmBootTest,
                         ::testing::Values(Machine{"disk-uefi-ovmf", Boot::kDiskUefi},
                                           Machine{"disk-bios-syslinux", Boot::kDiskBios}),
                         machineName);

}  // namespace
}  // namespace pp
