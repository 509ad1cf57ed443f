# The test suite's helper (included by the top-level CMakeLists.txt when
# DENDRITE_BUILD_TESTS is on, before any directory that adds tests: tests/ and
# each plugin's test/).
include(GoogleTest)

# dendrite_add_test(NAME SOURCES... [LIBRARIES ...] [LABELS ...] [COST N])
# One GoogleTest executable; each TEST becomes a CTest test (discovered when
# ctest runs, so sanitizer builds do not run tests at build time). COST (CTest's
# property, default 0) makes `ctest -j` start the long ones first: a fresh
# clone has no timing history, and a long test started last runs alone.
function(dendrite_add_test name)
  cmake_parse_arguments(T "" "COST" "SOURCES;LIBRARIES;LABELS" ${ARGN})
  if(NOT T_COST)
    set(T_COST 0)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE dendrite::host dendrite::testing dendrite_test_support
                        GTest::gtest GTest::gtest_main GTest::gmock ${T_LIBRARIES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE dendrite::warnings)
  target_compile_definitions(${name} PRIVATE
    DENDRITE_BIN_DIR="${CMAKE_BINARY_DIR}/bin"
    DENDRITE_PLUGIN_DIR="${DENDRITE_PLUGIN_OUTPUT_DIR}"
    DENDRITE_TEST_PLUGIN_DIR="${CMAKE_BINARY_DIR}/lib/dendrite/test-plugins")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${T_LABELS}" TIMEOUT 300 COST ${T_COST})
endfunction()
