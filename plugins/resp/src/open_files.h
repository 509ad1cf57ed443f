// The process's open-file limit against the front end's max_clients: as
// Redis does at start, raise the soft limit (up to the hard one) so that every
// allowed client can have its socket.
#pragma once

#include <cstddef>
#include <string>

namespace dendrite::resp {

// Files kept for everything else the node opens (the ring's sockets, its
// stores, logs) beyond one per client.
inline constexpr std::size_t kReservedFiles = 256;

// Raises RLIMIT_NOFILE's soft limit to at least `needed` when it is lower and
// the hard limit allows. Returns "" when the limit is (now) enough, else a
// sentence for the log naming the limit and how many clients it allows.
// Changes the whole process's limit; call from plugin start(), any thread.
std::string ensure_open_files(std::size_t needed);

}  // namespace dendrite::resp
