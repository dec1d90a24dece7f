#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian/Ubuntu packages ovlcore's build, tests and demo need, and only those that
# `dpkg -s` reports missing (idempotent: a second run installs nothing and touches no network).
set -euo pipefail

packages=(
    cmake make g++ clang pkg-config python3   # toolchain
    libcli11-dev   # the tools' argument parser (tools/common/cli.hpp)
    libssl-dev     # the tools' SHA-256 for dumps (tools/common/evp_sha256.hpp, libcrypto)
    catch2 librapidcheck-dev libfmt-dev nlohmann-json3-dev libbenchmark-dev   # tests, benchmarks
    libfuse3-dev fuse3 fuse-overlayfs   # FUSE example
    erofs-utils   # mkfs.erofs: EROFS images made by the image tests (tests/kernel, tests/tools)
    clang-format-14 clang-tidy-14   # format and tidy lanes (versions pinned by the check scripts)
)

is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for pkg in "${packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "setup-deps: installing ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-deps: apt-get not found; install these packages by hand: ${missing[*]}" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "setup-deps: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if [ "${#still_missing[@]}" -ne 0 ]; then
    echo "setup-deps: still missing after apt-get: ${still_missing[*]}" >&2
    exit 1
fi
echo "setup-deps: done"
