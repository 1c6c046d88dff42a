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
#include <unistd.h>

/* ---- sets ---------------------------------------------------------------------------------- */

bool reg_sets_add(struct reg_sets *s, const char *key, const char *value, char *err,
                  size_t errlen)
{
    char canon[VG_VMENTRY_MAX];
    unsigned i;
    if (!vg_vmentry_key_settable(key)) {
        snprintf(err, errlen, "'%s' is not a VM table key vmgate-reg can set%s", key,
                 vg_vmentry_key_known(key) ? " (it has its own option)" : "");
        return false;
    }
    if (value[0] != '\0' && !vg_vmentry_value_canon(key, value, canon, sizeof canon, err, errlen))
        return false;
    for (i = 0; i < s->n && strcmp(s->v[i].key, key) != 0; i++)
        ;
    if (i == REG_MAX_SETS) {
        snprintf(err, errlen, "more than %d keys set", REG_MAX_SETS);
        return false;
    }
    char *d = vg_strdup(value[0] ? canon : "");
    if (d == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (i == s->n) {
        snprintf(s->v[i].key, sizeof s->v[i].key, "%s", key);
        s->n++;
    } else {
        vg_free(s->v[i].value);
    }
    s->v[i].value = d;
    return true;
}

bool reg_sets_add_word(struct reg_sets *s, const char *word, char *err, size_t errlen)
{
    const char *eq = strchr(word, '=');
    char key[33];
    if (eq == NULL || eq == word || (size_t)(eq - word) >= sizeof key) {
        snprintf(err, errlen, "'%s': expected KEY=VALUE", word);
        return false;
    }
    memcpy(key, word, (size_t)(eq - word));
    key[eq - word] = '\0';
    return reg_sets_add(s, key, eq + 1, err, errlen);
}

void reg_sets_clear(struct reg_sets *s)
{
    for (unsigned i = 0; i < s->n; i++)
        vg_free(s->v[i].value);
    memset(s, 0, sizeof *s);
}

void reg_rec_clear(struct reg_rec *r)
{
    vg_free(r->channel);
    vg_free(r->qmp);
    vg_free(r->owner);
    r->channel = r->qmp = r->owner = NULL;
    reg_sets_clear(&r->sets);
}

void reg_recs_free(struct reg_rec *r, size_t n)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        reg_rec_clear(&r[i]);
    vg_free(r);
}

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

bool reg_store_scan(const char *dir, reg_store_parse_fn fn, struct reg_rec **recs, size_t *n,
                    char *err, size_t errlen)
{
    *recs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return true;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return false;
    }
    struct reg_rec *out = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct reg_rec *g = vg_realloc(out, nc * sizeof *g);
            if (g == NULL) {
                snprintf(err, errlen, "out of memory");
                closedir(d);
                reg_recs_free(out, cnt);
                return false;
            }
            out = g;
            cap = nc;
        }
        struct reg_rec *r = &out[cnt];
        char msg[400];
        memset(r, 0, sizeof *r);
        bool parsed = fn(dir, dirfd(d), de->d_name, r, msg, sizeof msg);
        /* the file name is the VM's identity (the gateway looks entries up by name) */
        if (parsed && vg_name_normalize(de->d_name, strlen(de->d_name), r->name) != VG_NAME_OK) {
            snprintf(msg, sizeof msg, "file name is not a VM name");
            parsed = false;
        }
        if (!parsed) {
            if (msg[0])
                vg_warn("%s/%s: %s; skipped", dir, de->d_name, msg);
            reg_rec_clear(r);
            continue;
        }
        cnt++;
    }
    closedir(d);
    *recs = out;
    *n = cnt;
    return true;
}

/* ---- VM table ------------------------------------------------------------------------------ */

static bool load_table_file(const char *dir, int dfd, const char *file, struct reg_rec *r,
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
    bool ok = set_str(&r->channel, vg_kvfile_get(f, "channel")) &&
              set_str(&r->qmp, vg_kvfile_get(f, "qmp")) &&
              set_str(&r->owner, vg_kvfile_get(f, "owner"));
    if (!ok)
        snprintf(err, errlen, "out of memory");
    vg_kvfile_free(f);
    return ok;
}

bool reg_table_load(const char *dir, struct reg_rec **recs, size_t *n, char *err, size_t errlen)
{
    return reg_store_scan(dir, load_table_file, recs, n, err, errlen);
}

/* A new entry that keeps a broken one's lines as comments: nothing the operator wrote is lost. */
static struct vg_kvfile *entry_replacing_broken(const char *dir, const char *name,
                                                const char *why)
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

bool reg_table_write(const char *dir, const struct reg_rec *const *recs, size_t n, char *err,
                     size_t errlen)
{
    struct vg_kvfile **files = vg_calloc(n ? n : 1, sizeof *files);
    const char **names = vg_calloc(n ? n : 1, sizeof *names);
    bool ok = false;
    if (files == NULL || names == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const struct reg_rec *r = recs[i];
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
                   vg_kvfile_set(files[i], "owner", r->owner);
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

bool reg_store_remove(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen)
{
    return vg_file_remove(dir, names, n, err, errlen);
}
