#include "reg_change.h"

#include "vg_alloc.h"
#include "vg_records.h"
#include "vg_vmentry.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- sets ---------------------------------------------------------------------------------- */

bool reg_sets_add(struct reg_sets *s, const char *key, const char *value, char *err, size_t errlen)
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

bool reg_sets_add_option(struct reg_sets *s, const char *option, const char *arg, char *err,
                         size_t errlen)
{
    if (strcmp(option, "set") == 0)
        return reg_sets_add_word(s, arg, err, errlen);
    return reg_sets_add(s, option, arg, err, errlen);
}

void reg_sets_clear(struct reg_sets *s)
{
    for (unsigned i = 0; i < s->n; i++)
        vg_free(s->v[i].value);
    memset(s, 0, sizeof *s);
}

/* ---- names --------------------------------------------------------------------------------- */

bool reg_name_resolve(const struct vg_config *cfg, const char *in, char out[VG_NAME_MAX + 1],
                      const char **zone, char *err, size_t errlen)
{
    size_t len = strlen(in);
    size_t body = len > 0 && in[len - 1] == '.' ? len - 1 : len;
    *zone = NULL;
    if (cfg->nzones == 0) {
        snprintf(err, errlen, "no zone configured");
        return false;
    }
    if (memchr(in, '.', body) == NULL) {
        int st = vg_name_qualify(in, cfg->zones[0], out);
        if (st != VG_NAME_OK) {
            snprintf(err, errlen, "'%s': %s", in, vg_name_strerror((enum vg_name_status)st));
            return false;
        }
        *zone = cfg->zones[0];
    } else {
        enum vg_name_status st = vg_name_normalize(in, len, out);
        if (st != VG_NAME_OK) {
            snprintf(err, errlen, "'%s': %s", in, vg_name_strerror(st));
            return false;
        }
        if ((*zone = vg_config_zone_of(cfg, out)) == NULL) {
            snprintf(err, errlen, "'%s' is not under the zone%s %s", in, cfg->nzones > 1 ? "s" : "",
                     cfg->zone);
            return false;
        }
    }
    char why[300];
    if (!vg_rec_vm_name_ok(out, *zone, why, sizeof why)) {
        snprintf(err, errlen, "'%s': %s", in, why);
        *zone = NULL;
        return false;
    }
    return true;
}

/* ---- building and checking a change ------------------------------------------------------- */

static bool refuse(struct reg_change *c, enum reg_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool refuse(struct reg_change *c, enum reg_result r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    c->result = r;
    return false;
}

bool reg_change_name(struct reg_change *c, const struct vg_config *cfg, const char *name)
{
    char err[sizeof c->detail];
    if (!reg_name_resolve(cfg, name, c->name, &c->zone, err, sizeof err)) {
        c->zone = NULL;
        snprintf(c->name, sizeof c->name, "%.*s", VG_NAME_MAX, name);
        return refuse(c, REG_BADNAME, "%s", err);
    }
    return true;
}

bool reg_change_set_add(struct reg_change *c, const char *channel, const char *qmp, bool takeover,
                        struct reg_sets *sets)
{
    char err[sizeof c->detail];
    c->kind = REG_CHANGE_ADD;
    c->takeover = takeover;
    if (sets) {
        reg_sets_clear(&c->sets);
        c->sets = *sets;
        memset(sets, 0, sizeof *sets);
    }
    if (!vg_vmentry_value_check("channel", channel, err, sizeof err) ||
        (qmp && !vg_vmentry_value_check("qmp", qmp, err, sizeof err)))
        return refuse(c, REG_BADNAME, "%s", err);
    vg_free(c->channel);
    vg_free(c->qmp);
    c->channel = vg_strdup(channel);
    c->qmp = qmp ? vg_strdup(qmp) : NULL;
    if (c->channel == NULL || (qmp && c->qmp == NULL))
        return refuse(c, REG_ERROR, "out of memory");
    return true;
}

bool reg_change_add(struct reg_change *c, const struct vg_config *cfg, const char *name,
                    const char *channel, const char *qmp, bool takeover, struct reg_sets *sets)
{
    if (!reg_change_name(c, cfg, name)) {
        if (sets)
            reg_sets_clear(sets);
        return false;
    }
    return reg_change_set_add(c, channel, qmp, takeover, sets);
}

bool reg_change_del(struct reg_change *c, const struct vg_config *cfg, const char *name)
{
    c->kind = REG_CHANGE_DEL;
    return reg_change_name(c, cfg, name);
}

/* ---- batch files --------------------------------------------------------------------------- */

#define BATCH_SEP " \t\r\n"

enum reg_line reg_change_batch_add(struct reg_change *c, const struct vg_config *cfg, char *line,
                                   bool takeover)
{
    char *save = NULL, *name = strtok_r(line, BATCH_SEP, &save), *spec, *w;
    const char *qmp = NULL;
    struct reg_sets sets = {0};
    char why[600];
    if (name == NULL || name[0] == '#')
        return REG_LINE_BLANK;
    spec = strtok_r(NULL, BATCH_SEP, &save);
    while ((w = strtok_r(NULL, BATCH_SEP, &save)) != NULL) {
        if (strncmp(w, "qmp=", 4) == 0) {
            qmp = w + 4;
        } else if (!reg_sets_add_word(&sets, w, why, sizeof why)) {
            reg_sets_clear(&sets);
            refuse(c, REG_BADNAME, "%s", why);
            return REG_LINE_MALFORMED;
        }
    }
    if (spec == NULL) {
        refuse(c, REG_BADNAME, "expected 'NAME SPEC [qmp=PATH] [KEY=VALUE…]'");
        return REG_LINE_MALFORMED;
    }
    if (!reg_change_add(c, cfg, name, spec, qmp, takeover, &sets))
        return REG_LINE_REJECTED;
    return REG_LINE_OK;
}

enum reg_line reg_change_batch_del(struct reg_change *c, const struct vg_config *cfg, char *line)
{
    char *save = NULL, *name = strtok_r(line, BATCH_SEP, &save);
    if (name == NULL || name[0] == '#')
        return REG_LINE_BLANK;
    return reg_change_del(c, cfg, name) ? REG_LINE_OK : REG_LINE_REJECTED;
}

/* ---- the daemon protocol ------------------------------------------------------------------- */

/* add NAME SPEC QMP TAKEOVER, then at most REG_MAX_SETS KEY=VALUE words */
#define REQ_WORDS 5

bool reg_change_parse_request(struct reg_change *c, const struct vg_config *cfg, char *line)
{
    char *f[REQ_WORDS + REG_MAX_SETS + 1] = {0};
    size_t nf = 0;
    char *save = NULL, err[sizeof c->detail];
    for (char *t = strtok_r(line, " ", &save); t && nf < sizeof f / sizeof f[0];
         t = strtok_r(NULL, " ", &save))
        f[nf++] = t;
    if (nf < 2 || (strcmp(f[0], "add") != 0 && strcmp(f[0], "del") != 0))
        return refuse(c, REG_BADNAME, "malformed request");
    if (f[0][0] == 'd') {
        if (!reg_change_del(c, cfg, f[1]))
            return false;
        return nf == 2 || refuse(c, REG_BADNAME, "malformed request");
    }
    if (!reg_change_name(c, cfg, f[1]))
        return false;
    if (nf < REQ_WORDS || nf > REQ_WORDS + REG_MAX_SETS)
        return refuse(c, REG_BADNAME, "malformed request");
    if (!reg_change_set_add(c, f[2], strcmp(f[3], "-") != 0 ? f[3] : NULL, strcmp(f[4], "1") == 0,
                            NULL))
        return false;
    for (size_t k = REQ_WORDS; k < nf; k++)
        if (!reg_sets_add_word(&c->sets, f[k], err, sizeof err))
            return refuse(c, REG_BADNAME, "%s", err);
    return true;
}

char *reg_change_request(const struct reg_change *c)
{
    size_t cap = 3 + 1 + strlen(c->name) + 2;
    if (c->kind == REG_CHANGE_DEL) {
        char *out = vg_malloc(cap);
        if (out)
            snprintf(out, cap, "del %s\n", c->name);
        return out;
    }
    cap += strlen(c->channel) + 1 + (c->qmp ? strlen(c->qmp) : 1) + 3;
    for (unsigned k = 0; k < c->sets.n; k++)
        cap += 1 + strlen(c->sets.v[k].key) + 1 + strlen(c->sets.v[k].value);
    char *out = vg_malloc(cap);
    if (out == NULL)
        return NULL;
    /* canonical values are one word; the extra words are KEY=VALUE */
    size_t len = (size_t)snprintf(out, cap, "add %s %s %s %d", c->name, c->channel,
                                  c->qmp ? c->qmp : "-", c->takeover);
    for (unsigned k = 0; k < c->sets.n && len < cap; k++)
        len +=
            (size_t)snprintf(out + len, cap - len, " %s=%s", c->sets.v[k].key, c->sets.v[k].value);
    if (len + 1 >= cap) {
        vg_free(out);
        return NULL;
    }
    out[len++] = '\n';
    out[len] = '\0';
    return out;
}

bool reg_change_reply(const struct reg_change *c, char *out, size_t outlen)
{
    int w = snprintf(out, outlen, "%s %s %s\n", reg_result_str(c->result),
                     c->name[0] ? c->name : "-", c->detail);
    return w > 0 && (size_t)w < outlen;
}

bool reg_change_parse_reply(struct reg_change *c, char *line)
{
    char *sp1 = strchr(line, ' ');
    if (sp1 == NULL)
        return false;
    *sp1 = '\0';
    char *sp2 = strchr(sp1 + 1, ' ');
    if (!reg_result_parse(line, &c->result))
        return false;
    snprintf(c->detail, sizeof c->detail, "%s", sp2 ? sp2 + 1 : "");
    return true;
}

/* ---- ownership and arrays ------------------------------------------------------------------ */

void reg_change_clear(struct reg_change *c)
{
    vg_free(c->channel);
    vg_free(c->qmp);
    reg_sets_clear(&c->sets);
    memset(c, 0, sizeof *c);
}

struct reg_change *reg_changes_push(struct reg_changes *cs)
{
    if (!vg_grow(&cs->v, &cs->cap, cs->n, sizeof *cs->v, 16))
        return NULL;
    struct reg_change *c = &cs->v[cs->n++];
    memset(c, 0, sizeof *c);
    return c;
}

void reg_changes_pop(struct reg_changes *cs)
{
    if (cs->n > 0)
        reg_change_clear(&cs->v[--cs->n]);
}

void reg_changes_free(struct reg_changes *cs)
{
    for (size_t i = 0; i < cs->n; i++)
        reg_change_clear(&cs->v[i]);
    vg_free(cs->v);
    memset(cs, 0, sizeof *cs);
}

struct reg_change **reg_change_ptrs(struct reg_change *c, size_t n)
{
    struct reg_change **p = vg_calloc(n ? n : 1, sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = &c[i];
    return p;
}

int reg_changes_exit(const struct reg_change *c, size_t n)
{
    enum reg_result *res = vg_calloc(n ? n : 1, sizeof *res);
    if (res == NULL)
        return REG_EXIT_ERROR;
    for (size_t i = 0; i < n; i++)
        res[i] = c[i].result;
    int code = reg_exit_code_of(res, n);
    vg_free(res);
    return code;
}
