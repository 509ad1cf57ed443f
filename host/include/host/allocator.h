// Which memory allocator serves this process (the program chooses it at link
// time: cmake/DendriteAllocator.cmake), for logs and dendrite_node_info.
#pragma once

#include <string>

namespace dendrite::host {

// "mimalloc <major.minor.patch>" when mimalloc serves malloc in this process,
// else "system". Any thread may call it.
std::string allocator_name();

}  // namespace dendrite::host
