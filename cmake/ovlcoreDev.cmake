# SPDX-License-Identifier: MIT
# Helpers for ovlcore's own test, example and tool targets. Not installed.
include_guard(GLOBAL)

# ovlcore_apply_sanitizers(<target>...): compile and link the targets with OVLCORE_SANITIZE
# (e.g. "address;undefined"), failing hard on the first report (-fno-sanitize-recover=all).
function(ovlcore_apply_sanitizers)
    if(NOT OVLCORE_SANITIZE)
        return()
    endif()
    list(JOIN OVLCORE_SANITIZE "," _list)
    foreach(_target IN LISTS ARGN)
        target_compile_options(${_target} PRIVATE -fsanitize=${_list} -fno-sanitize-recover=all
                                                  -fno-omit-frame-pointer)
        target_link_options(${_target} PRIVATE -fsanitize=${_list} -fno-sanitize-recover=all)
        # ASan's instrumented data holds millions of pointers, which a position-independent
        # executable relocates at every start (0.5 s per test process): link at a fixed address.
        if("address" IN_LIST OVLCORE_SANITIZE)
            target_link_options(${_target} PRIVATE -no-pie)
        endif()
    endforeach()
endfunction()

