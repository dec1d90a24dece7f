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

enum read_mode { READ_NONE, READ_ALL, READ_FIRST };

struct counts {
    uint64_t entries, dirs, files, bytes, sum_all, sum_first, lookups, hits, errors;
};

static enum read_mode g_read = READ_NONE;
static int g_stat = 1;
static struct counts g_c;
static unsigned char g_buf[1 << 17];

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
// CPU time of this process (user + system, including the kernel work done on its behalf)
static uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

static void read_file(int dirfd, const char *name) {
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        g_c.errors++;
        return;
    }
    if (g_read == READ_FIRST) {
        unsigned char b;
        ssize_t n = read(fd, &b, 1);
        if (n == 1)
            g_c.sum_first += b;
        else if (n < 0)
            g_c.errors++;
    } else {
        int first = 1;
        for (;;) {
            ssize_t n = read(fd, g_buf, sizeof g_buf);
            if (n < 0) {
                g_c.errors++;
                break;
            }
            if (n == 0)
                break;
            if (first)
                g_c.sum_first += g_buf[0];
            first = 0;
            g_c.bytes += (uint64_t)n;
            uint64_t s = 0;
            for (ssize_t i = 0; i < n; i++)
                s += g_buf[i];
            g_c.sum_all += s;
        }
    }
    close(fd);
}

static void walk_dir(int dirfd) {
    // The listing is read completely before recursing (one open directory per level).
    size_t cap = 1 << 16, len = 0;
    char *names = malloc(cap);
    char dbuf[1 << 15];
    for (;;) {
        long n = syscall(SYS_getdents64, dirfd, dbuf, sizeof dbuf);
        if (n < 0) {
            g_c.errors++;
            break;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(dbuf + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0)))
                continue;
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
        const char *nm = names + i;
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
            if (g_read != READ_NONE)
                read_file(dirfd, nm);
        }
    }
    free(names);
}

static char **load_lines(const char *path, size_t *count) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    char **v = malloc(cap * sizeof *v);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t l;
    while ((l = getline(&line, &lcap, f)) > 0) {
        if (line[l - 1] == '\n')
            line[--l] = 0;
        if (l == 0)
            continue;
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *count = n;
    return v;
}

int main(int argc, char **argv) {
    int runs = 1;
    const char *lookup = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-k") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--read") && i + 1 < argc) {
            const char *m = argv[++i];
            g_read = !strcmp(m, "all") ? READ_ALL : !strcmp(m, "first") ? READ_FIRST : READ_NONE;
        } else if (!strcmp(argv[i], "--no-stat"))
            g_stat = 0;
        else if (!strcmp(argv[i], "--lookup") && i + 1 < argc)
            lookup = argv[++i];
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: walk [-k RUNS] [--read none|all|first] [--no-stat] "
                            "[--lookup PATHS] DIR\n");
            return 64;
        }
    }
    if (!dir) {
        fprintf(stderr, "walk: no directory\n");
        return 64;
    }
    size_t npaths = 0;
    char **paths = lookup ? load_lines(lookup, &npaths) : NULL;
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
        printf("{\"run\":%d,\"ns\":%llu,\"units\":%llu,\"ns_per\":%.1f,\"cpu_ns_per\":%.1f,\"entries\":%llu,"
               "\"dirs\":%llu,\"files\":%llu,\"bytes\":%llu,\"sum_all\":%llu,\"sum_first\":%llu,"
               "\"lookups\":%llu,\"hits\":%llu,\"errors\":%llu}\n",
               r, (unsigned long long)t, (unsigned long long)units,
               units ? (double)t / (double)units : 0.0, units ? (double)ct / (double)units : 0.0,
               (unsigned long long)g_c.entries,
               (unsigned long long)g_c.dirs, (unsigned long long)g_c.files,
               (unsigned long long)g_c.bytes, (unsigned long long)g_c.sum_all,
               (unsigned long long)g_c.sum_first, (unsigned long long)g_c.lookups,
               (unsigned long long)g_c.hits, (unsigned long long)g_c.errors);
        fflush(stdout);
    }
    return 0;
}
