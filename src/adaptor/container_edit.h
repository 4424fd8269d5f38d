// The one agent request the adaptor's proxy decodes: the shim's CreateContainerRequest, edited
// as upstream's proxy does (CSI target paths and the CDI GPU annotation). Its own module piece,
// free of the proxy's sockets, so that tests and the fuzz target call exactly this function.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

namespace pp::adaptor {

// Edits a CreateContainerRequest payload as upstream's proxy does, and logs the container's
// storages in upstream's words (its e2e suite checks the image_guest_pull line). A payload that
// does not parse is INVALID_ARGUMENT.
Result<std::string> editCreateContainer(std::string_view payload,
                                        const std::string& directVolumesDir,
                                        std::string_view sandboxId = {});

}  // namespace pp::adaptor
