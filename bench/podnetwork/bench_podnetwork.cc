// Pod tunnel setup + teardown time. Builds the namespace testbed (root needed), then for N runs
// per pod times WorkerNode::setup + teardown (the node side, on StartVM/StopVM's path) and
// PodNode::setup + teardown (the VM side, at forwarder start/stop), and prints the median and
// p90 against the 20 ms target. Usage: bench_podnetwork [runs] (default 50).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include "base/log.h"
#include "podnetwork/pod_node.h"
#include "podnetwork/testbed.h"
#include "podnetwork/worker_node.h"

namespace pn = pp::podnetwork;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kTargetMs = 20.0;

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void report(const char* what, const std::vector<double>& samples) {
  double median = percentile(samples, 0.5);
  double p90 = percentile(samples, 0.9);
  fmt::print("{:<34} {:>5} {:>10.2f} {:>10.2f} {:>14.2f}\n", what, samples.size(), median, p90,
             median / kTargetMs);
}

[[noreturn]] void die(const pp::Error& e) {
  fmt::print(stderr, "bench_podnetwork: {}\n", e.toString());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 50;
  if (runs < 1) runs = 1;
  if (geteuid() != 0) {
    fmt::print("bench_podnetwork: skipped (needs root for network namespaces)\n");
    return 0;
  }
  pp::log::setLevel(pp::log::Level::kWarn);  // one log line per setup would distort the timing

  auto tb = pn::testbed::Testbed::create(2, /*vms=*/true);
  if (!tb) die(tb.error());
  auto vnis = pn::VniAllocator::create();
  if (!vnis) die(vnis.error());
  pn::WorkerNodeOptions workerOptions;
  workerOptions.hostNetnsPath = pn::testbed::netnsPath((*tb)->workerNetns());
  auto worker = pn::WorkerNode::create(workerOptions, **vnis);
  if (!worker) die(worker.error());

  std::vector<double> inspectMs, workerMs, workerSetupMs, workerTeardownMs, vmMs, vmSetupMs,
      vmTeardownMs;
  for (int run = 0; run < runs; ++run) {
    for (const pn::testbed::PodSite& site : (*tb)->pods()) {
      std::string podPath = pn::testbed::netnsPath(site.podNetns);
      std::string vmPodPath = pn::testbed::netnsPath(site.vmPodNetns);

      auto t0 = Clock::now();
      auto config = (*worker)->inspect(podPath);
      if (!config) die(config.error());
      auto t1 = Clock::now();
      if (auto s = (*worker)->setup(podPath, *config, std::span(&site.vmIp, 1)); !s) die(s.error());
      auto t1b = Clock::now();
      if (auto s = (*worker)->teardown(podPath, *config); !s) die(s.error());
      auto t2 = Clock::now();

      pn::PodNodeOptions vmOptions;
      vmOptions.hostNetnsPath = pn::testbed::netnsPath(site.vmNetns);
      auto vm = pn::PodNode::create(vmOptions);
      if (!vm) die(vm.error());
      auto t3 = Clock::now();
      if (auto s = (*vm)->setup(*config, vmPodPath); !s) die(s.error());
      auto t3b = Clock::now();
      if (auto s = (*vm)->teardown(*config, vmPodPath); !s) die(s.error());
      auto t4 = Clock::now();

      inspectMs.push_back(ms(t1 - t0));
      workerMs.push_back(ms(t2 - t1));
      workerSetupMs.push_back(ms(t1b - t1));
      workerTeardownMs.push_back(ms(t2 - t1b));
      vmMs.push_back(ms(t4 - t3));
      vmSetupMs.push_back(ms(t3b - t3));
      vmTeardownMs.push_back(ms(t4 - t3b));
    }
  }

  fmt::print("pod tunnel, per pod (ms; ratio = median / {:.0f} ms target, lower is better)\n",
             kTargetMs);
  fmt::print("{:<34} {:>5} {:>10} {:>10} {:>14}\n", "operation", "n", "median", "p90",
             "ratio/target");
  report("node: setup + teardown", workerMs);
  report("node:   setup (StartVM)", workerSetupMs);
  report("node:   teardown (StopVM)", workerTeardownMs);
  report("VM:   setup + teardown", vmMs);
  report("VM:     setup", vmSetupMs);
  report("VM:     teardown", vmTeardownMs);
  report("node: inspect (CreateVM)", inspectMs);
  return 0;
}
