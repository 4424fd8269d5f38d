// process-user-data: the pod VM's boot step that turns the adaptor's user data into the files
// under /run/peerpod (src/userdata/userdata.h). Command line as upstream's (cobra):
//   process-user-data provision-files [-t|--user-data-fetch-timeout SECONDS]   (default 180)
//   process-user-data -v|--version|-version
//   process-user-data [help [provision-files]] | -h | --help | -help
// (-version and -help are ours: the one spelling every peerpods binary accepts.)
// plus ours, before or after the command: --log-format text|json (env LOG_FORMAT).
// Exit 0 on success, 1 on any error (with a message on stderr), so that systemd retries.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "build_info.h"
#include "userdata/userdata.h"

namespace {

constexpr char kRootHelp[] =
    "A program to process user data and update agent config file\n"
    "\n"
    "Usage:\n"
    "  process-user-data [flags]\n"
    "  process-user-data [command]\n"
    "\n"
    "Available Commands:\n"
    "  help            Help about any command\n"
    "  provision-files Provision required files based on user data\n"
    "\n"
    "Flags:\n"
    "  -h, --help                help for process-user-data\n"
    "      --log-format string   Log layout: text or json (env LOG_FORMAT) (default \"text\")\n"
    "  -v, --version             Print the version\n"
    "\n"
    "Use \"process-user-data [command] --help\" for more information about a command.\n";

constexpr char kProvisionHelp[] =
    "Provision required files based on user data: fetch it (/media/cidata/user-data, a cidata\n"
    "device, the Azure, AWS, GCP or Alibaba Cloud metadata service, or VMware guestinfo), write\n"
    "the whitelisted files under /run/peerpod, unpack initdata and write\n"
    "/run/peerpod/initdata.digest.\n"
    "\n"
    "Usage:\n"
    "  process-user-data provision-files [flags]\n"
    "\n"
    "Flags:\n"
    "  -h, --help                          help for provision-files\n"
    "  -t, --user-data-fetch-timeout int   Timeout (in secs) for fetching user data (default 180)\n"
    "\n"
    "Global Flags:\n"
    "      --log-format string   Log layout: text or json (env LOG_FORMAT) (default \"text\")\n"
    "  -v, --version             Print the version\n"
    "\n"
    "Test hooks (environment): PEERPODS_USERDATA_ROOT, "
    "PEERPODS_USERDATA_{AZURE,AWS,GCP,ALIBABA}_URL,\n"
    "PEERPODS_USERDATA_HYPERVISOR, PEERPODS_USERDATA_RETRY_DELAY, PEERPODS_USERDATA_ATTEMPTS.\n";

int usageError(const std::string& message, const char* helpHint) {
  std::fprintf(stderr, "Error: %s\nRun '%s --help' for usage.\n", message.c_str(), helpHint);
  return 1;
}

bool parseSeconds(std::string_view text, int& out) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pp;
  // The logger reads PEERPODS_LOG_LEVEL and LOG_FORMAT leniently; a value it cannot take is an
  // error here.
  if (std::string bad = log::environmentError(); !bad.empty()) {
    std::fprintf(stderr, "Error: %s\n", bad.c_str());
    return 1;
  }
  std::vector<std::string_view> args(argv + 1, argv + argc);
  std::string_view command;
  bool help = false;
  bool version = false;
  int timeout = 180;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "-v" || a == "--version" || a == "-version") {
      version = true;
    } else if (a == "-h" || a == "--help" || a == "-help") {
      help = true;
    } else if (command == "provision-files" &&
               (a == "-t" || a == "--user-data-fetch-timeout" || a.starts_with("-t") ||
                a.starts_with("--user-data-fetch-timeout="))) {
      // pflag forms: -t 30, -t=30, -t30, --user-data-fetch-timeout 30, --user-data-fetch-timeout=30
      std::string_view value;
      if (a == "-t" || a == "--user-data-fetch-timeout") {
        if (i + 1 >= args.size())
          return usageError("flag needs an argument: " + std::string(a),
                            "process-user-data provision-files");
        value = args[++i];
      } else if (a.starts_with("--")) {
        value = a.substr(a.find('=') + 1);
      } else {
        value = a.substr(2);
        if (value.starts_with("=")) value.remove_prefix(1);
      }
      if (!parseSeconds(value, timeout)) {
        return usageError("invalid argument \"" + std::string(value) +
                              "\" for \"-t, --user-data-fetch-timeout\" flag: not an integer",
                          "process-user-data provision-files");
      }
      if (timeout <= 0) {
        return usageError("-t, --user-data-fetch-timeout must be at least 1 second",
                          "process-user-data provision-files");
      }
    } else if (a == "--log-format" || a.starts_with("--log-format=")) {
      // Persistent, as cobra's global flags: valid before or after the command.
      std::string_view value;
      if (a == "--log-format") {
        if (i + 1 >= args.size())
          return usageError("flag needs an argument: --log-format", "process-user-data");
        value = args[++i];
      } else {
        value = a.substr(a.find('=') + 1);
      }
      log::Format format;
      if (!log::parseFormat(value, &format)) {
        return usageError("invalid argument \"" + std::string(value) +
                              "\" for \"--log-format\" flag: must be text or json",
                          "process-user-data");
      }
      log::setFormat(format);
    } else if (a.starts_with("-")) {
      return usageError(
          "unknown flag: " + std::string(a),
          command.empty() ? "process-user-data" : "process-user-data provision-files");
    } else if (command.empty() && (a == "provision-files" || a == "help")) {
      command = a;
    } else if (command == "help" && a == "provision-files") {
      command = "help provision-files";
    } else {
      return usageError(command.empty()
                            ? "unknown command \"" + std::string(a) + "\" for \"process-user-data\""
                            : "unexpected argument \"" + std::string(a) + "\"",
                        "process-user-data");
    }
  }
  if (version) {
    std::fputs(build::versionText("process-user-data").c_str(), stdout);
    return 0;
  }
  if (command == "help provision-files" || (command == "provision-files" && help)) {
    std::fputs(kProvisionHelp, stdout);
    return 0;
  }
  if (command.empty() || command == "help" || help) {
    std::fputs(kRootHelp, stdout);
    return 0;
  }

  userdata::Config config;
  config.fetchTimeout = std::chrono::seconds(timeout);
  if (auto st = config.applyEnvironment(flags::processEnv()); !st) {
    std::fprintf(stderr, "Error: %s\n", st.error().message.c_str());
    return 1;
  }
  log::info("userdata", "process-user-data {} provision-files (timeout {} s)", build::kVersion,
            timeout);
  if (auto st = userdata::provisionFiles(config); !st) {
    log::error("userdata", "provision-files failed: {}", st.error().message);
    std::fprintf(stderr, "Error: %s\n", st.error().message.c_str());
    return 1;
  }
  return 0;
}
