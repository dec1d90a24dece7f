# SPDX-License-Identifier: MIT
# ctest fixture: install the configured ovlcore build tree BUILD_DIR into a fresh PREFIX and check
# that the package files are where find_package and pkg-config look for them.
# Usage: cmake -DBUILD_DIR=... -DPREFIX=... -P install_into_prefix.cmake
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

# Nothing but headers and package files may be installed (no test binaries, no sources).
file(GLOB_RECURSE _all RELATIVE "${PREFIX}" "${PREFIX}/*")
foreach(_file IN LISTS _all)
    if(NOT _file MATCHES "^include/ovlcore/.*\\.hpp$" AND NOT _file MATCHES "^share/(cmake/ovlcore|pkgconfig)/")
        message(FATAL_ERROR "unexpected installed file: ${_file}")
    endif()
endforeach()
message(STATUS "ovlcore installed into ${PREFIX}")
