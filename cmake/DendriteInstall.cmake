# `cmake --install`: programs, libdendrite_sdk.so, the client, the
# SDK headers and the CMake package DendriteSDK (config, version, targets and
# the dendrite_add_plugin()/dendrite_generate_proto() functions). Included by
# the top-level CMakeLists.txt after every target exists.
include(CMakePackageConfigHelpers)

# The ABI version from plugin.h, for DendriteSDK_ABI_VERSION.
file(STRINGS ${PROJECT_SOURCE_DIR}/sdk/include/dendrite/plugin.h abi_line
     REGEX "kSdkAbiVersion = [0-9]+;")
string(REGEX MATCH "[0-9]+" DENDRITE_SDK_ABI_VERSION "${abi_line}")

foreach(program dendrited dendrite-cli)
  if(TARGET ${program})
    install(TARGETS ${program} RUNTIME DESTINATION ${DENDRITE_INSTALL_BINDIR})
  endif()
endforeach()
# Each plugin installs itself (dendrite_install_plugin in plugins/<name>/).

# The client library (dendrite/client/*.h), for programs that call a plugin.
if(TARGET dendrite_client)
  set_target_properties(dendrite_client PROPERTIES EXPORT_NAME client)
  # The ZeroMQ request channel the client is built on: linked through it only
  # (its headers are not part of the client's interface).
  set_target_properties(dendrite_wire PROPERTIES EXPORT_NAME wire)
  target_include_directories(dendrite_client INTERFACE
    $<INSTALL_INTERFACE:${DENDRITE_INSTALL_INCLUDEDIR}>)
  install(TARGETS dendrite_client dendrite_wire
          EXPORT DendriteSDKTargets
          ARCHIVE DESTINATION ${DENDRITE_INSTALL_LIBDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/client/include/dendrite
          DESTINATION ${DENDRITE_INSTALL_INCLUDEDIR})
endif()

install(EXPORT DendriteSDKTargets NAMESPACE DendriteSDK::
        DESTINATION ${DENDRITE_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/DendriteSDKConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/DendriteSDKConfig.cmake
  INSTALL_DESTINATION ${DENDRITE_INSTALL_CMAKEDIR}
  PATH_VARS DENDRITE_INSTALL_PLUGINDIR DENDRITE_INSTALL_BINDIR DENDRITE_INSTALL_PROTODIR)
# Same major.minor and a release at least as new; the ABI version travels in
# DendriteSDK_ABI_VERSION (the loader checks it at run time).
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/DendriteSDKConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_BINARY_DIR}/cmake/DendriteSDKConfig.cmake
  ${CMAKE_BINARY_DIR}/cmake/DendriteSDKConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/DendriteProto.cmake
  ${PROJECT_SOURCE_DIR}/cmake/DendritePlugin.cmake
  DESTINATION ${DENDRITE_INSTALL_CMAKEDIR})
