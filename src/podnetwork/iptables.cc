#include "podnetwork/iptables.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <sstream>
#include <vector>

#include "base/log.h"
#include "podnetwork/command.h"

namespace pp::podnetwork {
namespace {

struct ChainSpec {
  const char* base;         // built-in chain of the raw table that jumps to ours
  const char* chain;        // upstream's chain name
  const char* addressFlag;  // match the VM/worker as destination (OUTPUT) or source (PREROUTING)
};

constexpr ChainSpec kChains[] = {
    {"OUTPUT", "peerpod-OUTPUT", "-d"},
    {"PREROUTING", "peerpod-PREROUTING", "-s"},
};

// Serialises our list-then-restore sequences; two pods set up at once must not both decide to
// create the same chain.
std::mutex& iptablesMutex() {
  static std::mutex m;
  return m;
}

std::string commentFor(uint32_t vni) {
  return fmt::format("peerpod [vni:{}]", vni);
}

// Splits an `iptables -S` line into words, honouring the double quotes around comments.
std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::string current;
  bool quoted = false, inWord = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\' && i + 1 < line.size()) {
        current += line[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        current += c;
      }
    } else if (c == '"') {
      quoted = inWord = true;
    } else if (c == ' ' || c == '\t') {
      if (inWord) out.push_back(std::move(current));
      current.clear();
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (inWord) out.push_back(std::move(current));
  return out;
}

bool hasPair(const std::vector<std::string>& w, std::string_view flag, std::string_view value) {
  for (size_t i = 0; i + 1 < w.size(); ++i) {
    if (w[i] == flag && w[i + 1] == value) return true;
  }
  return false;
}

// What `iptables -t raw -S` says about our chains.
struct RawTable {
  std::vector<std::string> chains;                         // -N lines
  std::vector<std::pair<std::string, std::string>> jumps;  // (base, target) of "-A base -j x"
  struct Rule {
    std::string chain;
    std::string line;
    std::vector<std::string> words;
  };
  std::vector<Rule> rules;  // rules inside our chains

  bool hasChain(std::string_view c) const {
    return std::find(chains.begin(), chains.end(), c) != chains.end();
  }
  bool hasJump(std::string_view base, std::string_view target) const {
    return std::find(jumps.begin(), jumps.end(),
                     std::pair<std::string, std::string>(base, target)) != jumps.end();
  }
};

RawTable parse(const std::string& listing) {
  RawTable table;
  std::istringstream in(listing);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> w = words(line);
    if (w.size() == 2 && w[0] == "-N") {
      table.chains.push_back(w[1]);
    } else if (w.size() == 4 && w[0] == "-A" && w[2] == "-j") {
      table.jumps.emplace_back(w[1], w[3]);
    }
    if (w.size() >= 2 && w[0] == "-A") {
      for (const ChainSpec& spec : kChains) {
        if (w[1] == spec.chain) table.rules.push_back({w[1], line, w});
      }
    }
  }
  return table;
}

}  // namespace

NotrackRules::NotrackRules(std::string iptablesPath)
    : iptables_(std::move(iptablesPath)), restore_(iptables_ + "-restore") {}

Result<std::string> NotrackRules::listRawTable() const {
  auto result = runCommand({iptables_, "-w", "-t", "raw", "-S"}, "");
  if (!result) return fail(result.error());
  if (result->exitCode != 0) {
    return fail(Code::kUnavailable, fmt::format("{} -t raw -S exited with {}: {}", iptables_,
                                                result->exitCode, result->err));
  }
  return std::move(result->out);
}

Status NotrackRules::restore(const std::string& lines) const {
  std::string input = "*raw\n" + lines + "COMMIT\n";
  auto result = runCommand({restore_, "-w", "--noflush"}, input);
  if (!result) return fail(result.error());
  if (result->exitCode != 0) {
    return fail(Code::kUnavailable, fmt::format("{} --noflush exited with {} on\n{}{}", restore_,
                                                result->exitCode, input, result->err));
  }
  return {};
}

Status NotrackRules::add(Ipv4Address remote, int port, uint32_t vni) const {
  std::lock_guard lock(iptablesMutex());
  auto listing = listRawTable();
  if (!listing) return fail(listing.error().wrap("adding NOTRACK rules"));
  RawTable table = parse(*listing);
  std::string comment = commentFor(vni);
  std::string address = remote.toString();
  std::string lines;
  for (const ChainSpec& spec : kChains) {
    if (!table.hasChain(spec.chain)) lines += fmt::format("-N {}\n", spec.chain);
    if (!table.hasJump(spec.base, spec.chain)) {
      lines += fmt::format("-A {} -j {}\n", spec.base, spec.chain);
    }
    bool present = std::any_of(table.rules.begin(), table.rules.end(), [&](const auto& rule) {
      return rule.chain == spec.chain && hasPair(rule.words, "--comment", comment) &&
             hasPair(rule.words, spec.addressFlag, address + "/32") &&
             hasPair(rule.words, "--dport", std::to_string(port));
    });
    if (!present) {
      lines += fmt::format(
          "-A {} -m comment --comment \"{}\" {} {} -p udp -m udp --dport {} -j NOTRACK\n",
          spec.chain, comment, spec.addressFlag, address, port);
    }
  }
  if (lines.empty()) return {};
  if (auto s = restore(lines); !s) return fail(s.error().wrap("adding NOTRACK rules"));
  return {};
}

Status NotrackRules::remove(uint32_t vni) const {
  std::lock_guard lock(iptablesMutex());
  auto listing = listRawTable();
  if (!listing) return fail(listing.error().wrap("removing NOTRACK rules"));
  RawTable table = parse(*listing);
  std::string comment = commentFor(vni);
  std::string lines;
  for (const ChainSpec& spec : kChains) {
    size_t kept = 0;
    for (const auto& rule : table.rules) {
      if (rule.chain != spec.chain) continue;
      if (hasPair(rule.words, "--comment", comment)) {
        // "-A chain <match>" as listed becomes "-D chain <match>": same text, same rule.
        lines += "-D" + rule.line.substr(2) + "\n";
      } else {
        ++kept;
      }
    }
    if (kept == 0 && table.hasChain(spec.chain)) {
      if (table.hasJump(spec.base, spec.chain)) {
        lines += fmt::format("-D {} -j {}\n", spec.base, spec.chain);
      }
      lines += fmt::format("-X {}\n", spec.chain);
    }
  }
  if (lines.empty()) return {};
  if (auto s = restore(lines); !s) return fail(s.error().wrap("removing NOTRACK rules"));
  return {};
}

}  // namespace pp::podnetwork
