// SPDX-License-Identifier: MIT
// walk.c: times a walk of any mounted tree (kernel overlay, fuse-overlayfs, ovl-fuse, a plain
// directory): getdents64 recursion + fstatat(AT_SYMLINK_NOFOLLOW) of every entry, optional reads;
// or N lookups from a list. One JSON line per run on stdout. See benchmarks/README.md.
//
//   walk [-k RUNS] [--read none|all|first] [--no-stat] DIR
//   walk [-k RUNS] --lookup PATHS.txt DIR
//
// Run 1 on a fresh mount is "warm" (layers in the page cache, overlay caches empty); runs 2..k
// on the same mount are "hot". Counts (entries, files, bytes, byte sums) are printed so the
// runner can check that every implementation shows the same merged tree.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

static void read_file(int dirfd, const char* name) {
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        g_c.errors++;
        return;
    }
    consume(fd);
    close(fd);
}

static void walk_dir(int dirfd) {
    // The listing is read completely before recursing (one open directory per level).
    size_t cap = 1 << 16, len = 0;
    char* names = malloc(cap);
    char dbuf[1 << 15];
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, dbuf, sizeof dbuf);
        if (n < 0) {
            g_c.errors++;
            break;
        }
        if (n == 0) break;
        for (long off = 0; off < n;) {
            struct dirent64* d = (struct dirent64*)(dbuf + off);
            off += d->d_reclen;
            const char* nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
            size_t l = strlen(nm);
            if (len + l + 2 > cap) {
                cap *= 2;
                names = realloc(names, cap);
            }
            names[len++] = (char)d->d_type;
            memcpy(names + len, nm, l + 1);
            len += l + 1;
        }
    }
    for (size_t i = 0; i < len;) {
        unsigned char dt = (unsigned char)names[i++];
        const char* nm = names + i;
        i += strlen(nm) + 1;
        g_c.entries++;
        int is_dir = dt == DT_DIR, is_reg = dt == DT_REG;
        if (g_stat) {
            struct stat st;
            if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                g_c.errors++;
                continue;
            }
            is_dir = S_ISDIR(st.st_mode);
            is_reg = S_ISREG(st.st_mode);
        }
        if (is_dir) {
            g_c.dirs++;
            int fd = openat(dirfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                g_c.errors++;
                continue;
            }
            walk_dir(fd);
            close(fd);
        } else if (is_reg) {
            g_c.files++;
            if (g_read != READ_NONE) read_file(dirfd, nm);
        }
    }
    free(names);
}

int main(int argc, char** argv) {
    int runs = 1;
    const char *lookup = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (common_option(argc, argv, &i, &runs)) continue;
        if (!strcmp(argv[i], "--lookup") && i + 1 < argc)
            lookup = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr,
                    "usage: walk [-k RUNS] [--read none|all|first] [--no-stat] "
                    "[--lookup PATHS] DIR\n");
            return 64;
        }
    }
    if (!dir) {
        fprintf(stderr, "walk: no directory\n");
        return 64;
    }
    size_t npaths = 0;
    char** paths = lookup ? load_lines(lookup, &npaths) : NULL;
    for (int r = 0; r < runs; r++) {
        memset(&g_c, 0, sizeof g_c);
        int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
            perror(dir);
            return 2;
        }
        uint64_t t0 = now_ns(), c0 = cpu_ns();
        if (paths) {
            struct stat st;
            for (size_t i = 0; i < npaths; i++) {
                g_c.lookups++;
                if (fstatat(root, paths[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                    g_c.hits++;
                else if (errno != ENOENT)
                    g_c.errors++;
            }
        } else {
            walk_dir(root);
        }
        uint64_t t = now_ns() - t0, ct = cpu_ns() - c0;
        close(root);
        uint64_t units = paths ? g_c.lookups : g_c.entries;
        print_run(r, t, ct, units);
    }
    return 0;
}
