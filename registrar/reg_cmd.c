#include "reg_cmd.h"

#include "reg_journal.h"
#include "reg_store.h"
#include "vg_alloc.h"
#include "vg_log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool reg_config_check(const struct vg_config *cfg, char *err, size_t errlen)
{
    if (cfg->nzones == 0) {
        snprintf(err, errlen, "[dns] zone is required");
        return false;
    }
    static const struct {
        size_t off;
        const char *what;
    } req[] = {
        {offsetof(struct vg_config, server), "[dns] server"},
        {offsetof(struct vg_config, tsig_key_file), "[dns] tsig-key-file"},
        {offsetof(struct vg_config, host_name), "[host] name"},
        {offsetof(struct vg_config, host_address), "[host] address"},
        {offsetof(struct vg_config, vm_dir), "[gateway] vm-dir"},
        {offsetof(struct vg_config, state_dir), "[registrar] state-dir"},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        const char *v = *(char *const *)((const char *)cfg + req[i].off);
        if (v == NULL || v[0] == '\0') {
            snprintf(err, errlen, "%s is required", req[i].what);
            return false;
        }
    }
    return true;
}

bool reg_ctx_init(struct reg_ctx *ctx, const struct vg_config *cfg, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = cfg;
    ctx->eng.conn.fd = -1;
    if (!reg_config_check(cfg, err, errlen))
        return false;
    if (snprintf(ctx->journal_dir, sizeof ctx->journal_dir, "%s/journal", cfg->state_dir) >=
        (int)sizeof ctx->journal_dir) {
        snprintf(err, errlen, "[registrar] state-dir too long");
        return false;
    }
    return reg_engine_init(&ctx->eng, cfg, err, errlen);
}

void reg_ctx_close(struct reg_ctx *ctx)
{
    reg_engine_close(&ctx->eng);
}

static struct reg_change *const *sort_base;
static int by_name(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(sort_base[i]->name, sort_base[j]->name);
    if (c)
        return c;
    return i < j ? -1 : i > j;
}

/* The changes of run[0..nrun) that hit() picks fail locally: their file could not be written
 * (why: what, then err). */
static void spoil(struct reg_change *const *run, size_t nrun,
                  bool (*hit)(const struct reg_change *), const char *what, const char *err)
{
    for (size_t k = 0; k < nrun; k++) {
        if (!hit(run[k]))
            continue;
        run[k]->result = REG_ERROR;
        snprintf(run[k]->detail, sizeof run[k]->detail, "%s: %s", what, err);
    }
}

static bool newly_queued(const struct reg_change *c)
{
    return c->result == REG_QUEUED && !c->from_journal;
}

static bool table_add(const struct reg_change *c)
{
    return c->kind == REG_CHANGE_ADD && (c->result == REG_OK || c->result == REG_QUEUED);
}

void reg_apply(struct reg_ctx *ctx, struct reg_change *const *c, size_t n, bool journal)
{
    size_t *ord = vg_calloc(n ? n : 1, sizeof *ord);
    size_t *winner = vg_calloc(n ? n : 1, sizeof *winner);
    struct reg_change **run = vg_calloc(n ? n : 1, sizeof *run);
    struct reg_change **wr = vg_calloc(n ? n : 1, sizeof *wr);
    const char **names = vg_calloc(n ? n : 1, sizeof *names);
    char err[512];
    size_t nrun = 0, nw = 0, nd = 0;

    if (!ord || !winner || !run || !wr || !names) {
        for (size_t i = 0; i < n; i++) {
            c[i]->result = REG_ERROR;
            snprintf(c[i]->detail, sizeof c[i]->detail, "out of memory");
        }
        goto out;
    }
    /* the last change for a name wins */
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    sort_base = c;
    qsort(ord, n, sizeof *ord, by_name);
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e + 1 < n && strcmp(c[ord[e + 1]]->name, c[ord[k]]->name) == 0)
            e++;
        for (size_t m = k; m <= e; m++)
            winner[ord[m]] = ord[e];
        k = e + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (winner[i] != i)
            continue;
        /* a VM table entry says we published it before (a queued add wrote one too, but then
         * the name is most likely still free) */
        c[i]->republish = c[i]->kind == REG_CHANGE_ADD && !c[i]->takeover && !c[i]->from_journal &&
                          reg_table_has(ctx->cfg->vm_dir, c[i]->name);
        run[nrun++] = c[i];
    }
    reg_engine_run(&ctx->eng, run, nrun);

    /* the outcome → journal */
    long long now = (long long)time(NULL);
    for (size_t k = 0; k < nrun; k++) {
        if (!journal || !reg_result_transient(run[k]->result))
            continue;
        run[k]->result = REG_QUEUED;
        if (run[k]->from_journal)
            continue;
        run[k]->queued = now;
        wr[nw++] = run[k];
    }
    if (nw && !reg_journal_write(ctx->journal_dir, wr, nw, err, sizeof err)) {
        vg_err("journal: %s", err);
        spoil(run, nrun, newly_queued, "no DNS server answered and the journal cannot be written",
              err);
    }
    /* journal entries that are settled now */
    for (size_t k = 0; k < nrun; k++)
        if (run[k]->result != REG_QUEUED)
            names[nd++] = run[k]->name;
    if (nd && !reg_journal_drop(ctx->journal_dir, names, nd, err, sizeof err))
        vg_err("journal: %s", err);

    /* the outcome → VM table */
    nw = nd = 0;
    for (size_t k = 0; k < nrun; k++) {
        if (run[k]->kind == REG_CHANGE_DEL)
            names[nd++] = run[k]->name;
        else if (table_add(run[k]))
            wr[nw++] = run[k];
    }
    if (nw && !reg_table_write(ctx->cfg->vm_dir, wr, nw, ctx->eng.id.host, err, sizeof err)) {
        vg_err("VM table: %s", err);
        spoil(run, nrun, table_add, "VM table entry not written", err);
    }
    if (nd && !reg_table_remove(ctx->cfg->vm_dir, names, nd, err, sizeof err))
        vg_err("VM table: %s", err);

    for (size_t i = 0; i < n; i++) {
        if (winner[i] == i)
            continue;
        c[i]->result = c[winner[i]]->result;
        snprintf(c[i]->detail, sizeof c[i]->detail,
                 "superseded by a later request for "
                 "the same name");
    }
out:
    vg_free(ord);
    vg_free(winner);
    vg_free(run);
    vg_free(wr);
    vg_free(names);
}

long reg_replay(struct reg_ctx *ctx)
{
    struct reg_changes j = {0};
    struct reg_change **run = NULL;
    const char **bad = NULL;
    size_t m = 0, nbad = 0;
    long pending = -1;
    char err[512];
    if (!reg_journal_load(ctx->journal_dir, &j, err, sizeof err)) {
        vg_err("journal: %s", err);
        goto done;
    }
    pending = 0;
    if (j.n == 0)
        goto done;
    run = vg_calloc(j.n, sizeof *run);
    bad = vg_calloc(j.n, sizeof *bad);
    if (run == NULL || bad == NULL) {
        pending = -1;
        goto done;
    }
    for (size_t i = 0; i < j.n; i++) {
        struct reg_change *c = &j.v[i];
        if ((c->zone = vg_config_zone_of(ctx->cfg, c->name)) == NULL) {
            vg_warn("journal: %s is not under a configured zone: dropped", c->name);
            bad[nbad++] = c->name;
            continue;
        }
        run[m++] = c;
    }
    if (nbad)
        reg_journal_drop(ctx->journal_dir, bad, nbad, err, sizeof err);
    ctx->eng.conn.down = false;
    reg_apply(ctx, run, m, true);
    for (size_t i = 0; i < m; i++) {
        const struct reg_change *c = run[i];
        const char *op = c->kind == REG_CHANGE_DEL ? "del" : "add";
        if (c->result == REG_QUEUED)
            pending++;
        else if (c->result == REG_OK)
            vg_notice("journal: %s %s: done (queued %lld s ago)", op, c->name,
                      (long long)time(NULL) - c->queued);
        else
            vg_err("journal: %s %s: %s: %s; dropped", op, c->name, reg_result_str(c->result),
                   c->detail);
    }
done:
    vg_free(run);
    vg_free(bad);
    reg_changes_free(&j);
    return pending;
}

enum reg_result reg_heartbeat(struct reg_ctx *ctx, char *err, size_t errlen)
{
    enum reg_result first = REG_OK;
    for (size_t i = 0; i < ctx->cfg->nzones; i++) {
        char e[512];
        enum reg_result r = reg_engine_heartbeat(&ctx->eng, ctx->cfg->zones[i], e, sizeof e);
        if (r != REG_OK && first == REG_OK) {
            first = r;
            snprintf(err, errlen, "%s: %s", ctx->cfg->zones[i], e);
        }
    }
    return first;
}

/* ---- results of sync and gc ---------------------------------------------------------------- */

static void outcome(struct reg_outcomes *o, const char *name, const char *action, enum reg_result r,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void outcome(struct reg_outcomes *o, const char *name, const char *action, enum reg_result r,
                    const char *fmt, ...)
{
    if (!vg_grow(&o->v, &o->cap, o->n, sizeof *o->v, 64)) {
        snprintf(o->err, sizeof o->err, "out of memory");
        return;
    }
    struct reg_outcome *out = &o->v[o->n++];
    va_list ap;
    snprintf(out->name, sizeof out->name, "%s", name);
    out->action = action;
    out->result = r;
    va_start(ap, fmt);
    vsnprintf(out->detail, sizeof out->detail, fmt, ap);
    va_end(ap);
}

void reg_outcomes_free(struct reg_outcomes *o)
{
    vg_free(o->v);
    o->v = NULL;
    o->n = o->cap = 0;
}

/* The results a command's exit code is made of (not every line counts, see reg_gc). */
struct results {
    enum reg_result *r;
    size_t n, cap;
    bool oom;
};

static void note(struct results *rs, enum reg_result r)
{
    if (!vg_grow(&rs->r, &rs->cap, rs->n, sizeof *rs->r, 64)) {
        rs->oom = true;
        return;
    }
    rs->r[rs->n++] = r;
}

static int results_exit(struct results *rs, const struct reg_outcomes *o)
{
    int code = rs->oom || o->err[0] ? REG_EXIT_ERROR : reg_exit_code_of(rs->r, rs->n);
    vg_free(rs->r);
    return code;
}

/* ---- sync -------------------------------------------------------------------------------- */

static const char *const sync_verbs[] = {
    [REG_SYNC_NONE] = "in-sync", [REG_SYNC_ADD_FRESH] = "add",     [REG_SYNC_ADD_OWN] = "republish",
    [REG_SYNC_DEL] = "withdraw", [REG_SYNC_CONFLICT] = "conflict",
};

/* Sync one zone: the table names under it against its transfer. */
static void sync_zone(struct reg_ctx *ctx, const char *zone, const char *const *names, size_t nn,
                      bool dry_run, struct reg_outcomes *out, struct results *rs)
{
    struct reg_zone *z = NULL;
    struct reg_sync_step *steps = NULL;
    struct reg_change *ch = NULL, **run = NULL;
    size_t *step_of = NULL, ns = 0, nrun = 0;
    const char **settled = NULL;
    char err[1024];
    enum reg_result r = reg_engine_axfr(&ctx->eng, zone, &z, err, sizeof err);
    if (r != REG_OK) {
        outcome(out, zone, "transfer", r, "%s", err);
        note(rs, r);
        return;
    }
    if (!reg_sync_plan(z, &ctx->eng.id, names, nn, &steps, &ns))
        goto oom;
    ch = vg_calloc(ns + 1, sizeof *ch);
    run = vg_calloc(ns + 1, sizeof *run);
    step_of = vg_calloc(ns + 1, sizeof *step_of);
    settled = vg_calloc(ns + 1, sizeof *settled);
    if (!ch || !run || !step_of || !settled)
        goto oom;
    /* the steps that change something, as changes */
    for (size_t s = 0; s < ns; s++) {
        struct reg_change *c = &ch[nrun];
        switch (steps[s].action) {
        case REG_SYNC_NONE:
        case REG_SYNC_CONFLICT:
            continue;
        case REG_SYNC_ADD_FRESH:
            c->kind = REG_CHANGE_ADD;
            break;
        case REG_SYNC_ADD_OWN:
            c->kind = REG_CHANGE_ADD;
            c->republish = true;
            break;
        case REG_SYNC_DEL:
            c->kind = REG_CHANGE_DEL;
            break;
        }
        snprintf(c->name, sizeof c->name, "%s", steps[s].name);
        c->zone = zone;
        step_of[nrun] = s;
        run[nrun++] = c;
    }
    if (!dry_run) {
        reg_engine_run(&ctx->eng, run, nrun);
        bool any_add = false;
        for (size_t k = 0; k < nrun; k++)
            any_add |= ch[k].kind == REG_CHANGE_ADD;
        if (!any_add) {
            r = reg_engine_heartbeat(&ctx->eng, zone, err, sizeof err);
            if (r != REG_OK) {
                outcome(out, zone, "heartbeat", r, "%s", err);
                note(rs, r);
            }
        }
    }
    size_t nsettled = 0;
    for (size_t s = 0, k = 0; s < ns; s++) {
        const struct reg_sync_step *st = &steps[s];
        const char *verb = sync_verbs[st->action];
        if (st->action == REG_SYNC_NONE) {
            outcome(out, st->name, verb, REG_OK, "%s", st->why);
            settled[nsettled++] = st->name;
            continue;
        }
        if (st->action == REG_SYNC_CONFLICT) {
            outcome(out, st->name, verb, REG_INUSE, "%s", st->why);
            note(rs, REG_INUSE);
            continue;
        }
        while (k < nrun && step_of[k] != s)
            k++;
        if (dry_run) {
            outcome(out, st->name, verb, REG_OK, "(dry run) ");
            continue;
        }
        outcome(out, st->name, verb, ch[k].result, "%s%s%s", st->why, ch[k].detail[0] ? "; " : "",
                ch[k].detail);
        note(rs, ch[k].result);
        /* a done withdrawal or add makes the name's pending journal entry moot */
        if (ch[k].result == REG_OK)
            settled[nsettled++] = st->name;
    }
    /* pending journal entries of this zone are superseded by the sync */
    if (!dry_run && nsettled &&
        !reg_journal_drop(ctx->journal_dir, settled, nsettled, err, sizeof err))
        vg_err("journal: %s", err);
    goto done;
oom:
    note(rs, REG_ERROR);
done:
    vg_free(ch);
    vg_free(run);
    vg_free(step_of);
    vg_free(settled);
    vg_free(steps);
    reg_zone_free(z);
}

int reg_sync(struct reg_ctx *ctx, bool dry_run, struct reg_outcomes *out)
{
    const struct vg_config *cfg = ctx->cfg;
    struct reg_changes tab = {0};
    struct results rs = {0};
    const char **names = NULL;
    char err[1024];
    if (!reg_table_load(cfg->vm_dir, &tab, err, sizeof err)) {
        snprintf(out->err, sizeof out->err, "VM table: %s", err);
        reg_changes_free(&tab);
        return REG_EXIT_ERROR;
    }
    names = vg_calloc(tab.n + 1, sizeof *names);
    if (names == NULL) {
        snprintf(out->err, sizeof out->err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < tab.n; i++) {
        if (vg_config_zone_of(cfg, tab.v[i].name) == NULL) {
            outcome(out, tab.v[i].name, "skipped", REG_BADNAME, "not under a configured zone");
            note(&rs, REG_BADNAME);
        }
    }
    for (size_t zi = 0; zi < cfg->nzones; zi++) {
        size_t nn = 0;
        for (size_t i = 0; i < tab.n; i++)
            if (vg_config_zone_of(cfg, tab.v[i].name) == cfg->zones[zi])
                names[nn++] = tab.v[i].name;
        sync_zone(ctx, cfg->zones[zi], names, nn, dry_run, out, &rs);
    }
done:
    vg_free(names);
    reg_changes_free(&tab);
    return results_exit(&rs, out);
}

/* ---- gc ---------------------------------------------------------------------------------- */

int reg_gc(struct reg_ctx *ctx, bool dry_run, struct reg_outcomes *out)
{
    const struct vg_config *cfg = ctx->cfg;
    struct results rs = {0};
    char err[1024];
    long long now = (long long)time(NULL);
    for (size_t zi = 0; zi < cfg->nzones; zi++) {
        const char *zone = cfg->zones[zi];
        struct reg_zone *z = NULL;
        enum reg_result r = reg_engine_axfr(&ctx->eng, zone, &z, err, sizeof err);
        if (r != REG_OK) {
            outcome(out, zone, "transfer", r, "%s", err);
            note(&rs, r);
            continue;
        }
        struct reg_gc_step *steps = NULL;
        size_t ns = 0;
        if (!reg_gc_plan(z, &ctx->eng.id, now, cfg->gc_after, &steps, &ns)) {
            reg_zone_free(z);
            note(&rs, REG_ERROR);
            continue;
        }
        struct reg_change *ch = vg_calloc(ns + 1, sizeof *ch);
        struct reg_change **run = reg_change_ptrs(ch, ns);
        if (ch && run) {
            for (size_t s = 0; s < ns; s++) {
                ch[s].kind = steps[s].host_record ? REG_CHANGE_GC_HOST : REG_CHANGE_GC_VM;
                snprintf(ch[s].name, sizeof ch[s].name, "%s", steps[s].name);
                ch[s].gc_arg = steps[s].arg;
                ch[s].zone = zone;
            }
            if (!dry_run)
                reg_engine_run(&ctx->eng, run, ns);
            for (size_t s = 0; s < ns; s++) {
                char why[1600];
                if (steps[s].host_record)
                    snprintf(why, sizeof why, "host record, silent for %lld s", steps[s].silent);
                else if (steps[s].silent >= 0)
                    snprintf(why, sizeof why, "host %s silent for %lld s", steps[s].arg,
                             steps[s].silent);
                else
                    snprintf(why, sizeof why, "host %s has no heartbeat record", steps[s].arg);
                if (!dry_run && ch[s].detail[0])
                    snprintf(why + strlen(why), sizeof why - strlen(why), "; %s", ch[s].detail);
                outcome(out, steps[s].name, "withdraw", dry_run ? REG_OK : ch[s].result, "%s", why);
                /* a VM that changed hands meanwhile is not a failure of gc */
                note(&rs, dry_run || ch[s].result == REG_NOTOWNER ? REG_OK : ch[s].result);
            }
        } else {
            note(&rs, REG_ERROR);
        }
        vg_free(ch);
        vg_free(run);
        vg_free(steps);
        reg_zone_free(z);
    }
    return results_exit(&rs, out);
}

/* ---- list -------------------------------------------------------------------------------- */

/* What the zone (and the journal) say about the VM table entry e. */
static void list_state(const struct reg_ctx *ctx, const struct reg_listing *l,
                       const struct reg_change *e, char *state, size_t len)
{
    const char *zone = vg_config_zone_of(ctx->cfg, e->name);
    const struct reg_zone *z = NULL;
    for (size_t zi = 0; zone && zi < l->nzones; zi++)
        if (l->zones[zi].zone == zone)
            z = l->zones[zi].z;
    bool pending = false;
    for (size_t j = 0; j < l->journal.n; j++)
        pending |= strcmp(l->journal.v[j].name, e->name) == 0;
    snprintf(state, len, "unknown");
    if (pending) {
        snprintf(state, len, "queued");
    } else if (zone == NULL) {
        snprintf(state, len, "no-zone");
    } else if (z) {
        const struct reg_zvm *v = reg_zone_vm(z, e->name);
        if (v == NULL)
            snprintf(state, len, "missing");
        else if (strcmp(v->owner, ctx->eng.id.host) == 0)
            snprintf(state, len, "%s",
                     reg_zvm_matches(v, &ctx->eng.id, zone) ? "published" : "incomplete");
        else if (v->owner[0])
            snprintf(state, len, "owner=%s", v->owner);
        else
            snprintf(state, len, "foreign");
    }
}

int reg_list(struct reg_ctx *ctx, struct reg_listing *out)
{
    const struct vg_config *cfg = ctx->cfg;
    char err[1024];
    int code = REG_EXIT_OK;
    if (!reg_table_load(cfg->vm_dir, &out->table, err, sizeof err) ||
        !reg_journal_load(ctx->journal_dir, &out->journal, err, sizeof err)) {
        snprintf(out->err, sizeof out->err, "%s", err);
        return REG_EXIT_ERROR;
    }
    if ((out->zones = vg_calloc(cfg->nzones, sizeof *out->zones)) != NULL)
        out->nzones = cfg->nzones;
    for (size_t zi = 0; zi < out->nzones; zi++) {
        struct reg_list_zone *lz = &out->zones[zi];
        lz->zone = cfg->zones[zi];
        enum reg_result r = reg_engine_axfr(&ctx->eng, lz->zone, &lz->z, lz->err, sizeof lz->err);
        if (r != REG_OK)
            code = reg_result_exit(r);
    }
    out->now = (long long)time(NULL);
    if ((out->vms = vg_calloc(out->table.n + 1, sizeof *out->vms)) == NULL) {
        snprintf(out->err, sizeof out->err, "out of memory");
        return REG_EXIT_ERROR;
    }
    for (size_t i = 0; i < out->table.n; i++) {
        out->vms[i].entry = &out->table.v[i];
        list_state(ctx, out, &out->table.v[i], out->vms[i].state, sizeof out->vms[i].state);
    }
    return code;
}

void reg_listing_free(struct reg_listing *l)
{
    for (size_t zi = 0; zi < l->nzones; zi++)
        reg_zone_free(l->zones[zi].z);
    vg_free(l->zones);
    vg_free(l->vms);
    reg_changes_free(&l->table);
    reg_changes_free(&l->journal);
    memset(l, 0, sizeof *l);
}
