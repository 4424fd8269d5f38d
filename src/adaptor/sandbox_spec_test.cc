#include "adaptor/sandbox_spec.h"

#include <gtest/gtest.h>

namespace pp::adaptor {
namespace {

std::string hv(const std::string& name) {
  return kHypervisorAnnotationPrefix + name;
}

TEST(SandboxSpec, SandboxIdNamesADirectory) {
  EXPECT_TRUE(validateSandboxId(std::string(64, 'a')));
  EXPECT_TRUE(validateSandboxId("pod_1.sandbox-2"));
  EXPECT_TRUE(validateSandboxId(std::string(128, '7')));
  for (const std::string bad : {"", ".hidden", "-flag", "../../etc", "a/b", "a b", "é"}) {
    auto st = validateSandboxId(bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, Code::kInvalidArgument) << bad;
  }
  auto st = validateSandboxId(std::string(129, 'a'));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("longer than 128"), std::string::npos);
}

TEST(SandboxSpec, CriOSandboxNameIsReducedToThePodName) {
  EXPECT_EQ(podNameFromSandboxName("k8s_web-0_team_0b1c-uid_1"), "web-0");
  EXPECT_EQ(podNameFromSandboxName("web-0"), "web-0");  // containerd passes the pod name
  EXPECT_EQ(podNameFromSandboxName("k8s__team"), "k8s__team");
  EXPECT_EQ(podNameFromSandboxName("k8s_nounderscore"), "k8s_nounderscore");
}

TEST(SandboxSpec, InstanceNameIsADnsLabel) {
  EXPECT_EQ(instanceName("web-0", "ABCDEF0123456789"), "podvm-web-0-abcdef01");
  EXPECT_EQ(instanceName("My_Pod.v2", "1234"), "podvm-my-pod-v2-1234");
  auto longName = instanceName(std::string(100, 'x'), std::string(64, 'f'));
  EXPECT_EQ(longName, "podvm-" + std::string(48, 'x') + "-ffffffff");
  EXPECT_LE(longName.size(), 63u);
}

TEST(SandboxSpec, InstanceSpecFromKataAnnotations) {
  Annotations a{{hv("machine_type"), "t3.small"}, {hv("image"), "podvm-gpu"},
                {hv("default_vcpus"), "4"},       {hv("default_memory"), "8192"},
                {hv("default_gpus"), "1"},        {hv("default_gpu_model"), "a100"},
                {kSandboxNameAnnotation, "web-0"}};
  auto spec = specFromAnnotations(a);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->instanceType, "t3.small");
  EXPECT_EQ(spec->image, "podvm-gpu");
  EXPECT_EQ(spec->vcpus, 4u);
  EXPECT_EQ(spec->memoryMiB, 8192u);
  EXPECT_EQ(spec->gpus, 1u);
  EXPECT_EQ(spec->gpuModel, "a100");

  // Absent or empty: not requested.
  auto none = specFromAnnotations({{hv("default_vcpus"), ""}});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->vcpus, 0u);
  EXPECT_EQ(none->instanceType, "");

  for (const std::string bad : {"lots", "-1", "2.5", "1 ", "99999999999"}) {
    auto r = specFromAnnotations({{hv("default_memory"), bad}});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_NE(r.error().message.find(hv("default_memory")), std::string::npos) << r.error().message;
  }
}

TEST(SandboxSpec, AnnotationLookups) {
  Annotations a{{kSandboxNamespaceAnnotation, "team"}, {hv("cc_init_data"), "abc"}};
  EXPECT_EQ(annotation(a, kSandboxNamespaceAnnotation), "team");
  EXPECT_EQ(annotation(a, kSandboxNameAnnotation), "");
  EXPECT_EQ(hypervisorAnnotation(a, "cc_init_data"), "abc");
  EXPECT_EQ(hypervisorAnnotation(a, "image"), "");
}

TEST(SandboxSpec, DescribeSpecForEvents) {
  providers::InstanceSpec spec;
  EXPECT_EQ(describeSpec(spec), "");
  spec.vcpus = 2;
  spec.memoryMiB = 2048;
  EXPECT_EQ(describeSpec(spec), " (2 vCPUs, 2048 MiB)");
  spec.gpus = 1;
  EXPECT_EQ(describeSpec(spec), " (2 vCPUs, 2048 MiB, 1 GPUs)");
  spec.instanceType = "t3.small";
  EXPECT_EQ(describeSpec(spec), " (type t3.small)");
}

}  // namespace
}  // namespace pp::adaptor
