# dendrite_add_plugin(NAME name SOURCES ... [PROTOS ...] [PROTO_DIR dir] [LIBRARIES ...]
#                     [OUTPUT_DIR dir])
# Builds plugin `name` as lib<name>.so the way the loader expects, in the main
# build and (installed with the DendriteSDK package) in a plugin's own project:
# - a MODULE library with hidden visibility, so only the Boost.DLL aliases of
#   DENDRITE_PLUGIN / DENDRITE_PLUGIN_DESCRIBED are exported;
# - linked to the shared SDK (DendriteSDK::sdk), which holds the generated ring
#   messages (chord.proto): they are never compiled into the plugin;
# - its own PROTOS (relative to PROTO_DIR, default the current source dir) are
#   generated into ${CMAKE_BINARY_DIR}/gen and compiled once into the shared
#   library target `<name>_proto` (lib<name>_proto.so), which the plugin links
#   and which the plugin's CLI and tests link too. Protobuf registers each
#   .proto file once per process ("File already exists in database" aborts),
#   so a test that loads the plugin and also speaks its messages must share
#   that one copy, never compile the .pb.cc again. Give the .proto a package
#   of its own. The library is linked -z nodelete: protobuf's process-wide
#   descriptor pool would outlive it if it were unmapped.
# - LIBRARIES are linked privately; OUTPUT_DIR defaults to the main build's
#   lib/dendrite/plugins, or the current binary dir out of tree. In the main
#   build `<name>_proto` lands in lib/, elsewhere beside the plugin; plugins
#   find it and libdendrite_sdk.so through RPATH $ORIGIN and $ORIGIN/../..
#   (lib/ when installed). dendrite_install_plugin() installs both.
function(dendrite_add_plugin)
  cmake_parse_arguments(P "" "NAME;PROTO_DIR;OUTPUT_DIR" "SOURCES;PROTOS;LIBRARIES" ${ARGN})
  if(NOT P_NAME)
    message(FATAL_ERROR "dendrite_add_plugin: NAME is required")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "dendrite_add_plugin(${P_NAME}): SOURCES is required")
  endif()
  if(NOT P_OUTPUT_DIR AND DENDRITE_PLUGIN_OUTPUT_DIR)
    set(P_OUTPUT_DIR ${DENDRITE_PLUGIN_OUTPUT_DIR})
  endif()
  add_library(${P_NAME} MODULE ${P_SOURCES})
  target_link_libraries(${P_NAME} PRIVATE DendriteSDK::sdk ${P_LIBRARIES})
  target_compile_features(${P_NAME} PRIVATE cxx_std_20)
  _dendrite_plugin_warnings(${P_NAME})
  if(P_PROTOS)
    if(NOT P_PROTO_DIR)
      set(P_PROTO_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    endif()
    dendrite_generate_proto(proto_srcs proto_hdrs ${P_PROTO_DIR} ${P_PROTOS})
    add_library(${P_NAME}_proto SHARED ${proto_srcs})
    target_include_directories(${P_NAME}_proto PUBLIC $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/gen>)
    target_link_libraries(${P_NAME}_proto PUBLIC DendriteSDK::sdk)
    target_link_options(${P_NAME}_proto PRIVATE -Wl,-z,nodelete)
    set_target_properties(${P_NAME}_proto PROPERTIES
      BUILD_RPATH "$ORIGIN;$ORIGIN/../.."
      INSTALL_RPATH "$ORIGIN")
    if(NOT DENDRITE_PLUGIN_OUTPUT_DIR AND P_OUTPUT_DIR)
      set_target_properties(${P_NAME}_proto PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
    endif()
    target_link_libraries(${P_NAME} PRIVATE ${P_NAME}_proto)
  endif()
  set_target_properties(${P_NAME} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    PREFIX "lib"
    BUILD_RPATH "$ORIGIN;$ORIGIN/../.."
    INSTALL_RPATH "$ORIGIN/../..")
  if(P_OUTPUT_DIR)
    set_target_properties(${P_NAME} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
  endif()
endfunction()

# dendrite_install_plugin(NAME name [DESTINATION dir] [EXPORT set])
# Installs plugin `name` into DESTINATION (default: the main build's
# lib/dendrite/plugins, or the installed SDK's DENDRITE_PLUGIN_DIR) and its
# `<name>_proto` library, when it has one, two levels up (lib/), where the
# plugin's RPATH looks. EXPORT adds `<name>_proto` to an export set, for a
# library that links it and is exported itself (the client links dtable_proto).
function(dendrite_install_plugin)
  cmake_parse_arguments(P "" "NAME;DESTINATION;EXPORT" "" ${ARGN})
  if(NOT P_NAME OR NOT TARGET ${P_NAME})
    message(FATAL_ERROR "dendrite_install_plugin: NAME must name a dendrite_add_plugin target")
  endif()
  if(NOT P_DESTINATION)
    if(DENDRITE_INSTALL_PLUGINDIR)
      set(P_DESTINATION ${DENDRITE_INSTALL_PLUGINDIR})
    elseif(DENDRITE_PLUGIN_DIR)
      set(P_DESTINATION ${DENDRITE_PLUGIN_DIR})
    else()
      message(FATAL_ERROR "dendrite_install_plugin(${P_NAME}): no DESTINATION and no SDK plugin dir")
    endif()
  endif()
  install(TARGETS ${P_NAME} LIBRARY DESTINATION ${P_DESTINATION})
  if(TARGET ${P_NAME}_proto)
    set(export_args)
    if(P_EXPORT)
      set(export_args EXPORT ${P_EXPORT})
    endif()
    get_filename_component(libdir ${P_DESTINATION} DIRECTORY)
    get_filename_component(libdir ${libdir} DIRECTORY)
    install(TARGETS ${P_NAME}_proto ${export_args} LIBRARY DESTINATION ${libdir})
  endif()
endfunction()

# The project's warnings in this tree; a plugin built against the installed
# package gets the options in DENDRITE_WARNINGS, when it sets that variable.
function(_dendrite_plugin_warnings target)
  if(TARGET dendrite_warnings)
    target_link_libraries(${target} PRIVATE dendrite_warnings)
  elseif(DENDRITE_WARNINGS)
    target_compile_options(${target} PRIVATE ${DENDRITE_WARNINGS})
  endif()
endfunction()
