// SPDX-License-Identifier: MIT
// bench_common.h: what floor.c and walk.c share, so that their figures mean the same thing: the
// run counters and their JSON line, the options both take, the clocks, reading a file's data into the counters (--read),
// and the list of lookup paths. Included by exactly one .c file per program (state is static);
// that file defines _GNU_SOURCE first (getline, dirent64). See benchmarks/README.md.
#ifndef OVLCORE_BENCH_COMMON_H
#define OVLCORE_BENCH_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum read_mode { READ_NONE, READ_ALL, READ_FIRST };

struct counts {
    uint64_t entries, dirs, files, bytes, sum_all, sum_first, lookups, hits, errors;
};

static enum read_mode g_read = READ_NONE;
static int g_stat = 1; // 0 after --no-stat
static struct counts g_c;
static unsigned char g_buf[1 << 17];

static inline uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
// CPU time of this process (user + system, including the kernel work done on its behalf)
static inline uint64_t cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }

// Takes an option both tools have at argv[*i], moving *i past its argument: -k RUNS (into *runs),
// --read all|first|none (g_read; anything else is none), --no-stat (g_stat = 0; what is then
// left unstated is each tool's own). 0 when argv[*i] is none of them.
static inline int common_option(int argc, char** argv, int* i, int* runs) {
    if (!strcmp(argv[*i], "-k") && *i + 1 < argc) {
        *runs = atoi(argv[++*i]);
    } else if (!strcmp(argv[*i], "--read") && *i + 1 < argc) {
        const char* m = argv[++*i];
        g_read = !strcmp(m, "all") ? READ_ALL : !strcmp(m, "first") ? READ_FIRST : READ_NONE;
    } else if (!strcmp(argv[*i], "--no-stat")) {
        g_stat = 0;
    } else {
        return 0;
    }
    return 1;
}

// Reads the open file `fd` as g_read says (its first byte, or all of it) into the counters.
static inline void consume(int fd) {
    if (g_read == READ_FIRST) {
        unsigned char b;
        ssize_t n = read(fd, &b, 1);
        if (n == 1)
            g_c.sum_first += b;
        else if (n < 0)
            g_c.errors++;
        return;
    }
    int first = 1;
    for (;;) {
        ssize_t n = read(fd, g_buf, sizeof g_buf);
        if (n < 0) {
            g_c.errors++;
            break;
        }
        if (n == 0) break;
        if (first) g_c.sum_first += g_buf[0];
        first = 0;
        g_c.bytes += (uint64_t)n;
        uint64_t s = 0;
        for (ssize_t i = 0; i < n; i++) s += g_buf[i];
        g_c.sum_all += s;
    }
}

// The non-empty lines of `path` (exits 2 when it cannot be read); their number in *count.
static inline char** load_lines(const char* path, size_t* count) {
    FILE* f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    char** v = malloc(cap * sizeof *v);
    char* line = NULL;
    size_t lcap = 0;
    ssize_t l;
    while ((l = getline(&line, &lcap, f)) > 0) {
        if (line[l - 1] == '\n') line[--l] = 0;
        if (l == 0) continue;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *count = n;
    return v;
}

// The JSON line of run `r`: wall time `t` and CPU time `ct` (ns) over `units` entries or
// lookups, then the counters (the runner checks that every implementation counts the same).
static inline void print_run(int r, uint64_t t, uint64_t ct, uint64_t units) {
    printf(
        "{\"run\":%d,\"ns\":%llu,\"units\":%llu,\"ns_per\":%.1f,\"cpu_ns_per\":%.1f,\"entries\":%"
        "llu,"
        "\"dirs\":%llu,\"files\":%llu,\"bytes\":%llu,\"sum_all\":%llu,\"sum_first\":%llu,"
        "\"lookups\":%llu,\"hits\":%llu,\"errors\":%llu}\n",
        r, (unsigned long long)t, (unsigned long long)units,
        units ? (double)t / (double)units : 0.0, units ? (double)ct / (double)units : 0.0,
        (unsigned long long)g_c.entries, (unsigned long long)g_c.dirs,
        (unsigned long long)g_c.files, (unsigned long long)g_c.bytes,
        (unsigned long long)g_c.sum_all, (unsigned long long)g_c.sum_first,
        (unsigned long long)g_c.lookups, (unsigned long long)g_c.hits,
        (unsigned long long)g_c.errors);
    fflush(stdout);
}

#endif
