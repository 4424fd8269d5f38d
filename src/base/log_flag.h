// -log-format for every daemon's flag set, in one place.
#pragma once

#include <string>

#include "base/flags.h"

namespace pp::log {

// Registers -log-format ("text", the default, or "json"; environment variable `env`). The logger
// is process-wide, so the flag sets it directly when parsed rather than through a variable each
// main would have to apply. LOG_FORMAT is also read by the logger itself at start, for binaries
// whose flag set reads no environment.
flags::Flag& addLogFormatFlag(flags::FlagSet& fs, std::string env = "LOG_FORMAT");

}  // namespace pp::log
