# The memory allocator of Dendrite's programs (dendrited, dendrite-bench,
# zmq_echo). Libraries and plugins never choose one: they use whatever the
# program that loads them links, so an application embedding the client library
# keeps its own.
#
# DENDRITE_ALLOCATOR: "mimalloc" (the default; Debian: libmimalloc-dev) or
# "system" (glibc malloc). Sanitizer and fuzz builds always use "system": ASan
# and TSan replace malloc themselves. Not jemalloc: it clashes with libfaketime
# (its start-up calls clock_gettime, which libfaketime cannot serve before its
# own start-up, wolfcw/libfaketime#130), which the clock fault scenarios need,
# and its upstream repository was archived in 2025.
set(DENDRITE_ALLOCATOR "mimalloc" CACHE STRING "Allocator of the programs: 'mimalloc' or 'system'")
set_property(CACHE DENDRITE_ALLOCATOR PROPERTY STRINGS mimalloc system)
if(NOT DENDRITE_ALLOCATOR MATCHES "^(mimalloc|system)$")
  message(FATAL_ERROR "DENDRITE_ALLOCATOR must be 'mimalloc' or 'system', not '${DENDRITE_ALLOCATOR}'")
endif()
set(DENDRITE_PROGRAM_ALLOCATOR ${DENDRITE_ALLOCATOR})
if(NOT DENDRITE_SANITIZE STREQUAL "" OR DENDRITE_FUZZ)
  set(DENDRITE_PROGRAM_ALLOCATOR system)
endif()
if(DENDRITE_PROGRAM_ALLOCATOR STREQUAL "mimalloc")
  find_package(mimalloc CONFIG QUIET)
  if(NOT TARGET mimalloc)
    message(FATAL_ERROR "DENDRITE_ALLOCATOR=mimalloc needs mimalloc (Debian: libmimalloc-dev; "
                        "scripts/install-deps.sh installs it), or configure with -DDENDRITE_ALLOCATOR=system")
  endif()
endif()
message(STATUS "Dendrite programs allocate with: ${DENDRITE_PROGRAM_ALLOCATOR}")

# Links program TARGET with the chosen allocator. mimalloc replaces malloc and
# operator new for the whole process (the host, libzmq, protobuf and every
# plugin), so memory freed on another thread than the one that allocated it
# (ZeroMQ messages cross between its I/O thread and ours) does not contend on
# glibc's arena locks.
function(dendrite_use_allocator target)
  if(DENDRITE_PROGRAM_ALLOCATOR STREQUAL "mimalloc")
    # --no-as-needed: the program calls malloc through libc's symbol names; the
    # library must be loaded for its definitions to win.
    target_link_options(${target} PRIVATE "LINKER:--no-as-needed")
    target_link_libraries(${target} PRIVATE mimalloc)
  endif()
endfunction()
