// Stop signals for the daemons' mains: SIGTERM and SIGINT are blocked in every thread and taken
// by wait(); the first one starts a graceful stop, a second one (exitOnNext) ends the process
// at once, for a stop that hangs.
#pragma once

#include <signal.h>

#include <string>

namespace pp::signals {

class StopSignals {
 public:
  // Blocks SIGTERM and SIGINT in this thread and so in every thread started afterwards (they
  // inherit the mask): construct it in main() before anything starts a thread.
  StopSignals();

  // Waits for SIGTERM or SIGINT; returns its description ("Terminated", "Interrupt").
  std::string wait() const;

  // From now on, the next SIGTERM or SIGINT exits the process with status 1 without cleanup.
  void exitOnNext() const;

 private:
  sigset_t set_;
};

}  // namespace pp::signals
