# SPDX-License-Identifier: MIT
# ctest smoke test of the demo flow (what scripts/demo.sh shows): materialise a scenario with
# ovl-mkstack, then dump ovlcore's view of it with ovl-tree, readable and as JSON lines.
# Usage: cmake -DMKSTACK=... -DOVL_TREE=... -DSCENARIO=... -DWORK_DIR=... -P ovlcoreRunDemo.cmake
cmake_minimum_required(VERSION 3.21)
foreach(_var MKSTACK OVL_TREE SCENARIO WORK_DIR)
    if(NOT DEFINED ${_var})
        message(FATAL_ERROR "${_var} is not set")
    endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_stack "${WORK_DIR}/stack")
execute_process(COMMAND "${MKSTACK}" "${SCENARIO}" "${_stack}"
                OUTPUT_VARIABLE _options OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0 OR _options STREQUAL "")
    message(FATAL_ERROR "ovl-mkstack ${SCENARIO} ${_stack} failed (${_rc}), output: '${_options}'")
endif()
message(STATUS "options: ${_options}")

# Options are resolved relative to the directory holding the layers (tests/data/kernel/README.md).
foreach(_format "" "jsonl")
    if(_format)
        set(_args -o "${_options}" --format ${_format})
    else()
        set(_args -o "${_options}")
    endif()
    execute_process(COMMAND "${OVL_TREE}" ${_args} WORKING_DIRECTORY "${_stack}"
                    OUTPUT_VARIABLE _out RESULT_VARIABLE _rc)
    message(STATUS "ovl-tree ${_args}:\n${_out}")
    if(NOT _rc EQUAL 0 OR _out STREQUAL "")
        message(FATAL_ERROR "ovl-tree ${_args} failed (${_rc}) or printed nothing")
    endif()
endforeach()
