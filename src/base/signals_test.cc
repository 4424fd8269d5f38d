#include "base/signals.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pp::signals {
namespace {

// Each case runs in a child process: the signal mask and the signals are process-wide.
int inChild(void (*body)()) {
  pid_t pid = ::fork();
  if (pid == 0) {
    body();
    _exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(StopSignalsTest, WaitTakesTheSignalInsteadOfDying) {
  int status = inChild([] {
    StopSignals stop;
    ::kill(::getpid(), SIGTERM);
    _exit(stop.wait() == strsignal(SIGTERM) ? 7 : 8);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

TEST(StopSignalsTest, SecondSignalExitsAtOnceWithStatusOne) {
  int status = inChild([] {
    StopSignals stop;
    ::kill(::getpid(), SIGINT);
    stop.wait();
    stop.exitOnNext();
    ::kill(::getpid(), SIGTERM);
    ::sleep(10);  // a hanging graceful stop
    _exit(9);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
}

}  // namespace
}  // namespace pp::signals
