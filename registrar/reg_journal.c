#include "reg_journal.h"

#include "reg_store.h"
#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_kvfile.h"
#include "vg_vmentry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define JOURNAL_MAX 65536
#define SET_PREFIX "set-" /* journal key of a VM table key the add sets */

char *reg_journal_format(const struct reg_change *c)
{
    struct vg_kvfile *f = vg_kvfile_new();
    char num[32], key[64];
    char *text = NULL;
    bool ok = f &&
              vg_kvfile_comment(f, "vmgate-reg journal: a change not yet confirmed by the "
                                   "DNS server") &&
              vg_kvfile_set(f, "name", c->name) &&
              vg_kvfile_set(f, "op", c->kind == REG_CHANGE_DEL ? "del" : "add") &&
              (!c->channel || vg_kvfile_set(f, "channel", c->channel)) &&
              (!c->qmp || vg_kvfile_set(f, "qmp", c->qmp)) &&
              vg_kvfile_set(f, "takeover", c->takeover ? "1" : "0");
    for (unsigned i = 0; ok && i < c->sets.n; i++) {
        snprintf(key, sizeof key, SET_PREFIX "%s", c->sets.v[i].key);
        /* "" (remove the key) is kept as "-": a value is never empty in these files */
        ok = vg_kvfile_set(f, key, c->sets.v[i].value[0] ? c->sets.v[i].value : "-");
    }
    snprintf(num, sizeof num, "%lld", c->queued);
    if (ok && vg_kvfile_set(f, "queued", num))
        text = vg_kvfile_format(f, NULL);
    vg_kvfile_free(f);
    return text;
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

bool reg_journal_parse(const char *text, size_t len, struct reg_change *c, char *err, size_t errlen)
{
    struct vg_kvfile *f = vg_kvfile_parse(text, len, err, errlen);
    const char *k, *v;
    bool ok = false;
    if (f == NULL)
        return false;
    if ((v = vg_kvfile_get(f, "op")) == NULL || (strcmp(v, "add") != 0 && strcmp(v, "del") != 0)) {
        snprintf(err, errlen, v ? "op must be add or del" : "no 'op' line");
        goto done;
    }
    c->kind = strcmp(v, "del") == 0 ? REG_CHANGE_DEL : REG_CHANGE_ADD;
    c->from_journal = true;
    for (size_t i = 0; vg_kvfile_key(f, i, &k, &v); i++) {
        if (strcmp(k, "name") == 0) {
            if (vg_name_normalize(v, strlen(v), c->name) != VG_NAME_OK) {
                snprintf(err, errlen, "bad name '%s'", v);
                goto done;
            }
        } else if (strcmp(k, "channel") == 0 || strcmp(k, "qmp") == 0) {
            if (!vg_vmentry_value_check(k, v, err, errlen))
                goto done;
            if (!set_str(k[0] == 'c' ? &c->channel : &c->qmp, v))
                goto oom;
        } else if (strcmp(k, "takeover") == 0) {
            c->takeover = strcmp(v, "1") == 0;
        } else if (strcmp(k, "queued") == 0) {
            unsigned long t;
            if (vg_parse_uint(v, 0, 0xFFFFFFFFFFul, &t))
                c->queued = (long long)t;
        } else if (strncmp(k, SET_PREFIX, strlen(SET_PREFIX)) == 0) {
            if (!reg_sets_add(&c->sets, k + strlen(SET_PREFIX), strcmp(v, "-") ? v : "", err,
                              errlen))
                goto done;
        }
    }
    if (c->kind == REG_CHANGE_ADD && c->channel == NULL) {
        snprintf(err, errlen, "pending add without a channel");
        goto done;
    }
    ok = true;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    vg_kvfile_free(f);
    return ok;
}

bool reg_journal_write(const char *dir, struct reg_change *const *c, size_t n, char *err,
                       size_t errlen)
{
    const char **names = vg_calloc(n ? n : 1, sizeof *names);
    char **texts = vg_calloc(n ? n : 1, sizeof *texts);
    bool ok = false;
    if (names == NULL || texts == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = c[i]->name;
        if ((texts[i] = reg_journal_format(c[i])) == NULL) {
            snprintf(err, errlen, "%s: out of memory", c[i]->name);
            goto done;
        }
    }
    ok = vg_file_write(dir, names, (const char *const *)texts, n, err, errlen);
done:
    for (size_t i = 0; texts && i < n; i++)
        vg_free(texts[i]);
    vg_free(texts);
    vg_free(names);
    return ok;
}

static bool load_file(const char *dir, int dfd, const char *file, struct reg_change *c, char *err,
                      size_t errlen)
{
    size_t len;
    char *text = vg_file_read(dfd, file, JOURNAL_MAX, &len);
    (void)dir;
    if (text == NULL) {
        snprintf(err, errlen, "%s", errno == ENOENT ? "" : strerror(errno));
        return false;
    }
    bool ok = reg_journal_parse(text, len, c, err, errlen);
    vg_free(text);
    return ok;
}

bool reg_journal_load(const char *dir, struct reg_changes *out, char *err, size_t errlen)
{
    return reg_store_scan(dir, load_file, out, err, errlen);
}

bool reg_journal_drop(const char *dir, const char *const *names, size_t n, char *err, size_t errlen)
{
    return vg_file_remove(dir, names, n, err, errlen);
}
