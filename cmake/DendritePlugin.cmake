# dendrite_add_plugin(NAME name SOURCES ... [PROTOS ...] [PROTO_DIR dir] [LIBRARIES ...]
#                     [OUTPUT_DIR dir])
# Builds plugin `name` as lib<name>.so the way the loader expects, in the main
# build and (installed with the DendriteSDK package) in a plugin's own project:
# - a MODULE library with hidden visibility, so only the Boost.DLL aliases of
#   DENDRITE_PLUGIN / DENDRITE_PLUGIN_DESCRIBED are exported;
# - linked to the shared SDK (DendriteSDK::sdk), which holds the generated ring
#   messages (chord.proto): they are never compiled into the plugin;
# - its own PROTOS (relative to PROTO_DIR, default the current source dir) are
#   generated and compiled into this plugin only; give them a package of their
#   own. With PROTOS the library is linked -z nodelete: protobuf registers
#   descriptors in a process-wide pool that would outlive an unmapped library.
# - LIBRARIES are linked privately; OUTPUT_DIR defaults to the main build's
#   lib/dendrite/plugins, or the current binary dir out of tree. Installed
#   plugins find libdendrite_sdk.so through RPATH $ORIGIN/../.. (lib/).
function(dendrite_add_plugin)
  cmake_parse_arguments(P "" "NAME;PROTO_DIR;OUTPUT_DIR" "SOURCES;PROTOS;LIBRARIES" ${ARGN})
  if(NOT P_NAME)
    message(FATAL_ERROR "dendrite_add_plugin: NAME is required")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "dendrite_add_plugin(${P_NAME}): SOURCES is required")
  endif()
  set(proto_srcs)
  if(P_PROTOS)
    if(NOT P_PROTO_DIR)
      set(P_PROTO_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    endif()
    dendrite_generate_proto(proto_srcs proto_hdrs ${P_PROTO_DIR} ${P_PROTOS})
  endif()
  if(NOT P_OUTPUT_DIR AND DENDRITE_PLUGIN_OUTPUT_DIR)
    set(P_OUTPUT_DIR ${DENDRITE_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${P_NAME} MODULE ${P_SOURCES} ${proto_srcs})
  target_link_libraries(${P_NAME} PRIVATE DendriteSDK::sdk ${P_LIBRARIES})
  target_include_directories(${P_NAME} PRIVATE ${CMAKE_BINARY_DIR}/gen)
  target_compile_features(${P_NAME} PRIVATE cxx_std_20)
  # In this tree, the project's warnings; a plugin built against the installed
  # package gets the options in DENDRITE_WARNINGS, when it sets that variable.
  if(TARGET dendrite_warnings)
    target_link_libraries(${P_NAME} PRIVATE dendrite_warnings)
  elseif(DENDRITE_WARNINGS)
    target_compile_options(${P_NAME} PRIVATE ${DENDRITE_WARNINGS})
  endif()
  if(P_PROTOS)
    target_link_options(${P_NAME} PRIVATE -Wl,-z,nodelete)
  endif()
  set_target_properties(${P_NAME} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    PREFIX "lib"
    BUILD_RPATH "$ORIGIN/../.."
    INSTALL_RPATH "$ORIGIN/../..")
  if(P_OUTPUT_DIR)
    set_target_properties(${P_NAME} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
  endif()
endfunction()
