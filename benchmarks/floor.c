// SPDX-License-Identifier: MIT
// floor.c: the syscall floor of a userspace overlay reader over real directories: what any
// implementation of the merged view must at least ask the kernel for (spec §3, §5, §6, §8).
// Timings are JSON lines, one per run, in the format of walk.c. See benchmarks/README.md.
//
//   floor probe|merge [-k RUNS] [--read none|all|first] [--no-stat] [--all-metacopy]
//                     --lowers A:B:C [--data D[:E]]
//   floor lookup      [-k RUNS] --paths PATHS.txt --lowers A:B:C [--data D]
//
// Layer paths are taken relative to the working directory, top layer first.
//
// merge  (floor-merge): each merged directory reads each of its layer copies once with
//        getdents64, merges the names (first layer wins; a winning DT_CHR is checked for
//        0:0 = whiteout; a winning dir collects the same-named dirs below until a non-dir),
//        then stats only the winning entry. Per directory copy (except in the bottom layer)
//        it reads trusted.overlay.opaque and .redirect on the open directory. Regular files
//        are probed for trusted.overlay.metacopy only on stacks with data-only layers, unless
//        --all-metacopy is given (floor-merge+mc).
// probe  (floor-probe): the same merged listing of names, then per name the kernel's lookup:
//        one fstatat per layer top-down (within the parent's layers) until a non-dir, a
//        whiteout, an opaque dir or the bottom, plus the xattr reads the kernel makes
//        (metacopy on regular files outside the bottom layer, or everywhere with data-only
//        layers; opaque and redirect on directories outside the bottom layer).
// lookup (floor-probe per lookup): the probe for one path; parent directories are resolved once
//        and cached (as the kernel's dcache does), so later runs pay only the last component.
// --no-stat (merge): the merged listing only (W4 readdir): stats only winning DT_CHR entries.
// --all-metacopy (merge, probe): read trusted.overlay.metacopy of every regular file the kernel
//        reads it of (spec §5.1 step 6: the winning regular file, in every layer, bottom included),
//        since a metacopy xattr anywhere changes the answer (EPERM without metacopy=on, EIO
//        without data below). An implementation that gives the kernel's answers cannot skip it.
// Reads: metacopy files with an absolute redirect are read from the first data-only layer
// that has the object (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV, spec §6).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#ifndef SYS_getxattrat
#  define SYS_getxattrat 464
#endif

enum mode { MODE_MERGE, MODE_PROBE, MODE_LOOKUP };

static enum mode g_mode = MODE_MERGE;
static int g_nlayers, g_ndata;
static int g_all_metacopy; // --all-metacopy
static int *g_root, *g_dataroot;
static int g_have_getxattrat = 1;

#define XO "trusted.overlay."

struct xattr_args_compat {
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};

// getxattr of (dirfd, name) without following a final symlink: getxattrat (6.13+), else
// lgetxattr through /proc/self/fd. Returns the size, or -1 (errno ENODATA when absent).
static ssize_t xattr_at(int dirfd, const char* name, const char* xname, char* buf, size_t size) {
    if (g_have_getxattrat) {
        struct xattr_args_compat a = {(uint64_t)(uintptr_t)buf, (uint32_t)size, 0};
        long r = syscall(SYS_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, xname, &a, sizeof a);
        if (r >= 0 || errno != ENOSYS) return r;
        g_have_getxattrat = 0;
    }
    char p[4096];
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dirfd, name);
    return lgetxattr(p, xname, buf, size);
}

static int is_opaque_fd(int fd) {
    char v[8];
    ssize_t n = fgetxattr(fd, XO "opaque", v, sizeof v);
    if (n < 0 || n > 1) {
        n = 0;
        v[0] = 0;
    }
    char r[4096];
    if (!(n == 1 && v[0] == 'y'))
        (void)fgetxattr(fd, XO "redirect", r,
                        sizeof r); // read as the kernel does; no redirects here
    return n == 1 && v[0] == 'y';
}

// Open the data of a regular file found as (dirfd, name); `redirect` is the absolute redirect
// of a metacopy file ("" for an ordinary file).
static void read_regular(int dirfd, const char* name, const char* redirect) {
    int fd = -1;
    if (redirect[0] == '/') {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV};
        for (int i = 0; i < g_ndata && fd < 0; i++)
            fd = (int)syscall(SYS_openat2, g_dataroot[i], redirect + 1, &how, sizeof how);
    } else {
        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        g_c.errors++;
        return;
    }
    consume(fd);
    close(fd);
}

// Reads the metacopy/redirect pair of a regular file; fills `redirect` ("" if not metacopy).
static void metacopy_redirect(int dirfd, const char* name, char* redirect, size_t size) {
    redirect[0] = 0;
    char v[128];
    if (xattr_at(dirfd, name, XO "metacopy", v, sizeof v) < 0) return;
    if (g_ndata == 0) return;
    ssize_t n = xattr_at(dirfd, name, XO "redirect", redirect, size - 1);
    redirect[n > 0 ? n : 0] = 0;
}

// ---------------------------------------------------------------------------------------------
// Merged listing: the names of one merged directory, first layer wins.

struct mentry {
    uint32_t name; // offset in arena
    uint8_t dtype;
    uint8_t stop;
    uint16_t pad;
    int win; // index into the directory's layer arrays
    int ndl, capdl;
    int* dl; // for a winning dir: indices of the layers holding the dir (win first)
};

struct mlist {
    char* arena;
    size_t alen, acap;
    struct mentry* e;
    size_t n, cap;
    uint32_t* tab; // open addressing, entry index + 1
    size_t tcap;
};

static uint64_t hash_name(const char* s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static void ml_grow_tab(struct mlist* m) {
    size_t nc = m->tcap ? m->tcap * 2 : 1024;
    uint32_t* t = calloc(nc, sizeof *t);
    for (size_t i = 0; i < m->n; i++) {
        size_t h = hash_name(m->arena + m->e[i].name) & (nc - 1);
        while (t[h]) h = (h + 1) & (nc - 1);
        t[h] = (uint32_t)(i + 1);
    }
    free(m->tab);
    m->tab = t;
    m->tcap = nc;
}

static void ml_add(struct mlist* m, const char* name, uint8_t dtype, int layer) {
    if ((m->n + 1) * 2 > m->tcap) ml_grow_tab(m);
    size_t h = hash_name(name) & (m->tcap - 1);
    while (m->tab[h]) {
        struct mentry* e = &m->e[m->tab[h] - 1];
        if (!strcmp(m->arena + e->name, name)) {
            if (e->stop || e->dtype != DT_DIR) return;
            if (dtype != DT_DIR) { // a non-dir (or whiteout) below ends the dir's merge
                e->stop = 1;
                return;
            }
            if (e->ndl == e->capdl)
                e->dl =
                    realloc(e->dl, (size_t)(e->capdl = e->capdl ? e->capdl * 2 : 4) * sizeof(int));
            e->dl[e->ndl++] = layer;
            return;
        }
        h = (h + 1) & (m->tcap - 1);
    }
    size_t l = strlen(name) + 1;
    if (m->alen + l > m->acap) {
        m->acap = (m->alen + l) * 2 + 4096;
        m->arena = realloc(m->arena, m->acap);
    }
    memcpy(m->arena + m->alen, name, l);
    if (m->n == m->cap) m->e = realloc(m->e, (m->cap = m->cap ? m->cap * 2 : 256) * sizeof *m->e);
    struct mentry* e = &m->e[m->n];
    memset(e, 0, sizeof *e);
    e->name = (uint32_t)m->alen;
    e->dtype = dtype;
    e->win = layer;
    if (dtype == DT_DIR) {
        e->dl = malloc(4 * sizeof(int));
        e->capdl = 4;
        e->dl[e->ndl++] = layer;
    }
    m->alen += l;
    m->tab[h] = (uint32_t)(++m->n);
}

static void ml_free(struct mlist* m) {
    for (size_t i = 0; i < m->n; i++) free(m->e[i].dl);
    free(m->arena);
    free(m->e);
    free(m->tab);
}

static void ml_read(struct mlist* m, const int* fds, int n) {
    char dbuf[1 << 15];
    for (int i = 0; i < n; i++) {
        for (;;) {
            long r = syscall(SYS_getdents64, fds[i], dbuf, sizeof dbuf);
            if (r <= 0) {
                if (r < 0) g_c.errors++;
                break;
            }
            for (long off = 0; off < r;) {
                struct dirent64* d = (struct dirent64*)(dbuf + off);
                off += d->d_reclen;
                const char* nm = d->d_name;
                if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
                ml_add(m, nm, d->d_type, i);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Probe of one name in a directory's layers (kernel lookup order).

struct probe {
    int found;      // 0 absent, 1 found
    struct stat st; // of the topmost entry
    int win;        // index of the winning layer copy
    int ndl;        // dir: layer copies (indices), opaque stops applied
    int dl[512];
    char redirect[4096]; // metacopy: absolute redirect
};

static void probe_name(const int* fds, const int* layers, int n, const char* name,
                       struct probe* p) {
    p->found = 0;
    p->ndl = 0;
    p->redirect[0] = 0;
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (fstatat(fds[i], name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) g_c.errors++;
            continue;
        }
        int bottom = layers[i] == g_nlayers - 1;
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
            return; // whiteout: hides this and everything below
        if (!S_ISDIR(st.st_mode)) {
            if (p->found) return; // non-dir below a dir ends the merge
            p->found = 1;
            p->st = st;
            p->win = i;
            if (S_ISREG(st.st_mode) && (!bottom || g_ndata || g_all_metacopy))
                metacopy_redirect(fds[i], name, p->redirect, sizeof p->redirect);
            return;
        }
        if (!p->found) {
            p->found = 1;
            p->st = st;
            p->win = i;
        }
        if (p->ndl < 512) p->dl[p->ndl++] = i;
        if (!bottom) {
            char v[8], r[4096];
            ssize_t k = xattr_at(fds[i], name, XO "opaque", v, sizeof v);
            if (k == 1 && v[0] == 'y') return;
            (void)xattr_at(fds[i], name, XO "redirect", r, sizeof r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Walks.

static void walk_dir(const int* fds, const int* layers, int n);

static void descend(const int* fds, const int* layers, const int* dl, int ndl, const char* name,
                    int check_opaque) {
    int cfds[ndl > 0 ? ndl : 1], clay[ndl > 0 ? ndl : 1], cn = 0;
    cfds[0] = clay[0] = -1;
    for (int j = 0; j < ndl; j++) {
        int fd = openat(fds[dl[j]], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            g_c.errors++;
            continue;
        }
        cfds[cn] = fd;
        clay[cn++] = layers[dl[j]];
        if (check_opaque && layers[dl[j]] != g_nlayers - 1 && is_opaque_fd(fd)) break;
    }
    walk_dir(cfds, clay, cn);
    for (int j = 0; j < cn; j++) close(cfds[j]);
}

static void walk_dir(const int* fds, const int* layers, int n) {
    struct mlist m = {0};
    ml_read(&m, fds, n);
    if (g_mode == MODE_MERGE) {
        for (size_t i = 0; i < m.n; i++) {
            struct mentry* e = &m.e[i];
            const char* name = m.arena + e->name;
            struct stat st;
            if (!g_stat && e->dtype != DT_CHR && e->dtype != DT_UNKNOWN)
                st.st_mode = e->dtype == DT_DIR ? S_IFDIR : e->dtype == DT_REG ? S_IFREG : 0;
            else if (fstatat(fds[e->win], name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                g_c.errors++;
                continue;
            }
            if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) continue; // whiteout
            g_c.entries++;
            if (S_ISDIR(st.st_mode)) {
                g_c.dirs++;
                descend(fds, layers, e->dl, e->ndl, name, 1);
            } else if (S_ISREG(st.st_mode)) {
                g_c.files++;
                char redirect[4096] = "";
                if (g_ndata || g_all_metacopy)
                    metacopy_redirect(fds[e->win], name, redirect, sizeof redirect);
                if (g_read != READ_NONE) read_regular(fds[e->win], name, redirect);
            }
        }
    } else {
        static struct probe p; // not reentrant across recursion: copied out before descending
        for (size_t i = 0; i < m.n; i++) {
            const char* name = m.arena + m.e[i].name;
            probe_name(fds, layers, n, name, &p);
            if (!p.found) continue;
            g_c.entries++;
            if (S_ISDIR(p.st.st_mode)) {
                g_c.dirs++;
                int ndl = p.ndl, dl[512];
                memcpy(dl, p.dl, (size_t)ndl * sizeof(int));
                descend(fds, layers, dl, ndl, name, 0);
            } else if (S_ISREG(p.st.st_mode)) {
                g_c.files++;
                if (g_read != READ_NONE) read_regular(fds[p.win], name, p.redirect);
            }
        }
    }
    ml_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Lookups with a directory cache.

struct dnode {
    char* path;
    int n; // 0 = negative (not a directory)
    int *fds, *layers;
    struct dnode* next;
};

static struct dnode* g_dcache[1 << 14];
static struct dnode g_rootnode;

static struct dnode* get_dir(const char* path, size_t len) {
    if (len == 0) return &g_rootnode;
    char key[4096];
    memcpy(key, path, len);
    key[len] = 0;
    size_t h = hash_name(key) & ((1 << 14) - 1);
    for (struct dnode* d = g_dcache[h]; d; d = d->next)
        if (!strcmp(d->path, key)) return d;
    const char* slash = memrchr(path, '/', len);
    size_t plen = slash ? (size_t)(slash - path) : 0;
    const char* name = slash ? slash + 1 : path;
    struct dnode* parent = get_dir(path, plen);
    struct dnode* d = calloc(1, sizeof *d);
    d->path = strdup(key);
    if (parent->n > 0) {
        char nm[256];
        size_t nl = len - (size_t)(name - path);
        memcpy(nm, name, nl);
        nm[nl] = 0;
        static struct probe p;
        probe_name(parent->fds, parent->layers, parent->n, nm, &p);
        if (p.found && S_ISDIR(p.st.st_mode)) {
            d->fds = malloc((size_t)p.ndl * sizeof(int));
            d->layers = malloc((size_t)p.ndl * sizeof(int));
            for (int j = 0; j < p.ndl; j++) {
                int fd = openat(parent->fds[p.dl[j]], nm,
                                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) continue;
                d->fds[d->n] = fd;
                d->layers[d->n++] = parent->layers[p.dl[j]];
            }
        }
    }
    d->next = g_dcache[h];
    g_dcache[h] = d;
    return d;
}

static void lookup_one(const char* path) {
    g_c.lookups++;
    const char* slash = strrchr(path, '/');
    struct dnode* d = get_dir(path, slash ? (size_t)(slash - path) : 0);
    if (d->n == 0) return;
    static struct probe p;
    probe_name(d->fds, d->layers, d->n, slash ? slash + 1 : path, &p);
    if (p.found) g_c.hits++;
}

// ---------------------------------------------------------------------------------------------

static int split_open(const char* list, int** out) {
    int n = 0, cap = 16;
    int* v = malloc((size_t)cap * sizeof(int));
    char *copy = strdup(list), *save = NULL;
    for (char* t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
        int fd = open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            perror(t);
            exit(2);
        }
        if (n == cap) v = realloc(v, (size_t)(cap *= 2) * sizeof(int));
        v[n++] = fd;
    }
    free(copy);
    *out = v;
    return n;
}

int main(int argc, char** argv) {
    int runs = 1;
    const char *lowers = NULL, *data = NULL, *paths_file = NULL;
    if (argc < 2) goto usage;
    if (!strcmp(argv[1], "merge"))
        g_mode = MODE_MERGE;
    else if (!strcmp(argv[1], "probe"))
        g_mode = MODE_PROBE;
    else if (!strcmp(argv[1], "lookup"))
        g_mode = MODE_LOOKUP;
    else
        goto usage;
    for (int i = 2; i < argc; i++) {
        if (common_option(argc, argv, &i, &runs)) continue;
        if (!strcmp(argv[i], "--lowers") && i + 1 < argc)
            lowers = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--paths") && i + 1 < argc)
            paths_file = argv[++i];
        else if (!strcmp(argv[i], "--all-metacopy"))
            g_all_metacopy = 1;
        else
            goto usage;
    }
    if (!lowers || (g_mode == MODE_LOOKUP && !paths_file)) goto usage;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    g_nlayers = split_open(lowers, &g_root);
    if (g_nlayers > 512) {
        fprintf(stderr, "floor: at most 512 layers\n");
        return 64;
    }
    if (data) g_ndata = split_open(data, &g_dataroot);
    int* layer_idx = malloc((size_t)g_nlayers * sizeof(int));
    for (int i = 0; i < g_nlayers; i++) layer_idx[i] = i;
    g_rootnode.path = "";
    g_rootnode.n = g_nlayers;
    g_rootnode.fds = g_root;
    g_rootnode.layers = layer_idx;
    size_t npaths = 0;
    char** paths = paths_file ? load_lines(paths_file, &npaths) : NULL;
    for (int r = 0; r < runs; r++) {
        memset(&g_c, 0, sizeof g_c);
        for (int i = 0; i < g_nlayers; i++) lseek(g_root[i], 0, SEEK_SET);
        uint64_t t0 = now_ns(), c0 = cpu_ns();
        if (g_mode == MODE_LOOKUP)
            for (size_t i = 0; i < npaths; i++) lookup_one(paths[i]);
        else
            walk_dir(g_root, layer_idx, g_nlayers);
        uint64_t t = now_ns() - t0, ct = cpu_ns() - c0;
        uint64_t units = g_mode == MODE_LOOKUP ? g_c.lookups : g_c.entries;
        print_run(r, t, ct, units);
    }
    return 0;
usage:
    fprintf(stderr,
            "usage: floor merge|probe [-k RUNS] [--read none|all|first] [--no-stat] "
            "[--all-metacopy] --lowers A:B "
            "[--data D]\n       floor lookup [-k RUNS] --paths FILE --lowers A:B [--data D]\n");
    return 64;
}
