# Helpers shared by every module.
include(GoogleTest)

# pp_test(NAME <name> LABEL <unit|integration|e2e> SOURCES ... LIBS ... [TIMEOUT s])
# Builds a GoogleTest binary and registers its tests with ctest under the given label.
function(pp_test)
  if(PEERPODS_FUZZ)
    return()  # the fuzz build has fuzz targets only
  endif()
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
  pp_test_needs(${T_LABEL} ${T_NAME})
endfunction()

# pp_test_needs(<label> <target>...): building the target tests_<label> builds these targets
# (scripts/test --label unit builds tests_unit, not the whole tree). pp_test() adds its own
# binary; a test added with add_test() names the targets its command runs or reads, and a test
# binary that runs another program says so with add_dependencies().
function(pp_test_needs label)
  set_property(GLOBAL APPEND PROPERTY PP_TEST_TARGETS_${label} ${ARGN})
  set_property(GLOBAL APPEND PROPERTY PP_TEST_LABELS ${label})
endfunction()

# pp_test_label_targets(): called once, after every module, defines tests_<label> per label.
function(pp_test_label_targets)
  get_property(labels GLOBAL PROPERTY PP_TEST_LABELS)
  list(REMOVE_DUPLICATES labels)
  foreach(label IN LISTS labels)
    get_property(targets GLOBAL PROPERTY PP_TEST_TARGETS_${label})
    add_custom_target(tests_${label})
    add_dependencies(tests_${label} ${targets})
  endforeach()
endfunction()

# pp_provider(NAME <name> SOURCES ... [LIBS ...])
# Builds a cloud provider's static library, pp_provider_<name>, from a folder under
# src/providers. Nothing references the provider's PP_REGISTER_PROVIDER object, so a plain
# static link would drop it; pp_providers_all, which the binaries link, therefore takes the
# library whole. Link a provider's own tests to pp_provider_<name> directly (or whole, with
# $<LINK_LIBRARY:WHOLE_ARCHIVE,...>, if they look it up in the registry), not to
# pp_providers_all as well. The global properties PP_PROVIDER_NAMES and PP_PROVIDER_LIBS list
# what was added.
function(pp_provider)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT P_NAME OR NOT P_SOURCES)
    message(FATAL_ERROR "pp_provider: NAME and SOURCES are required")
  endif()
  if(NOT TARGET pp_providers_all)
    message(FATAL_ERROR "pp_provider(${P_NAME}): call it from a folder below src/providers")
  endif()
  set(target pp_provider_${P_NAME})
  add_library(${target} STATIC ${P_SOURCES})
  target_link_libraries(${target} PUBLIC pp_providers ${P_LIBS})
  target_link_libraries(pp_providers_all INTERFACE "$<LINK_LIBRARY:WHOLE_ARCHIVE,${target}>")
  set_property(GLOBAL APPEND PROPERTY PP_PROVIDER_NAMES ${P_NAME})
  set_property(GLOBAL APPEND PROPERTY PP_PROVIDER_LIBS ${target})
endfunction()

# pp_link_static(<target>)
# Links an executable fully statically (glibc, libstdc++, OpenSSL, protobuf, libnl, zlib from
# their Debian static archives; fmt from pp_fmt_static) with unused sections dropped. For the
# pod VM's long-running agent-protocol-forwarder: a static program maps no shared libraries,
# so its idle RSS is about half (bench/forwarder), and it runs on any distribution's image, as
# upstream's Go binary does. Only in optimised builds without sanitizers (which need their
# shared runtimes) and when PEERPODS_STATIC_LINK is ON; otherwise the target stays dynamic.
option(PEERPODS_STATIC_LINK "Link the pod VM daemons statically in optimised builds" ON)
function(pp_link_static target)
  if(NOT PEERPODS_STATIC_LINK OR NOT CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$"
     OR CMAKE_CXX_FLAGS MATCHES "-fsanitize")
    return()
  endif()
  foreach(archive libc.a libstdc++.a libssl.a libcrypto.a libprotobuf.a libnl-3.a libnl-route-3.a libz.a)
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${archive}
                    OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT IS_ABSOLUTE "${path}" OR NOT EXISTS "${path}")
      message(STATUS "${target}: linked dynamically (no ${archive})")
      return()
    endif()
  endforeach()
  set_property(TARGET ${target} PROPERTY RULE_LAUNCH_LINK "${PROJECT_SOURCE_DIR}/cmake/link-static")
  target_link_libraries(${target} PRIVATE pp_fmt_static)
  # libssh.a (secure comms) refers to GSSAPI, which has no static archive: never-used stubs.
  if(TARGET pp_gssapi_unavailable)
    target_link_libraries(${target} PRIVATE pp_gssapi_unavailable)
  endif()
  message(STATUS "${target}: linked statically")
endfunction()

# pp_go_program(<target> <output name> <source dir>): builds the Go main package in <source dir>
# into ${CMAKE_CURRENT_BINARY_DIR}/<output name>, in GOPATH mode against Debian's Go sources.
# The caller first finds Go (GO_EXECUTABLE) and sets PP_GOPATH, failing when they are missing
# (tests/interop, src/providers/vsphere). Used by tests/interop, bench/ttrpc and the vsphere
# provider's simulator.
function(pp_go_program target output dir)
  file(GLOB sources CONFIGURE_DEPENDS ${dir}/*.go)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${output})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E env GO111MODULE=off GOPATH=${PP_GOPATH} GOFLAGS=
            GOCACHE=${PROJECT_BINARY_DIR}/gocache ${GO_EXECUTABLE} build -o ${out} .
    DEPENDS ${sources}
    WORKING_DIRECTORY ${dir}
    COMMENT "go build ${output}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${out})
  set_target_properties(${target} PROPERTIES OUTPUT_FILE ${out})
endfunction()
