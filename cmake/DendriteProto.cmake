# dendrite_generate_proto(OUT_SRCS OUT_HDRS PROTO_DIR proto files...)
# Runs protoc on the given .proto files (relative to PROTO_DIR); generated code
# lands in ${CMAKE_BINARY_DIR}/gen. Imports are resolved against PROTO_DIR and
# the SDK's proto directory (global property DENDRITE_PROTO_IMPORT_DIR: proto/
# in the source tree, include/dendrite/proto when installed), so a plugin may
# `import "chord.proto";` and use the messages compiled into libdendrite_sdk.so
# without generating them again. Used by the main build and by the installed
# DendriteSDK package alike.
function(dendrite_generate_proto out_srcs out_hdrs proto_dir)
  get_property(import_dir GLOBAL PROPERTY DENDRITE_PROTO_IMPORT_DIR)
  if(NOT import_dir)
    message(FATAL_ERROR "dendrite_generate_proto: DENDRITE_PROTO_IMPORT_DIR is not set "
                        "(include DendriteProto.cmake through find_package(DendriteSDK))")
  endif()
  set(gen_dir ${CMAKE_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_dir})
  set(srcs)
  set(hdrs)
  foreach(proto ${ARGN})
    get_filename_component(name_we ${proto} NAME_WE)
    get_filename_component(rel_dir ${proto} DIRECTORY)
    if(rel_dir)
      set(rel_dir "${rel_dir}/")
    endif()
    set(cc ${gen_dir}/${rel_dir}${name_we}.pb.cc)
    set(h ${gen_dir}/${rel_dir}${name_we}.pb.h)
    add_custom_command(
      OUTPUT ${cc} ${h}
      COMMAND protobuf::protoc
              --proto_path=${proto_dir}
              --proto_path=${import_dir}
              --cpp_out=${gen_dir}
              ${proto_dir}/${proto}
      DEPENDS ${proto_dir}/${proto} protobuf::protoc
      COMMENT "protoc ${proto}"
      VERBATIM)
    list(APPEND srcs ${cc})
    list(APPEND hdrs ${h})
  endforeach()
  set(${out_srcs} ${srcs} PARENT_SCOPE)
  set(${out_hdrs} ${hdrs} PARENT_SCOPE)
endfunction()
