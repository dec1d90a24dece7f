# SPDX-License-Identifier: MIT
# Umbrella check (docs/contributing.md §1): include/ovlcore/ovlcore.hpp must include every public
# top-level header include/ovlcore/*.hpp except itself and the opt-in fmt.hpp; it must not include
# detail/ headers, the opt-in fmt.hpp, the Linux-only backend/posix.hpp, backend/erofs.hpp and
# backend/module_defaults_sysfs.hpp, or headers that do not exist.
# Usage: cmake -DINCLUDE_DIR=<repo>/include -P check_umbrella.cmake
cmake_minimum_required(VERSION 3.21)
if(NOT INCLUDE_DIR)
    message(FATAL_ERROR "pass -DINCLUDE_DIR=<repo>/include")
endif()
set(_umbrella "${INCLUDE_DIR}/ovlcore/ovlcore.hpp")
if(NOT EXISTS "${_umbrella}")
    message(FATAL_ERROR "missing umbrella header ${_umbrella}")
endif()

file(STRINGS "${_umbrella}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
set(_included "")
foreach(_line IN LISTS _lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*$" "\\1" _name "${_line}")
    if(_name MATCHES "^ovlcore/")
        string(REGEX REPLACE "^ovlcore/" "" _name "${_name}")
    elseif(NOT EXISTS "${INCLUDE_DIR}/ovlcore/${_name}")
        continue() # a standard header
    endif()
    list(APPEND _included "${_name}")
endforeach()

set(_errors "")
file(GLOB _public RELATIVE "${INCLUDE_DIR}/ovlcore" "${INCLUDE_DIR}/ovlcore/*.hpp")
list(SORT _public)
foreach(_header IN LISTS _public)
    if(_header STREQUAL "ovlcore.hpp" OR _header STREQUAL "fmt.hpp")
        continue()
    endif()
    if(NOT _header IN_LIST _included)
        list(APPEND _errors "public header ovlcore/${_header} is missing from ovlcore.hpp")
    endif()
endforeach()
foreach(_name IN LISTS _included)
    if(NOT EXISTS "${INCLUDE_DIR}/ovlcore/${_name}")
        list(APPEND _errors "ovlcore.hpp includes ${_name}, which does not exist")
    elseif(_name MATCHES "^detail/" OR _name STREQUAL "fmt.hpp" OR _name STREQUAL "backend/posix.hpp"
           OR _name STREQUAL "backend/erofs.hpp"
           OR _name STREQUAL "backend/module_defaults_sysfs.hpp" OR _name STREQUAL "ovlcore.hpp")
        list(APPEND _errors "ovlcore.hpp must not include ${_name} (internal, opt-in or platform)")
    endif()
endforeach()

if(_errors)
    list(JOIN _errors "\n  " _text)
    message(FATAL_ERROR "umbrella check failed:\n  ${_text}")
endif()
list(LENGTH _included _n)
message(STATUS "umbrella check: ovlcore.hpp includes ${_n} headers, none missing")
