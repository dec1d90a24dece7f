// SPDX-License-Identifier: MIT
// Driver of the compile checks: links every generated header TU and the two all-headers TUs, so a
// non-inline definition in a header fails the link with "multiple definition".
int ovlcore_compile_all_headers_1();
int ovlcore_compile_all_headers_2();
int ovlcore_compile_umbrella_twice();

int main() {
    return (ovlcore_compile_all_headers_1() == 1 && ovlcore_compile_all_headers_2() == 2 &&
            ovlcore_compile_umbrella_twice() == 0)
               ? 0
               : 1;
}
