/* The C ABI between cloud-api-adaptor and an external provider plugin (a shared object loaded
 * with dlopen, where upstream loads a Go plugin).
 *
 * Plain C so that a plugin need not be built with our compiler, standard library or headers
 * other than this one: upstream's Go plugins had to match the adaptor's exact toolchain and
 * module versions; ours only have to match PEERPODS_PLUGIN_ABI_VERSION.
 *
 * Loading. The adaptor checks the environment (ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN,
 * CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH, CLOUD_PROVIDER_EXTERNAL_PLUGIN_HASH), opens the file and
 * calls its exported entry point
 *
 *     const PeerpodsProviderOps* peerpods_provider_init(const PeerpodsHostApi* host);
 *
 * once. The plugin keeps `host` (valid for the life of the process) and returns its operation
 * table (static storage, never freed) or NULL to refuse loading. The table's `name` must equal
 * the provider name the adaptor was started with; the plugin then replaces any built-in
 * provider of that name. The shared object is never unloaded.
 *
 * Configuration. `flags` declares the plugin's flags; the adaptor registers them with its own
 * flags (same syntax, environment precedence and help as built-in flags), parses the command
 * line and passes the final values to `create` as text:
 *   STRING: as given; BOOL: "true"/"false"; INT, UINT: decimal; FLOAT: shortest decimal;
 *   DURATION: decimal nanoseconds; STRING_LIST: items joined with ','.
 * `default_value` uses the command-line syntax of the kind ("5m" for a duration, "a,b" for a
 * list); NULL or "" means the zero value.
 *
 * Calls. Every call that can fail takes a PeerpodsResult* and returns 0 on success. On failure
 * it returns non-zero after calling host->set_error (a google.rpc.Code and a message); a
 * failure without set_error is reported as UNKNOWN. Results are written through the host's
 * callbacks, so each side frees only its own memory. All strings are NUL-terminated UTF-8 and
 * are valid only during the call. Calls run on the adaptor's worker threads, possibly several
 * at once for the same provider: the plugin must be thread-safe. They may block.
 */
#ifndef PEERPODS_PROVIDERS_PLUGIN_ABI_H_
#define PEERPODS_PROVIDERS_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PEERPODS_PLUGIN_ABI_VERSION 1u
#define PEERPODS_PLUGIN_ENTRY_POINT "peerpods_provider_init"

/* Opaque to the plugin: where a call's outcome is collected. */
typedef struct PeerpodsResult PeerpodsResult;

typedef enum PeerpodsFlagKind {
  PEERPODS_FLAG_STRING = 0,
  PEERPODS_FLAG_BOOL = 1,
  PEERPODS_FLAG_INT = 2,
  PEERPODS_FLAG_UINT = 3,
  PEERPODS_FLAG_FLOAT = 4,
  PEERPODS_FLAG_DURATION = 5,
  PEERPODS_FLAG_STRING_LIST = 6,
} PeerpodsFlagKind;

typedef struct PeerpodsFlagSpec {
  const char* name;          /* without dashes, e.g. "mycloud-region" */
  int32_t kind;              /* PeerpodsFlagKind */
  const char* default_value; /* see above; NULL = zero value */
  const char* env;           /* environment variable, or NULL */
  const char* usage;
  int32_t secret; /* non-zero: masked in configuration dumps */
} PeerpodsFlagSpec;

typedef struct PeerpodsConfigValue {
  const char* name;
  const char* value;
} PeerpodsConfigValue;

typedef struct PeerpodsInstanceSpec {
  const char* instance_type; /* "" when not requested */
  uint32_t vcpus;
  uint32_t memory_mib;
  uint32_t gpus;
  const char* gpu_model;
  const char* image;
  int32_t multi_nic;
} PeerpodsInstanceSpec;

typedef struct PeerpodsCreateRequest {
  const char* pod_name;
  const char* pod_namespace;
  const char* sandbox_id;
  const char* instance_name;
  const char* user_data; /* #cloud-config document */
  size_t user_data_size;
  PeerpodsInstanceSpec spec;
} PeerpodsCreateRequest;

/* Services the adaptor offers the plugin. */
typedef struct PeerpodsHostApi {
  uint32_t abi_version; /* PEERPODS_PLUGIN_ABI_VERSION of the adaptor */
  /* Reports a failure: code is a google.rpc.Code (3 INVALID_ARGUMENT, 5 NOT_FOUND, 14
   * UNAVAILABLE, ...). */
  void (*set_error)(PeerpodsResult* result, int32_t code, const char* message);
  /* Starts a new instance in the result (create_instance: exactly one; list_instances: any). */
  void (*add_instance)(PeerpodsResult* result, const char* id, const char* name);
  /* Appends an IP address to the instance added last. */
  void (*add_ip)(PeerpodsResult* result, const char* ip);
  /* Logs through the adaptor's logger; level 0 debug, 1 info, 2 warn, 3 error. */
  void (*log)(int32_t level, const char* message);
} PeerpodsHostApi;

/* What the plugin implements. Optional entries may be NULL. */
typedef struct PeerpodsProviderOps {
  uint32_t abi_version; /* must be PEERPODS_PLUGIN_ABI_VERSION */
  const char* name;     /* the provider name, e.g. "mycloud" for mycloud.so */
  const PeerpodsFlagSpec* flags;
  size_t flag_count;
  /* Builds a provider from the final flag values (every declared flag, in declaration order).
   * Returns an opaque handle, or NULL after set_error. */
  void* (*create)(const PeerpodsConfigValue* config, size_t count, PeerpodsResult* result);
  /* Frees a handle from create. */
  void (*destroy)(void* provider);
  /* Provider::createInstance: adds exactly one instance with at least one IP. */
  int32_t (*create_instance)(void* provider, const PeerpodsCreateRequest* request,
                             PeerpodsResult* result);
  /* Provider::deleteInstance: an instance that is already gone is success. */
  int32_t (*delete_instance)(void* provider, const char* id, PeerpodsResult* result);
  /* Optional: Provider::teardown. */
  int32_t (*teardown)(void* provider, PeerpodsResult* result);
  /* Optional: Provider::verifyConfig. */
  int32_t (*verify_config)(void* provider, PeerpodsResult* result);
  /* Optional: Provider::listInstances; adds one instance per match. */
  int32_t (*list_instances)(void* provider, const char* tag, PeerpodsResult* result);
} PeerpodsProviderOps;

typedef const PeerpodsProviderOps* (*PeerpodsProviderInitFn)(const PeerpodsHostApi* host);

#ifdef __cplusplus
}
#endif

#endif /* PEERPODS_PROVIDERS_PLUGIN_ABI_H_ */
