#include "base/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace pp::log {
namespace {

TEST(LogTest, EscapeControl) {
  EXPECT_EQ(escapeControl("plain text\twith tab"), "plain text\twith tab");
  EXPECT_EQ(escapeControl("a\nb\r\x1b[31m\x7f"), "a\\x0ab\\x0d\\x1b[31m\\x7f");
  EXPECT_EQ(escapeControl(std::string_view("x\0y", 3)), "x\\x00y");
}

TEST(LogTest, Quote) {
  EXPECT_EQ(quote("nginx"), "\"nginx\"");
  EXPECT_EQ(quote("a\"b\\c\n\xff"), "\"a\\\"b\\\\c\\x0a\\xff\"");
  EXPECT_EQ(quote(std::string(300, 'a')), "\"" + std::string(200, 'a') + "\"...(300 bytes)");
}

// What a pod name with a newline does to the log: one line, with the newline escaped.
TEST(LogTest, AMessageIsAlwaysOneLine) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  error("sandbox", "pod {} failed", "evil\n2026-12-02T00:00:00.000000Z INFO  sandbox: all good");
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  char buf[4096];
  const ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  ASSERT_GT(n, 0);
  const std::string line(buf, static_cast<size_t>(n));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_NE(line.find("evil\\x0a2026"), std::string::npos) << line;
}

}  // namespace
}  // namespace pp::log
