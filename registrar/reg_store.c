#include "reg_store.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void reg_rec_clear(struct reg_rec *r)
{
    vg_free(r->channel);
    vg_free(r->qmp);
    vg_free(r->owner);
    r->channel = r->qmp = r->owner = NULL;
}

void reg_recs_free(struct reg_rec *r, size_t n)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        reg_rec_clear(&r[i]);
    vg_free(r);
}

bool reg_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || path[0] != '/' || n >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)path[i]))
            return false;
    return true;
}

bool reg_channel_check(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "channel '%s': expected tcp:ADDR, vsock:CID, vsock-mux:PATH or "
                              "serial:PATH", spec);
        return false;
    }
    size_t kl = (size_t)(colon - spec);
    const char *v = colon + 1;
    if (kl == 3 && memcmp(spec, "tcp", 3) == 0) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (vg_sockaddr_parse(v, 1, &ss, &len) && strchr(v, ']') == NULL &&
            (strchr(v, '.') != NULL || strchr(v, ':') != NULL))
            return true;
        snprintf(err, errlen, "channel '%s': tcp: needs an IPv4 or IPv6 address", spec);
        return false;
    }
    if (kl == 5 && memcmp(spec, "vsock", 5) == 0) {
        unsigned long cid;
        if (vg_parse_uint(v, 3, 0xFFFFFFFEul, &cid))
            return true;
        snprintf(err, errlen, "channel '%s': vsock: needs a guest CID 3..4294967294", spec);
        return false;
    }
    if ((kl == 9 && memcmp(spec, "vsock-mux", 9) == 0) ||
        (kl == 6 && memcmp(spec, "serial", 6) == 0)) {
        if (reg_path_ok(v))
            return true;
        snprintf(err, errlen, "channel '%s': needs an absolute socket path without white space, "
                              "shorter than 108 octets", spec);
        return false;
    }
    snprintf(err, errlen, "channel '%s': unknown type '%.*s' (tcp, vsock, vsock-mux, serial)", spec,
             (int)kl, spec);
    return false;
}

/* ---- text form --------------------------------------------------------------------------- */

char *reg_rec_format(const struct reg_rec *r, bool journal)
{
    char buf[2048];
    int w;
    if (journal)
        w = snprintf(buf, sizeof buf,
                     "# vmgate-reg journal: a change not yet confirmed by the DNS server\n"
                     "name = %s\nop = %s\n%s%s%s%s%s%stakeover = %d\nqueued = %lld\n",
                     r->name, r->del ? "del" : "add", r->channel ? "channel = " : "",
                     r->channel ? r->channel : "", r->channel ? "\n" : "", r->qmp ? "qmp = " : "",
                     r->qmp ? r->qmp : "", r->qmp ? "\n" : "", r->takeover ? 1 : 0, r->queued);
    else
        w = snprintf(buf, sizeof buf,
                     "# vmgate VM table entry, written by vmgate-reg\n"
                     "name = %s\nchannel = %s\n%s%s%s%s%s%s",
                     r->name, r->channel ? r->channel : "", r->qmp ? "qmp = " : "",
                     r->qmp ? r->qmp : "", r->qmp ? "\n" : "", r->owner ? "owner = " : "",
                     r->owner ? r->owner : "", r->owner ? "\n" : "");
    if (w < 0 || (size_t)w >= sizeof buf)
        return NULL;
    return vg_strdup(buf);
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static bool set_str(char **slot, const char *v)
{
    char *d = vg_strdup(v);
    if (d == NULL)
        return false;
    vg_free(*slot);
    *slot = d;
    return true;
}

bool reg_rec_parse(const char *text, struct reg_rec *r, bool journal, char *err, size_t errlen)
{
    char *copy = vg_strdup(text), *save = NULL;
    unsigned line = 0;
    bool ok = false, have_op = !journal;
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *s = trim(l);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "line %u: expected 'key = value'", line);
            goto done;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        if (strcmp(k, "name") == 0) {
            if (vg_name_normalize(v, strlen(v), r->name) != VG_NAME_OK) {
                snprintf(err, errlen, "line %u: bad name '%s'", line, v);
                goto done;
            }
        } else if (strcmp(k, "channel") == 0) {
            if (!set_str(&r->channel, v))
                goto oom;
        } else if (strcmp(k, "qmp") == 0) {
            if (!set_str(&r->qmp, v))
                goto oom;
        } else if (strcmp(k, "owner") == 0) {
            if (!set_str(&r->owner, v))
                goto oom;
        } else if (journal && strcmp(k, "op") == 0) {
            if (strcmp(v, "add") != 0 && strcmp(v, "del") != 0) {
                snprintf(err, errlen, "line %u: op must be add or del", line);
                goto done;
            }
            r->del = strcmp(v, "del") == 0;
            have_op = true;
        } else if (journal && strcmp(k, "takeover") == 0) {
            r->takeover = strcmp(v, "1") == 0;
        } else if (journal && strcmp(k, "queued") == 0) {
            unsigned long t;
            if (vg_parse_uint(v, 0, 0xFFFFFFFFFFul, &t))
                r->queued = (long long)t;
        }
        /* other keys (ports, …) belong to the gateway */
    }
    if (!have_op) {
        snprintf(err, errlen, "no 'op' line");
        goto done;
    }
    if (journal && !r->del && r->channel == NULL) {
        snprintf(err, errlen, "pending add without a channel");
        goto done;
    }
    ok = true;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    vg_free(copy);
    return ok;
}

/* ---- files ------------------------------------------------------------------------------- */

bool reg_mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        snprintf(err, errlen, "%s: path too long", path);
        return false;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0750) < 0 && errno != EEXIST) {
                snprintf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
                return false;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return true;
}

static bool write_file(int dfd, const char *tmp, const char *text, bool sync_each, char *err,
                       size_t errlen)
{
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return false;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
            close(fd);
            unlinkat(dfd, tmp, 0);
            return false;
        }
        off += (size_t)w;
    }
    if (sync_each && fsync(fd) < 0) {
        snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
        close(fd);
        unlinkat(dfd, tmp, 0);
        return false;
    }
    if (close(fd) < 0) {
        snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
        unlinkat(dfd, tmp, 0);
        return false;
    }
    return true;
}

bool reg_store_write(const char *dir, const struct reg_rec *const *recs, size_t n, bool journal,
                     char *err, size_t errlen)
{
    bool ok = false;
    size_t written = 0;
    int dfd;
    if (n == 0)
        return true;
    if (!reg_mkdirs(dir, err, errlen))
        return false;
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    bool sync_each = n <= 4;
    char tmp[VG_NAME_MAX + 32];
    for (; written < n; written++) {
        char *text = reg_rec_format(recs[written], journal);
        if (text == NULL) {
            snprintf(err, errlen, "%s: entry too long", recs[written]->name);
            goto done;
        }
        snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", recs[written]->name, (long)getpid());
        bool w = write_file(dfd, tmp, text, sync_each, err, errlen);
        vg_free(text);
        if (!w)
            goto done;
    }
    if (!sync_each && syncfs(dfd) < 0) {
        snprintf(err, errlen, "syncfs %s: %s", dir, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", recs[i]->name, (long)getpid());
        if (renameat(dfd, tmp, dfd, recs[i]->name) < 0) {
            snprintf(err, errlen, "rename %s/%s: %s", dir, recs[i]->name, strerror(errno));
            goto done;
        }
    }
    written = 0; /* all renamed: nothing to clean up */
    if (fsync(dfd) < 0) {
        snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
        goto done;
    }
    ok = true;
done:
    for (size_t i = 0; i < written; i++) {
        snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", recs[i]->name, (long)getpid());
        unlinkat(dfd, tmp, 0);
    }
    close(dfd);
    return ok;
}

bool reg_store_remove(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen)
{
    if (n == 0)
        return true;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = true, changed = false;
    for (size_t i = 0; i < n; i++) {
        if (unlinkat(dfd, names[i], 0) == 0)
            changed = true;
        else if (errno != ENOENT) {
            snprintf(err, errlen, "unlink %s/%s: %s", dir, names[i], strerror(errno));
            ok = false;
        }
    }
    if (changed && fsync(dfd) < 0 && ok) {
        snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
        ok = false;
    }
    close(dfd);
    return ok;
}

static char *read_small(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    char *buf = vg_malloc(8192);
    size_t n = 0;
    if (buf) {
        for (;;) {
            ssize_t r = read(fd, buf + n, 8191 - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
            if (n == 8191)
                break;
        }
        buf[n] = '\0';
    }
    close(fd);
    return buf;
}

bool reg_store_load(const char *dir, bool journal, struct reg_rec **recs, size_t *n, char *err,
                    size_t errlen)
{
    *recs = NULL;
    *n = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        close(dfd);
        return false;
    }
    struct reg_rec *out = NULL;
    size_t cnt = 0, cap = 0;
    bool ok = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
            continue;
        char *text = read_small(dirfd(d), de->d_name);
        if (text == NULL)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct reg_rec *g = vg_realloc(out, nc * sizeof *g);
            if (g == NULL) {
                vg_free(text);
                snprintf(err, errlen, "out of memory");
                goto done;
            }
            out = g;
            cap = nc;
        }
        struct reg_rec *r = &out[cnt];
        char msg[200];
        memset(r, 0, sizeof *r);
        bool parsed = reg_rec_parse(text, r, journal, msg, sizeof msg);
        vg_free(text);
        /* the file name is the VM's identity (the gateway looks files up by name) */
        if (parsed && vg_name_normalize(de->d_name, strlen(de->d_name), r->name) != VG_NAME_OK) {
            snprintf(msg, sizeof msg, "file name is not a VM name");
            parsed = false;
        }
        if (!parsed) {
            vg_warn("%s/%s: %s; skipped", dir, de->d_name, msg);
            reg_rec_clear(r);
            continue;
        }
        cnt++;
    }
    ok = true;
done:
    closedir(d);
    if (!ok) {
        reg_recs_free(out, cnt);
        return false;
    }
    *recs = out;
    *n = cnt;
    return true;
}
