// Files that hold secrets (CURVE secret keys, bearer tokens, TLS keys): only
// their owner, and the owner's group, may read them.
#pragma once

#include <cstddef>
#include <string>

#include "dendrite/status.h"

namespace dendrite {

// The content of the regular file at `path`, at most `max_bytes` long.
// Refused with InvalidArgument naming the file when it cannot be read, is
// not a regular file, is larger, or others may read or write it
// (mode & 0007: "<path> has mode 0644: others may read or change it ...").
// Any thread.
Result<std::string> read_private_file(const std::string& path, std::size_t max_bytes);

}  // namespace dendrite
