#include "vmtable.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VM_FILE_MAX 4096
#define NBUCKETS 256

struct entry {
    struct entry *next;
    char name[VG_NAME_MAX + 1];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool broken;
    char why[128];
    struct vg_vm vm;
};

struct vg_vmtable {
    char *dir;
    struct entry *buckets[NBUCKETS];
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

struct vg_vmtable *vg_vmtable_new(const char *dir)
{
    struct vg_vmtable *t = vg_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if ((t->dir = vg_strdup(dir)) == NULL) {
        vg_free(t);
        return NULL;
    }
    return t;
}

void vg_vmtable_free(struct vg_vmtable *t)
{
    if (t == NULL)
        return;
    for (unsigned i = 0; i < NBUCKETS; i++) {
        struct entry *e = t->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            vg_free(e);
        }
    }
    vg_free(t->dir);
    vg_free(t);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

struct ports_ctx {
    struct vg_vm *vm;
    char *err;
    size_t errlen;
};

static bool add_range(const char *item, void *arg)
{
    struct ports_ctx *p = arg;
    char lo_s[8], *dash = strchr(item, '-');
    uint16_t lo, hi;
    if (dash) {
        size_t n = (size_t)(dash - item);
        if (n == 0 || n >= sizeof lo_s)
            goto bad;
        memcpy(lo_s, item, n);
        lo_s[n] = '\0';
        if (!vg_parse_port(lo_s, &lo) || !vg_parse_port(dash + 1, &hi) || hi < lo)
            goto bad;
    } else {
        if (!vg_parse_port(item, &lo))
            goto bad;
        hi = lo;
    }
    if (p->vm->nranges == VG_VM_MAX_PORT_RANGES) {
        snprintf(p->err, p->errlen, "more than %d port ranges", VG_VM_MAX_PORT_RANGES);
        return false;
    }
    p->vm->ranges[p->vm->nranges].lo = lo;
    p->vm->ranges[p->vm->nranges].hi = hi;
    p->vm->nranges++;
    return true;
bad:
    snprintf(p->err, p->errlen, "ports: '%s' is not a port or LO-HI range", item);
    return false;
}

static bool add_out_rule(const char *item, void *arg)
{
    struct ports_ctx *p = arg;
    struct vg_vm *vm = p->vm;
    const char *colon = strrchr(item, ':');
    if (colon == NULL || colon == item)
        goto bad;
    if (vm->nout == VG_VM_MAX_OUT_RULES) {
        snprintf(p->err, p->errlen, "allow-out: more than %d rules", VG_VM_MAX_OUT_RULES);
        return false;
    }
    struct vg_out_rule *r = &vm->out[vm->nout];
    const char *name = item;
    size_t nlen = (size_t)(colon - item);
    bool wild = nlen > 2 && item[0] == '*' && item[1] == '.';
    if (wild) {
        name += 2;
        nlen -= 2;
    }
    char norm[VG_NAME_MAX + 1];
    if (vg_name_normalize(name, nlen, norm) != VG_NAME_OK)
        goto bad;
    snprintf(r->pattern, sizeof r->pattern, "%s%s", wild ? "*." : "", norm);
    if (strcmp(colon + 1, "*") == 0) {
        r->lo = 1;
        r->hi = 65535;
    } else {
        struct vg_vm one = {0};
        struct ports_ctx q = {&one, p->err, p->errlen};
        if (!add_range(colon + 1, &q))
            goto bad;
        r->lo = one.ranges[0].lo;
        r->hi = one.ranges[0].hi;
    }
    vm->nout++;
    return true;
bad:
    snprintf(p->err, p->errlen, "allow-out: '%s' is not NAME:PORTS (NAME may be *.ZONE)", item);
    return false;
}

bool vg_vm_out_allowed(const struct vg_vm *vm, const char *name, uint16_t port)
{
    for (unsigned i = 0; i < vm->nout; i++) {
        const struct vg_out_rule *r = &vm->out[i];
        if (port < r->lo || port > r->hi)
            continue;
        if (r->pattern[0] == '*' ? vg_name_under(name, r->pattern + 2)
                                 : strcmp(name, r->pattern) == 0)
            return true;
    }
    return false;
}

bool vg_vm_parse(const char *text, struct vg_vm *vm, char *err, size_t errlen)
{
    char buf[VM_FILE_MAX + 1];
    size_t n = strlen(text);
    bool have_channel = false;
    unsigned lineno = 0;
    if (n > VM_FILE_MAX) {
        snprintf(err, errlen, "file larger than %d bytes", VM_FILE_MAX);
        return false;
    }
    memcpy(buf, text, n + 1);
    memset(vm, 0, sizeof *vm);

    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++; /* counts non-empty lines only: good enough to point at the culprit */
        char *hash_c = strchr(line, '#');
        if (hash_c)
            *hash_c = '\0';
        char *l = trim(line);
        if (*l == '\0')
            continue;
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "line %u: expected key = value", lineno);
            return false;
        }
        *eq = '\0';
        char *key = trim(l), *val = trim(eq + 1);
        if (strcmp(key, "channel") == 0) {
            char why[128];
            if (!vg_chan_parse(val, &vm->chan, why, sizeof why)) {
                snprintf(err, errlen, "channel '%s': %s", val, why);
                return false;
            }
            have_channel = true;
        } else if (strcmp(key, "ports") == 0) {
            struct ports_ctx p = {vm, err, errlen};
            vm->nranges = 0;
            if (!vg_list_foreach(val, add_range, &p))
                return false;
            if (vm->nranges == 0) {
                snprintf(err, errlen, "ports: empty list");
                return false;
            }
        } else if (strcmp(key, "allow-out") == 0) {
            struct ports_ctx p = {vm, err, errlen};
            vm->nout = 0;
            if (!vg_list_foreach(val, add_out_rule, &p))
                return false;
        }
    }
    if (!have_channel) {
        snprintf(err, errlen, "no channel");
        return false;
    }
    return true;
}

bool vg_vm_port_allowed(const struct vg_vm *vm, uint16_t port)
{
    if (vm->nranges == 0)
        return true;
    for (unsigned i = 0; i < vm->nranges; i++)
        if (port >= vm->ranges[i].lo && port <= vm->ranges[i].hi)
            return true;
    return false;
}

static void drop(struct vg_vmtable *t, unsigned b, const char *name)
{
    for (struct entry **pp = &t->buckets[b]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            struct entry *e = *pp;
            *pp = e->next;
            vg_free(e);
            return;
        }
    }
}

enum vg_vm_status vg_vmtable_lookup(struct vg_vmtable *t, const char *name,
                                    const struct vg_vm **vm, char *err, size_t errlen)
{
    unsigned b = hash(name);
    struct stat st;
    char text[VM_FILE_MAX + 1];

    char path[4096];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    if (lstat(path, &st) != 0) {
        drop(t, b, name);
        if (errno == ENOENT || errno == ENOTDIR)
            return VG_VM_UNKNOWN;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return VG_VM_BROKEN;
    }
    if (!S_ISREG(st.st_mode)) {
        drop(t, b, name);
        snprintf(err, errlen, "%s: not a regular file", path);
        return VG_VM_BROKEN;
    }
    struct entry *e = t->buckets[b];
    while (e && strcmp(e->name, name) != 0)
        e = e->next;
    if (e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
        e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec)
        goto found;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        drop(t, b, name);
        if (errno == ENOENT)
            return VG_VM_UNKNOWN;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return VG_VM_BROKEN;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return VG_VM_BROKEN;
    }

    ssize_t n = 0, r;
    while (n < VM_FILE_MAX && (r = read(fd, text + n, (size_t)(VM_FILE_MAX - n))) > 0)
        n += r;
    close(fd);
    text[n < 0 ? 0 : n] = '\0';
    if (e == NULL) {
        if ((e = vg_calloc(1, sizeof *e)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return VG_VM_BROKEN;
        }
        snprintf(e->name, sizeof e->name, "%s", name);
        e->next = t->buckets[b];
        t->buckets[b] = e;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    if (st.st_size > VM_FILE_MAX || strlen(text) != (size_t)n) {
        e->broken = true;
        snprintf(e->why, sizeof e->why, "larger than %d bytes or not text", VM_FILE_MAX);
    } else {
        e->broken = !vg_vm_parse(text, &e->vm, e->why, sizeof e->why);
    }
found:
    if (e->broken) {
        snprintf(err, errlen, "%s: %s", name, e->why);
        return VG_VM_BROKEN;
    }
    *vm = &e->vm;
    return VG_VM_OK;
}
