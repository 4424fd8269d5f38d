// The fakes' shared request log and failure script (fake_cloud.h).
#include "providers/testing/fake_cloud.h"

#include <gtest/gtest.h>

namespace pp::providers::testing {
namespace {

TEST(FailureScript, EarliestMatchingEntryWinsForItsCountThenTheNext) {
  FailureScript exact;
  exact.add("RunInstances", {503, "RequestLimitExceeded", "slow down", ""}, 2);
  exact.add("RunInstances", {400, "InvalidAMIID.NotFound", "no image", ""});
  EXPECT_FALSE(exact.take("DescribeInstances"));
  EXPECT_FALSE(exact.take("RunInstancesX"));  // exact: the whole key
  EXPECT_EQ(exact.take("RunInstances")->status, 503);
  EXPECT_EQ(exact.take("RunInstances")->status, 503);
  EXPECT_EQ(exact.take("RunInstances")->code, "InvalidAMIID.NotFound");
  EXPECT_FALSE(exact.take("RunInstances"));

  FailureScript part(FailureScript::Match::kSubstring);
  part.add("/instances", {429, "rateLimitExceeded", "m", "2"});
  auto f = part.take("POST /compute/v1/projects/p/zones/z/instances");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->retryAfter, "2");
  EXPECT_FALSE(part.take("POST /compute/v1/projects/p/zones/z/instances"));
}

TEST(RequestLog, SelectsInArrivalOrderAndKeepsProblems) {
  RequestLog<std::string> log;
  log.record("GET a");
  log.record("PUT b");
  log.record("GET c");
  auto gets = log.select([](const std::string& c) { return c.starts_with("GET"); });
  EXPECT_EQ(gets, (std::vector<std::string>{"GET a", "GET c"}));
  EXPECT_EQ(log.all().size(), 3u);
  EXPECT_TRUE(log.problems().empty());
  log.problem("bad signature");
  EXPECT_EQ(log.problems(), std::vector<std::string>{"bad signature"});
}

}  // namespace
}  // namespace pp::providers::testing
