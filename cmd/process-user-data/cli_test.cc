// The built process-user-data binary: command line (cobra's forms), exit codes, messages, and a
// provision-files run on a temporary root through the PEERPODS_USERDATA_* hooks.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cloudinit/cloud_config.h"

#ifndef PP_PROCESS_USER_DATA
#error PP_PROCESS_USER_DATA must name the binary
#endif

namespace {

namespace fs = std::filesystem;

struct Run {
  int exitCode = -1;
  std::string out;  // stdout and stderr
};

Run run(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + " " + PP_PROCESS_USER_DATA + " " + args + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) r.out += buf;
  int status = ::pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "pud-cli-XXXXXX").string();
    path_ = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ProcessUserDataCli, VersionAndHelp) {
  for (const char* a : {"--version", "-v", "-version", "provision-files -v"}) {
    auto r = run(a);
    EXPECT_EQ(r.exitCode, 0) << a;
    EXPECT_EQ(r.out.rfind("process-user-data version ", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("\n  commit: "), std::string::npos) << r.out;
  }
  for (const char* a : {"", "help", "-h", "--help", "-help"}) {
    auto r = run(a);
    EXPECT_EQ(r.exitCode, 0) << a;
    EXPECT_NE(r.out.find("provision-files Provision required files based on user data"),
              std::string::npos)
        << r.out;
  }
  for (const char* a : {"help provision-files", "provision-files --help", "provision-files -h"}) {
    auto r = run(a);
    EXPECT_EQ(r.exitCode, 0) << a;
    EXPECT_NE(r.out.find("--user-data-fetch-timeout int"), std::string::npos) << r.out;
  }
}

TEST(ProcessUserDataCli, UsageErrorsExit1) {
  struct Case {
    const char* args;
    const char* message;
  };
  for (const Case& c : {Case{"provision", "unknown command \"provision\""},
                        Case{"--bogus", "unknown flag: --bogus"},
                        Case{"provision-files -t", "flag needs an argument: -t"},
                        Case{"provision-files -t soon", "invalid argument \"soon\""},
                        Case{"provision-files -t 0", "at least 1 second"},
                        Case{"provision-files extra", "unexpected argument \"extra\""}}) {
    auto r = run(c.args);
    EXPECT_EQ(r.exitCode, 1) << c.args;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << ": " << r.out;
  }
}

TEST(ProcessUserDataCli, ProvisionFilesOnATemporaryRoot) {
  TempDir root;
  write(root.path() / "media/cidata/user-data",
        pp::cloudinit::renderCloudConfig(
            {{"/run/peerpod/apf.json", "{\"pod-name\":\"cli\"}"}, {"/etc/motd", "x"}}));
  const std::string env =
      "PEERPODS_USERDATA_ROOT='" + root.path().string() + "' PEERPODS_USERDATA_HYPERVISOR=";
  for (const char* t :
       {"-t 5", "-t=5", "-t5", "--user-data-fetch-timeout 5", "--user-data-fetch-timeout=5"}) {
    auto r = run(std::string("provision-files ") + t, env);
    EXPECT_EQ(r.exitCode, 0) << t << ": " << r.out;
  }
  EXPECT_EQ(read(root.path() / "run/peerpod/apf.json"), "{\"pod-name\":\"cli\"}");
  EXPECT_FALSE(fs::exists(root.path() / "etc/motd"));
  auto r = run("provision-files -t 5", env);
  EXPECT_NE(r.out.find("refusing write_files path \"/etc/motd\""), std::string::npos) << r.out;
}

TEST(ProcessUserDataCli, FailureExits1WithAClearMessage) {
  TempDir root;
  write(root.path() / "media/cidata/user-data", "#cloud-config\nruncmd: [reboot]\n");
  auto r = run("provision-files -t 5",
               "PEERPODS_USERDATA_ROOT='" + root.path().string() +
                   "' PEERPODS_USERDATA_HYPERVISOR= PEERPODS_USERDATA_RETRY_DELAY=10ms "
                   "PEERPODS_USERDATA_ATTEMPTS=2");
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("Error: no valid user data from file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unexpected key \"runcmd\""), std::string::npos) << r.out;
  auto bad = run("provision-files", "PEERPODS_USERDATA_ATTEMPTS=many");
  EXPECT_EQ(bad.exitCode, 1);
  EXPECT_NE(bad.out.find("PEERPODS_USERDATA_ATTEMPTS=many: not a positive integer"),
            std::string::npos)
      << bad.out;
}

}  // namespace
