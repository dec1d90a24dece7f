# SPDX-License-Identifier: MIT
# ctest fixture: install the configured ovlcore build tree BUILD_DIR into a fresh PREFIX and check
# that the package files are where find_package and pkg-config look for them.
# Usage: cmake -DBUILD_DIR=... -DPREFIX=... [-DTOOLS=ovl-tree,ovl-lint,...] -P install_into_prefix.cmake
cmake_minimum_required(VERSION 3.21)
foreach(_var BUILD_DIR PREFIX)
    if(NOT DEFINED ${_var})
        message(FATAL_ERROR "${_var} is not set")
    endif()
endforeach()

file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}"
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "cmake --install failed (${_rc})")
endif()

foreach(_file
        include/ovlcore/ovlcore.hpp
        include/ovlcore/result.hpp
        share/cmake/ovlcore/ovlcoreConfig.cmake
        share/cmake/ovlcore/ovlcoreConfigVersion.cmake
        share/cmake/ovlcore/ovlcoreTargets.cmake
        share/pkgconfig/ovlcore.pc)
    if(NOT EXISTS "${PREFIX}/${_file}")
        message(FATAL_ERROR "installed tree lacks ${_file}")
    endif()
endforeach()

# The tools (TOOLS: the names tools/CMakeLists.txt installs) are executables in bin/.
string(REPLACE "," ";" TOOLS "${TOOLS}")
foreach(_tool IN LISTS TOOLS)
    if(NOT EXISTS "${PREFIX}/bin/${_tool}" OR IS_DIRECTORY "${PREFIX}/bin/${_tool}")
        message(FATAL_ERROR "installed tree lacks bin/${_tool}")
    endif()
    execute_process(COMMAND "${PREFIX}/bin/${_tool}" --version RESULT_VARIABLE _rc
                    OUTPUT_QUIET ERROR_QUIET)
    if(NOT _rc EQUAL 0)
        message(FATAL_ERROR "installed bin/${_tool} --version failed (${_rc})")
    endif()
endforeach()

# Nothing but headers, package files and those tools may be installed (no test binaries, no
# sources).
file(GLOB_RECURSE _all RELATIVE "${PREFIX}" "${PREFIX}/*")
foreach(_file IN LISTS _all)
    get_filename_component(_name "${_file}" NAME)
    if(NOT _file MATCHES "^include/ovlcore/.*\\.hpp$" AND NOT _file MATCHES "^share/(cmake/ovlcore|pkgconfig)/"
       AND NOT (_file MATCHES "^bin/[^/]+$" AND _name IN_LIST TOOLS))
        message(FATAL_ERROR "unexpected installed file: ${_file}")
    endif()
endforeach()
message(STATUS "ovlcore installed into ${PREFIX}")
