#include "open_files.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dendrite::resp {

std::string ensure_open_files(std::size_t needed) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return std::string("cannot read the open-file limit: ") + std::strerror(errno);
  }
  const auto want = static_cast<rlim_t>(needed);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min(want, lim.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= want) return "";
  const std::size_t clients =
      lim.rlim_cur > kReservedFiles ? static_cast<std::size_t>(lim.rlim_cur) - kReservedFiles : 0;
  return "the open-file limit is " + std::to_string(lim.rlim_cur) + " (hard limit " +
         std::to_string(lim.rlim_max) + "): about " + std::to_string(clients) +
         " clients can connect, not max_clients; raise it with ulimit -n or LimitNOFILE=";
}

}  // namespace dendrite::resp
