#include "vg_vmentry.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

/* ---- value parsers: each fills vm (may be a scratch one) ------------------------------------ */

struct item_ctx {
    struct vg_vm *vm;
    char *err;
    size_t errlen;
    char *canon; /* joined items, or NULL */
    size_t canonlen, canonused;
    bool full;
};

static bool canon_add(struct item_ctx *p, const char *item)
{
    if (p->canon == NULL)
        return true;
    int w = snprintf(p->canon + p->canonused, p->canonlen - p->canonused, "%s%s",
                     p->canonused ? "," : "", item);
    if (w < 0 || (size_t)w >= p->canonlen - p->canonused) {
        p->full = true;
        return false;
    }
    p->canonused += (size_t)w;
    return true;
}

static bool parse_range(const char *item, uint16_t *lo, uint16_t *hi)
{
    char lo_s[8];
    const char *dash = strchr(item, '-');
    if (dash == NULL) {
        if (!vg_parse_port(item, lo))
            return false;
        *hi = *lo;
        return true;
    }
    size_t n = (size_t)(dash - item);
    if (n == 0 || n >= sizeof lo_s)
        return false;
    memcpy(lo_s, item, n);
    lo_s[n] = '\0';
    return vg_parse_port(lo_s, lo) && vg_parse_port(dash + 1, hi) && *hi >= *lo;
}

static bool add_range(const char *item, void *arg)
{
    struct item_ctx *p = arg;
    uint16_t lo, hi;
    if (!parse_range(item, &lo, &hi)) {
        snprintf(p->err, p->errlen, "ports: '%s' is not a port or LO-HI range", item);
        return false;
    }
    if (p->vm->nranges == VG_VM_MAX_PORT_RANGES) {
        snprintf(p->err, p->errlen, "ports: more than %d port ranges", VG_VM_MAX_PORT_RANGES);
        return false;
    }
    p->vm->ranges[p->vm->nranges].lo = lo;
    p->vm->ranges[p->vm->nranges].hi = hi;
    p->vm->nranges++;
    return canon_add(p, item);
}

static bool add_out_rule(const char *item, void *arg)
{
    struct item_ctx *p = arg;
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
    } else if (!parse_range(colon + 1, &r->lo, &r->hi)) {
        goto bad;
    }
    vm->nout++;
    return canon_add(p, item);
bad:
    snprintf(p->err, p->errlen,
             "allow-out: '%s' is not NAME:PORTS (NAME may be *.ZONE, PORTS "
             "a port, LO-HI or *)",
             item);
    return false;
}

static bool parse_list(const char *key, const char *value, struct vg_vm *vm, char *canon,
                       size_t canonlen, char *err, size_t errlen)
{
    struct item_ctx p = {vm, err, errlen, canon, canonlen, 0, false};
    char buf[VG_VMENTRY_MAX];
    bool ports = strcmp(key, "ports") == 0;
    if (snprintf(buf, sizeof buf, "%s", value) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: value too long", key);
        return false;
    }
    if (canon && canonlen)
        canon[0] = '\0';
    if (ports)
        vm->nranges = 0;
    else
        vm->nout = 0;
    if (!vg_list_foreach(buf, ports ? add_range : add_out_rule, &p)) {
        if (p.full)
            snprintf(err, errlen, "%s: value too long", key);
        return false;
    }
    if (ports && vm->nranges == 0) {
        snprintf(err, errlen, "ports: empty list (leave the key out to allow every port)");
        return false;
    }
    return true;
}

/* ---- the key table ------------------------------------------------------------------------- */

enum kind { K_NAME, K_CHANNEL, K_PATH, K_HOST, K_LIST };

static const struct {
    const char *key;
    enum kind kind;
    bool settable; /* by an operator through vmgate-reg --set */
} keys[] = {
    {"name", K_NAME, false},  {"channel", K_CHANNEL, false}, {"qmp", K_PATH, false},
    {"owner", K_HOST, false}, {"ports", K_LIST, true},       {"allow-out", K_LIST, true},
};

static int key_index(const char *key)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

bool vg_vmentry_key_known(const char *key)
{
    return key_index(key) >= 0;
}

bool vg_vmentry_key_settable(const char *key)
{
    int i = key_index(key);
    return i >= 0 && keys[i].settable;
}

static bool check(const char *key, const char *value, struct vg_vm *vm, char *canon,
                  size_t canonlen, char *err, size_t errlen)
{
    int i = key_index(key);
    char why[200], norm[VG_NAME_MAX + 1];
    if (i < 0)
        goto plain;
    switch (keys[i].kind) {
    case K_NAME:
        if (vg_name_normalize(value, strlen(value), norm) != VG_NAME_OK) {
            snprintf(err, errlen, "name: '%s' is not a DNS name", value);
            return false;
        }
        break;
    case K_CHANNEL:
        if (!vg_chan_parse(value, &vm->chan, why, sizeof why)) {
            snprintf(err, errlen, "channel '%s': %s", value, why);
            return false;
        }
        break;
    case K_PATH:
        if (!vg_sock_path_ok(value)) {
            snprintf(err, errlen,
                     "%s: '%s' is not an absolute socket path without white space "
                     "of at most %zu octets",
                     key, value, VG_SOCK_PATH_MAX);
            return false;
        }
        break;
    case K_HOST:
        if (value[0] == '\0' || strlen(value) > VG_NAME_MAX || strpbrk(value, " \t") != NULL) {
            snprintf(err, errlen, "%s: '%s' is not a host name", key, value);
            return false;
        }
        break;
    case K_LIST:
        return parse_list(key, value, vm, canon, canonlen, err, errlen);
    }
plain:
    if (canon && snprintf(canon, canonlen, "%s", value) >= (int)canonlen) {
        snprintf(err, errlen, "%s: value too long", key);
        return false;
    }
    return true;
}

bool vg_vmentry_value_check(const char *key, const char *value, char *err, size_t errlen)
{
    struct vg_vm scratch;
    memset(&scratch, 0, sizeof scratch);
    return check(key, value, &scratch, NULL, 0, err, errlen);
}

bool vg_vmentry_value_canon(const char *key, const char *value, char *out, size_t outlen, char *err,
                            size_t errlen)
{
    struct vg_vm scratch;
    memset(&scratch, 0, sizeof scratch);
    return check(key, value, &scratch, out, outlen, err, errlen);
}

bool vg_vm_compile(const struct vg_kvfile *f, struct vg_vm *vm, char *err, size_t errlen)
{
    const char *k, *v;
    memset(vm, 0, sizeof *vm);
    for (size_t i = 0; vg_kvfile_key(f, i, &k, &v); i++)
        if (!check(k, v, vm, NULL, 0, err, errlen))
            return false;
    if (vg_kvfile_get(f, "channel") == NULL) {
        snprintf(err, errlen, "no channel");
        return false;
    }
    return true;
}

bool vg_vmentry_check(const struct vg_kvfile *f, char *err, size_t errlen)
{
    struct vg_vm *vm = vg_malloc(sizeof *vm);
    if (vm == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = vg_vm_compile(f, vm, err, errlen);
    vg_free(vm);
    return ok;
}

bool vg_vm_parse(const char *text, struct vg_vm *vm, char *err, size_t errlen)
{
    size_t n = strlen(text);
    if (n > VG_VMENTRY_MAX) {
        snprintf(err, errlen, "larger than %d bytes", VG_VMENTRY_MAX);
        return false;
    }
    struct vg_kvfile *f = vg_kvfile_parse(text, n, err, errlen);
    if (f == NULL)
        return false;
    bool ok = vg_vm_compile(f, vm, err, errlen);
    vg_kvfile_free(f);
    return ok;
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

/* ---- files ---------------------------------------------------------------------------------- */

struct vg_kvfile *vg_vmentry_load(const char *dir, const char *name, bool *missing, char *err,
                                  size_t errlen)
{
    char path[4096];
    size_t len;
    *missing = false;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        snprintf(err, errlen, "%s/%s: path too long", dir, name);
        return NULL;
    }
    char *text = vg_file_read(AT_FDCWD, path, VG_VMENTRY_MAX, &len);
    if (text == NULL) {
        if (errno == ENOENT || errno == ENOTDIR) {
            *missing = true;
            err[0] = '\0';
        } else if (errno == EFBIG) {
            snprintf(err, errlen, "%s: larger than %d bytes", path, VG_VMENTRY_MAX);
        } else {
            snprintf(err, errlen, "%s: %s", path,
                     errno == EINVAL ? "not a regular file" : strerror(errno));
        }
        return NULL;
    }
    char why[300];
    struct vg_kvfile *f = vg_kvfile_parse(text, len, why, sizeof why);
    vg_free(text);
    if (f && !vg_vmentry_check(f, why, sizeof why)) {
        vg_kvfile_free(f);
        f = NULL;
    }
    if (f == NULL)
        snprintf(err, errlen, "%s: %s", path, why);
    return f;
}

bool vg_vmentry_store(const char *dir, const char *const *names,
                      const struct vg_kvfile *const *files, size_t n, char *err, size_t errlen)
{
    char **texts = vg_calloc(n ? n : 1, sizeof *texts);
    bool ok = false;
    if (texts == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char why[300];
        size_t len;
        if (!vg_vmentry_check(files[i], why, sizeof why)) {
            snprintf(err, errlen, "%s: %s", names[i], why);
            goto done;
        }
        if ((texts[i] = vg_kvfile_format(files[i], &len)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        if (len > VG_VMENTRY_MAX) {
            snprintf(err, errlen, "%s: entry larger than %d bytes", names[i], VG_VMENTRY_MAX);
            goto done;
        }
    }
    ok = vg_file_write(dir, names, (const char *const *)texts, n, err, errlen);
done:
    for (size_t i = 0; i < n; i++)
        vg_free(texts[i]);
    vg_free(texts);
    return ok;
}
