/* A tiny external provider plugin for the loader tests, written in C against plugin_abi.h
 * alone, as a third party would. It "creates" instances by echoing its configuration back in
 * the instance name, so the tests can see every flag value arrive.
 *
 * TESTCLOUD_PLUGIN_MODE (read at init) makes it misbehave: "null" returns no ops, "abi" a
 * wrong ABI version, "name" the wrong provider name, "baddefault" an unparsable default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/plugin_abi.h"

#define EXPORT __attribute__((visibility("default")))

static const PeerpodsHostApi* host;

typedef struct TestcloudProvider {
  char region[64];
  char timeout[32];
  char zones[128];
  char verbose[8];
  char key[64];
} TestcloudProvider;

static const PeerpodsFlagSpec kFlags[] = {
    {"testcloud-region", PEERPODS_FLAG_STRING, "r1", "TESTCLOUD_REGION", "region to create VMs in",
     0},
    {"testcloud-boot-timeout", PEERPODS_FLAG_DURATION, "90s", "TESTCLOUD_BOOT_TIMEOUT",
     "boot timeout", 0},
    {"testcloud-zones", PEERPODS_FLAG_STRING_LIST, "a,b", NULL, "zones", 0},
    {"testcloud-verbose", PEERPODS_FLAG_BOOL, NULL, "TESTCLOUD_VERBOSE", "verbose", 0},
    {"testcloud-key", PEERPODS_FLAG_STRING, NULL, "TESTCLOUD_KEY", "API key", 1},
};

static const PeerpodsFlagSpec kBadDefaultFlags[] = {
    {"testcloud-count", PEERPODS_FLAG_INT, "many", NULL, "count", 0},
};

static void copyValue(char* dst, size_t size, const char* src) {
  snprintf(dst, size, "%s", src ? src : "");
}

static void* testcloudCreate(const PeerpodsConfigValue* config, size_t count,
                             PeerpodsResult* result) {
  TestcloudProvider* p = calloc(1, sizeof *p);
  if (p == NULL) {
    host->set_error(result, 8, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < count; ++i) {
    const char* name = config[i].name;
    const char* value = config[i].value;
    if (strcmp(name, "testcloud-region") == 0) copyValue(p->region, sizeof p->region, value);
    if (strcmp(name, "testcloud-boot-timeout") == 0)
      copyValue(p->timeout, sizeof p->timeout, value);
    if (strcmp(name, "testcloud-zones") == 0) copyValue(p->zones, sizeof p->zones, value);
    if (strcmp(name, "testcloud-verbose") == 0) copyValue(p->verbose, sizeof p->verbose, value);
    if (strcmp(name, "testcloud-key") == 0) copyValue(p->key, sizeof p->key, value);
  }
  if (strcmp(p->region, "forbidden") == 0) {
    free(p);
    host->set_error(result, 3, "region forbidden is not allowed");
    return NULL;
  }
  host->log(1, "testcloud provider created");
  return p;
}

static void testcloudDestroy(void* provider) {
  free(provider);
}

static int32_t testcloudCreateInstance(void* provider, const PeerpodsCreateRequest* req,
                                       PeerpodsResult* result) {
  const TestcloudProvider* p = provider;
  if (req->spec.vcpus == 99) {
    host->set_error(result, 8, "no capacity for 99 vCPUs");
    return 1;
  }
  if (req->spec.vcpus == 98) return 1; /* a failure without a message */
  char id[128];
  char name[512];
  snprintf(id, sizeof id, "tc-%s", req->sandbox_id);
  snprintf(name, sizeof name, "%s|%s|%s|%s|%s|%s|%zu|%s|%u|%s", req->instance_name, p->region,
           p->timeout, p->zones, p->verbose, p->key, req->user_data_size, req->pod_namespace,
           req->spec.memory_mib, req->spec.image);
  host->add_instance(result, id, name);
  host->add_ip(result, "198.18.0.10");
  host->add_ip(result, "198.18.0.11");
  return 0;
}

static int32_t testcloudDeleteInstance(void* provider, const char* id, PeerpodsResult* result) {
  (void)provider;
  if (strcmp(id, "tc-busy") == 0) {
    host->set_error(result, 14, "instance tc-busy is busy");
    return 1;
  }
  return 0; /* deleting an unknown instance succeeds */
}

static int32_t testcloudVerifyConfig(void* provider, PeerpodsResult* result) {
  const TestcloudProvider* p = provider;
  if (p->zones[0] == '\0') {
    host->set_error(result, 3, "no zones configured");
    return 1;
  }
  return 0;
}

static PeerpodsProviderOps ops = {
    PEERPODS_PLUGIN_ABI_VERSION,
    "testcloud",
    kFlags,
    sizeof kFlags / sizeof kFlags[0],
    testcloudCreate,
    testcloudDestroy,
    testcloudCreateInstance,
    testcloudDeleteInstance,
    NULL, /* teardown */
    testcloudVerifyConfig,
    NULL, /* list_instances */
};

EXPORT const PeerpodsProviderOps* peerpods_provider_init(const PeerpodsHostApi* h) {
  host = h;
  const char* mode = getenv("TESTCLOUD_PLUGIN_MODE");
  if (mode != NULL && strcmp(mode, "null") == 0) return NULL;
  if (mode != NULL && strcmp(mode, "abi") == 0) ops.abi_version = 99;
  if (mode != NULL && strcmp(mode, "name") == 0) ops.name = "othercloud";
  if (mode != NULL && strcmp(mode, "baddefault") == 0) {
    ops.flags = kBadDefaultFlags;
    ops.flag_count = 1;
  }
  return &ops;
}
