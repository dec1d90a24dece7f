# SPDX-License-Identifier: MIT
# ctest: compile the find_package consumer's main.cpp with nothing but `pkg-config --cflags ovlcore`
# from the installed PREFIX.
# Usage: cmake -DPKG_CONFIG=... -DPREFIX=... -DCXX=... -DSOURCE=... -DWORK_DIR=... -P this
cmake_minimum_required(VERSION 3.21)
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/share/pkgconfig")
set(ENV{PKG_CONFIG_LIBDIR} "${PREFIX}/share/pkgconfig")
execute_process(COMMAND "${PKG_CONFIG}" --cflags ovlcore OUTPUT_VARIABLE _cflags
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags ovlcore failed (${_rc})")
endif()
message(STATUS "pkg-config --cflags ovlcore: ${_cflags}")
separate_arguments(_cflags UNIX_COMMAND "${_cflags}")
file(MAKE_DIRECTORY "${WORK_DIR}")
execute_process(COMMAND "${CXX}" -std=c++20 ${_cflags} "${SOURCE}" -o "${WORK_DIR}/consumer"
                RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "compiling ${SOURCE} with the pkg-config flags failed (${_rc})")
endif()
execute_process(COMMAND "${WORK_DIR}/consumer" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "the pkg-config consumer failed (${_rc})")
endif()
