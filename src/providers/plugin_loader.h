// External provider plugins (upstream's ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN): a shared
// object implementing the C ABI of plugin_abi.h, loaded only after upstream's checks, in
// upstream's order:
//   1. ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN is exactly "true";
//   2. the parent directory of CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH is a directory with the
//      owner-execute bit;
//   3. CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH and CLOUD_PROVIDER_EXTERNAL_PLUGIN_HASH are set;
//   4. the file's basename is "<provider>.so", compared case-insensitively;
//   5. the lowercase hex SHA-256 of the file equals the hash exactly.
// A plugin that passes replaces the built-in provider of the same name. Any failure is logged
// and the built-in table is used.
//
// Unlike upstream, the bytes that were hashed are the bytes that are loaded: the directory and
// then the file in it are opened once (the file with O_NOFOLLOW: a symbolic link is refused),
// hashed from that descriptor and loaded through /proc/self/fd/N, so the file cannot be swapped
// between check and load; without /proc the plugin is refused. And before hashing, two checks
// of ours, because a file others may write could be changed in place after it was hashed:
//   - the directory is owned by root or the user we run as, and is not writable by group or
//     others unless it is sticky (as /tmp);
//   - the file is a regular file owned by root or the user we run as, not writable by group
//     or others.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/flags.h"
#include "providers/registry.h"

namespace pp::providers {

inline constexpr std::string_view kPluginEnableEnv = "ENABLE_CLOUD_PROVIDER_EXTERNAL_PLUGIN";
inline constexpr std::string_view kPluginPathEnv = "CLOUD_PROVIDER_EXTERNAL_PLUGIN_PATH";
inline constexpr std::string_view kPluginHashEnv = "CLOUD_PROVIDER_EXTERNAL_PLUGIN_HASH";

// Lowercase hex SHA-256 of a file's contents.
Result<std::string> sha256FileHex(const std::string& path);

// Runs the checks for provider `name` and, if they pass, loads the plugin and registers it in
// `table` with ProviderOrigin::kPlugin. Returns false when plugins are not enabled (check 1),
// true when the plugin was registered, and an error naming the failed check otherwise.
Result<bool> loadExternalPlugin(std::string_view name, Registry& table,
                                const flags::EnvLookup& env = flags::processEnv());

// What the binaries call to pick their provider: tries the external plugin (logging why it was
// not used), then returns a setup from `table`; NOT_FOUND "unsupported cloud provider: x".
Result<std::unique_ptr<ProviderSetup>> lookupProvider(
    std::string_view name, Registry& table = registry(),
    const flags::EnvLookup& env = flags::processEnv());

// Test seam: `hook` runs after a plugin was hashed and before it is loaded, with the path it
// was opened by, so that a test can replace the file in that window. Empty: no hook.
void setPluginHashedHookForTesting(std::function<void(const std::string& path)> hook);

}  // namespace pp::providers
