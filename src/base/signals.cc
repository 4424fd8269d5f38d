#include "base/signals.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <thread>

namespace pp::signals {

StopSignals::StopSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

std::string StopSignals::wait() const {
  int sig = 0;
  sigwait(&set_, &sig);
  return strsignal(sig);
}

void StopSignals::exitOnNext() const {
  std::thread([set = set_] {
    int again = 0;
    sigwait(&set, &again);
    _exit(1);
  }).detach();
}

}  // namespace pp::signals
