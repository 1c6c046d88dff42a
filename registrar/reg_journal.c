#include "reg_journal.h"

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

static bool set_str(char **slot, const char *v)
{
    char *d = vg_strdup(v);
    if (d == NULL)
        return false;
    vg_free(*slot);
    *slot = d;
    return true;
}

char *reg_journal_format(const struct reg_rec *r)
{
    struct vg_kvfile *f = vg_kvfile_new();
    char num[32], key[64];
    char *text = NULL;
    bool ok = f && vg_kvfile_comment(f, "vmgate-reg journal: a change not yet confirmed by the "
                                        "DNS server") &&
              vg_kvfile_set(f, "name", r->name) && vg_kvfile_set(f, "op", r->del ? "del" : "add") &&
              (!r->channel || vg_kvfile_set(f, "channel", r->channel)) &&
              (!r->qmp || vg_kvfile_set(f, "qmp", r->qmp)) &&
              vg_kvfile_set(f, "takeover", r->takeover ? "1" : "0");
    for (unsigned i = 0; ok && i < r->sets.n; i++) {
        snprintf(key, sizeof key, SET_PREFIX "%s", r->sets.v[i].key);
        /* "" (remove the key) is kept as "-": a value is never empty in these files */
        ok = vg_kvfile_set(f, key, r->sets.v[i].value[0] ? r->sets.v[i].value : "-");
    }
    snprintf(num, sizeof num, "%lld", r->queued);
    if (ok && vg_kvfile_set(f, "queued", num))
        text = vg_kvfile_format(f, NULL);
    vg_kvfile_free(f);
    return text;
}

bool reg_journal_parse(const char *text, size_t len, struct reg_rec *r, char *err, size_t errlen)
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
    r->del = strcmp(v, "del") == 0;
    for (size_t i = 0; vg_kvfile_key(f, i, &k, &v); i++) {
        if (strcmp(k, "name") == 0) {
            if (vg_name_normalize(v, strlen(v), r->name) != VG_NAME_OK) {
                snprintf(err, errlen, "bad name '%s'", v);
                goto done;
            }
        } else if (strcmp(k, "channel") == 0 || strcmp(k, "qmp") == 0) {
            if (!vg_vmentry_value_check(k, v, err, errlen))
                goto done;
            if (!set_str(k[0] == 'c' ? &r->channel : &r->qmp, v))
                goto oom;
        } else if (strcmp(k, "takeover") == 0) {
            r->takeover = strcmp(v, "1") == 0;
        } else if (strcmp(k, "queued") == 0) {
            unsigned long t;
            if (vg_parse_uint(v, 0, 0xFFFFFFFFFFul, &t))
                r->queued = (long long)t;
        } else if (strncmp(k, SET_PREFIX, strlen(SET_PREFIX)) == 0) {
            if (!reg_sets_add(&r->sets, k + strlen(SET_PREFIX), strcmp(v, "-") ? v : "", err,
                              errlen))
                goto done;
        }
    }
    if (!r->del && r->channel == NULL) {
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

bool reg_journal_write(const char *dir, const struct reg_rec *const *recs, size_t n, char *err,
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
        names[i] = recs[i]->name;
        if ((texts[i] = reg_journal_format(recs[i])) == NULL) {
            snprintf(err, errlen, "%s: out of memory", recs[i]->name);
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

static bool load_journal_file(const char *dir, int dfd, const char *file, struct reg_rec *r,
                              char *err, size_t errlen)
{
    size_t len;
    char *text = vg_file_read(dfd, file, JOURNAL_MAX, &len);
    (void)dir;
    if (text == NULL) {
        snprintf(err, errlen, "%s", errno == ENOENT ? "" : strerror(errno));
        return false;
    }
    bool ok = reg_journal_parse(text, len, r, err, errlen);
    vg_free(text);
    return ok;
}

bool reg_journal_load(const char *dir, struct reg_rec **recs, size_t *n, char *err, size_t errlen)
{
    return reg_store_scan(dir, load_journal_file, recs, n, err, errlen);
}

bool reg_journal_drop(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen)
{
    return vg_file_remove(dir, names, n, err, errlen);
}
