# dendrite_add_plugin(NAME name SOURCES ... [PROTOS ...] [PROTO_DIR dir] [LIBRARIES ...]
#                     [OUTPUT_DIR dir])
# Builds plugin `name` as lib<name>.so the way the loader expects: a MODULE
# library with hidden visibility that links the shared SDK (and so the shared
# generated ring messages) instead of compiling them again. Its own .proto files
# are generated and compiled into the plugin only.
function(dendrite_add_plugin)
  cmake_parse_arguments(P "" "NAME;PROTO_DIR;OUTPUT_DIR" "SOURCES;PROTOS;LIBRARIES" ${ARGN})
  if(NOT P_NAME)
    message(FATAL_ERROR "dendrite_add_plugin: NAME is required")
  endif()
  set(proto_srcs)
  if(P_PROTOS)
    if(NOT P_PROTO_DIR)
      set(P_PROTO_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    endif()
    dendrite_generate_proto(proto_srcs proto_hdrs ${P_PROTO_DIR} ${P_PROTOS})
  endif()
  if(NOT P_OUTPUT_DIR)
    set(P_OUTPUT_DIR ${DENDRITE_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${P_NAME} MODULE ${P_SOURCES} ${proto_srcs})
  target_link_libraries(${P_NAME} PRIVATE dendrite::sdk ${P_LIBRARIES})
  target_include_directories(${P_NAME} PRIVATE ${CMAKE_BINARY_DIR}/gen)
  target_compile_options(${P_NAME} PRIVATE ${DENDRITE_WARNINGS})
  set_target_properties(${P_NAME} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    PREFIX "lib"
    LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR}
    BUILD_RPATH "$ORIGIN/../..")
endfunction()
