#include "reg_store.h"

#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_kvfile.h"
#include "vg_log.h"
#include "vg_vmentry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool set_str(char **slot, const char *v)
{
    char *d = v ? vg_strdup(v) : NULL;
    if (v && d == NULL)
        return false;
    vg_free(*slot);
    *slot = d;
    return true;
}

/* ---- a directory of one file per VM name ------------------------------------------------- */

bool reg_store_scan(const char *dir, reg_store_parse_fn fn, struct reg_changes *out, char *err,
                    size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    struct dirent *de;
    bool ok = true;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
            continue;
        struct reg_change *c = reg_changes_push(out);
        char msg[400];
        if (c == NULL) {
            snprintf(err, errlen, "out of memory");
            ok = false;
            break;
        }
        bool parsed = fn(dir, dirfd(d), de->d_name, c, msg, sizeof msg);
        /* the file name is the VM's identity (the gateway looks entries up by name) */
        if (parsed && vg_name_normalize(de->d_name, strlen(de->d_name), c->name) != VG_NAME_OK) {
            snprintf(msg, sizeof msg, "file name is not a VM name");
            parsed = false;
        }
        if (!parsed) {
            if (msg[0])
                vg_warn("%s/%s: %s; skipped", dir, de->d_name, msg);
            reg_changes_pop(out);
        }
    }
    closedir(d);
    return ok;
}

/* ---- VM table ------------------------------------------------------------------------------ */

static bool load_table_file(const char *dir, int dfd, const char *file, struct reg_change *c,
                            char *err, size_t errlen)
{
    bool missing;
    char why[400];
    (void)dfd;
    struct vg_kvfile *f = vg_vmentry_load(dir, file, &missing, why, sizeof why);
    if (f == NULL) {
        /* vg_vmentry_load names the path; reg_store_scan does too */
        const char *colon = strstr(why, ": ");
        snprintf(err, errlen, "%s", missing ? "" : colon ? colon + 2 : why);
        return false;
    }
    c->kind = REG_CHANGE_ADD;
    bool ok = set_str(&c->channel, vg_kvfile_get(f, "channel")) &&
              set_str(&c->qmp, vg_kvfile_get(f, "qmp"));
    if (!ok)
        snprintf(err, errlen, "out of memory");
    vg_kvfile_free(f);
    return ok;
}

bool reg_table_load(const char *dir, struct reg_changes *out, char *err, size_t errlen)
{
    return reg_store_scan(dir, load_table_file, out, err, errlen);
}

bool reg_table_has(const char *dir, const char *name)
{
    char path[4096 + VG_NAME_MAX + 2];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* A new entry that keeps a broken one's lines as comments: nothing the operator wrote is lost. */
static struct vg_kvfile *entry_replacing_broken(const char *dir, const char *name, const char *why)
{
    char path[4096], line[600];
    size_t len;
    struct vg_kvfile *f = vg_kvfile_new();
    if (f == NULL)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *old = vg_file_read(AT_FDCWD, path, VG_VMENTRY_MAX, &len);
    snprintf(line, sizeof line, "vmgate-reg: the entry below was broken (%s); kept as comments",
             why);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    bool ok = vg_kvfile_comment(f, line);
    for (char *s = old, *e; ok && s && *s; s = e + (*e != '\0')) {
        e = s + strcspn(s, "\n");
        int w = (int)(e - s);
        if (w > 0 && s[w - 1] == '\r')
            w--;
        snprintf(line, sizeof line, "# %.*s", w, s);
        for (char *p = line; *p; p++)
            if ((unsigned char)*p < ' ')
                *p = '?';
        ok = vg_kvfile_comment(f, line);
    }
    vg_free(old);
    if (!ok) {
        vg_kvfile_free(f);
        return NULL;
    }
    return f;
}

bool reg_table_write(const char *dir, struct reg_change *const *c, size_t n, const char *owner,
                     char *err, size_t errlen)
{
    struct vg_kvfile **files = vg_calloc(n ? n : 1, sizeof *files);
    const char **names = vg_calloc(n ? n : 1, sizeof *names);
    bool ok = false;
    if (files == NULL || names == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const struct reg_change *r = c[i];
        char why[400];
        bool missing;
        names[i] = r->name;
        files[i] = vg_vmentry_load(dir, r->name, &missing, why, sizeof why);
        if (files[i] == NULL && missing) {
            files[i] = vg_kvfile_new();
            if (files[i] && !vg_kvfile_comment(files[i], "vmgate VM table entry, written by "
                                                         "vmgate-reg (other keys and comments "
                                                         "are kept)")) {
                vg_kvfile_free(files[i]);
                files[i] = NULL;
            }
        } else if (files[i] == NULL) {
            vg_warn("VM table: %s; rewritten", why);
            files[i] = entry_replacing_broken(dir, r->name, why);
        }
        bool set = files[i] && vg_kvfile_set(files[i], "name", r->name) &&
                   vg_kvfile_set(files[i], "channel", r->channel) &&
                   vg_kvfile_set(files[i], "qmp", r->qmp) &&
                   vg_kvfile_set(files[i], "owner", owner);
        for (unsigned k = 0; set && k < r->sets.n; k++)
            set = vg_kvfile_set(files[i], r->sets.v[k].key,
                                r->sets.v[k].value[0] ? r->sets.v[k].value : NULL);
        if (!set) {
            snprintf(err, errlen, "%s: out of memory", r->name);
            goto done;
        }
    }
    ok = vg_vmentry_store(dir, names, (const struct vg_kvfile *const *)files, n, err, errlen);
done:
    for (size_t i = 0; files && i < n; i++)
        vg_kvfile_free(files[i]);
    vg_free(files);
    vg_free(names);
    return ok;
}

bool reg_table_remove(const char *dir, const char *const *names, size_t n, char *err, size_t errlen)
{
    return vg_file_remove(dir, names, n, err, errlen);
}
