#include "reg_cmd.h"

#include "reg_journal.h"
#include "reg_store.h"
#include "vg_alloc.h"
#include "vg_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
            snprintf(err, errlen, "'%s' is not under the zone%s %s", in,
                     cfg->nzones > 1 ? "s" : "", cfg->zone);
            return false;
        }
    }
    char why[300];
    if (!vg_rec_vm_name_ok(out, *zone, why, sizeof why)) {
        snprintf(err, errlen, "'%s': %s", in, why);
        return false;
    }
    return true;
}

void reg_req_free(struct reg_req *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vg_free(r[i].channel);
        vg_free(r[i].qmp);
        r[i].channel = r[i].qmp = NULL;
        reg_sets_clear(&r[i].sets);
    }
}

static const struct reg_req *sort_base;
static int by_name(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(sort_base[i].name, sort_base[j].name);
    if (c)
        return c;
    return i < j ? -1 : i > j;
}

static bool vm_file_exists(const char *dir, const char *name)
{
    char path[4096 + VG_NAME_MAX + 2];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

void reg_apply(struct reg_ctx *ctx, struct reg_req *reqs, size_t n, bool journal)
{
    size_t *ord = vg_calloc(n ? n : 1, sizeof *ord);
    size_t *winner = vg_calloc(n ? n : 1, sizeof *winner);
    struct reg_op *ops = vg_calloc(n ? n : 1, sizeof *ops);
    struct reg_op **pops = vg_calloc(n ? n : 1, sizeof *pops);
    size_t *op_req = vg_calloc(n ? n : 1, sizeof *op_req);
    const struct reg_rec **wr = vg_calloc(n ? n : 1, sizeof *wr);
    struct reg_rec *recs = vg_calloc(n ? n : 1, sizeof *recs);
    const char **names = vg_calloc(n ? n : 1, sizeof *names);
    char err[512];
    size_t nops = 0;

    if (!ord || !winner || !ops || !pops || !op_req || !wr || !recs || !names) {
        for (size_t i = 0; i < n; i++) {
            reqs[i].result = REG_ERROR;
            snprintf(reqs[i].detail, sizeof reqs[i].detail, "out of memory");
        }
        goto out;
    }
    /* the last request for a name wins */
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    sort_base = reqs;
    qsort(ord, n, sizeof *ord, by_name);
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e + 1 < n && strcmp(reqs[ord[e + 1]].name, reqs[ord[k]].name) == 0)
            e++;
        for (size_t m = k; m <= e; m++)
            winner[ord[m]] = ord[e];
        k = e + 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (winner[i] != i)
            continue;
        struct reg_op *op = &ops[nops];
        op->kind = reqs[i].del ? REG_OP_DEL : REG_OP_ADD;
        snprintf(op->name, sizeof op->name, "%s", reqs[i].name);
        op->zone = reqs[i].zone;
        op->takeover = reqs[i].takeover;
        /* a VM table entry says we published it before (a queued add wrote one too, but then
         * the name is most likely still free) */
        op->own_hint = !reqs[i].del && !reqs[i].takeover && !reqs[i].from_journal &&
                       vm_file_exists(ctx->cfg->vm_dir, reqs[i].name);
        pops[nops] = op;
        op_req[nops++] = i;
    }
    reg_engine_run(&ctx->eng, pops, nops);

    /* the outcome → journal */
    size_t nw = 0;
    for (size_t k = 0; k < nops; k++) {
        struct reg_req *r = &reqs[op_req[k]];
        r->result = ops[k].result;
        snprintf(r->detail, sizeof r->detail, "%s", ops[k].detail);
        if (!journal || !reg_result_transient(r->result))
            continue;
        r->result = REG_QUEUED;
        if (r->from_journal)
            continue;
        struct reg_rec *rec = &recs[nw];
        snprintf(rec->name, sizeof rec->name, "%s", r->name);
        rec->del = r->del;
        rec->takeover = r->takeover;
        rec->channel = r->channel;
        rec->qmp = r->qmp;
        rec->sets = r->sets; /* shares the strings: recs are not cleared */
        rec->queued = (long long)time(NULL);
        wr[nw++] = rec;
    }
    if (nw && !reg_journal_write(ctx->journal_dir, wr, nw, err, sizeof err)) {
        vg_err("journal: %s", err);
        for (size_t k = 0; k < nops; k++) {
            struct reg_req *r = &reqs[op_req[k]];
            if (r->result == REG_QUEUED && !r->from_journal) {
                r->result = REG_ERROR;
                snprintf(r->detail, sizeof r->detail, "no DNS server answered and the journal "
                                                      "cannot be written: %s", err);
            }
        }
    }
    /* journal entries that are settled now */
    size_t nd = 0;
    for (size_t k = 0; k < nops; k++)
        if (reqs[op_req[k]].result != REG_QUEUED)
            names[nd++] = reqs[op_req[k]].name;
    if (nd && !reg_journal_drop(ctx->journal_dir, names, nd, err, sizeof err))
        vg_err("journal: %s", err);

    /* the outcome → VM table */
    nw = 0;
    nd = 0;
    memset(recs, 0, n * sizeof *recs);
    for (size_t k = 0; k < nops; k++) {
        struct reg_req *r = &reqs[op_req[k]];
        if (r->del) {
            names[nd++] = r->name;
        } else if (r->result == REG_OK || r->result == REG_QUEUED) {
            struct reg_rec *rec = &recs[nw];
            snprintf(rec->name, sizeof rec->name, "%s", r->name);
            rec->channel = r->channel;
            rec->qmp = r->qmp;
            rec->owner = ctx->eng.id.host;
            rec->sets = r->sets;
            wr[nw++] = rec;
        }
    }
    if (nw && !reg_table_write(ctx->cfg->vm_dir, wr, nw, err, sizeof err)) {
        vg_err("VM table: %s", err);
        for (size_t k = 0; k < nops; k++) {
            struct reg_req *r = &reqs[op_req[k]];
            if (!r->del && (r->result == REG_OK || r->result == REG_QUEUED)) {
                r->result = REG_ERROR;
                snprintf(r->detail, sizeof r->detail, "VM table entry not written: %s", err);
            }
        }
    }
    if (nd && !reg_store_remove(ctx->cfg->vm_dir, names, nd, err, sizeof err))
        vg_err("VM table: %s", err);

    for (size_t i = 0; i < n; i++) {
        if (winner[i] == i)
            continue;
        reqs[i].result = reqs[winner[i]].result;
        snprintf(reqs[i].detail, sizeof reqs[i].detail, "superseded by a later request for "
                                                        "the same name");
    }
out:
    vg_free(ord);
    vg_free(winner);
    vg_free(ops);
    vg_free(pops);
    vg_free(op_req);
    vg_free(wr);
    vg_free(recs);
    vg_free(names);
}

long reg_replay(struct reg_ctx *ctx)
{
    struct reg_rec *recs = NULL;
    size_t n = 0;
    char err[512];
    if (!reg_journal_load(ctx->journal_dir, &recs, &n, err, sizeof err)) {
        vg_err("journal: %s", err);
        return -1;
    }
    if (n == 0) {
        reg_recs_free(recs, n);
        return 0;
    }
    struct reg_req *reqs = vg_calloc(n, sizeof *reqs);
    size_t m = 0;
    long pending = 0;
    if (reqs == NULL) {
        reg_recs_free(recs, n);
        return -1;
    }
    const char **bad = vg_calloc(n, sizeof *bad);
    size_t nbad = 0;
    for (size_t i = 0; i < n; i++) {
        struct reg_req *r = &reqs[m];
        const char *zone = vg_config_zone_of(ctx->cfg, recs[i].name);
        if (zone == NULL) {
            vg_warn("journal: %s is not under a configured zone: dropped", recs[i].name);
            if (bad)
                bad[nbad++] = recs[i].name;
            continue;
        }
        snprintf(r->name, sizeof r->name, "%s", recs[i].name);
        r->zone = zone;
        r->del = recs[i].del;
        r->takeover = recs[i].takeover;
        r->from_journal = true;
        r->queued = recs[i].queued;
        r->channel = recs[i].channel;
        r->qmp = recs[i].qmp;
        r->sets = recs[i].sets;
        recs[i].channel = recs[i].qmp = NULL;
        memset(&recs[i].sets, 0, sizeof recs[i].sets);
        m++;
    }
    if (nbad)
        reg_journal_drop(ctx->journal_dir, bad, nbad, err, sizeof err);
    vg_free(bad);
    ctx->eng.conn.down = false;
    reg_apply(ctx, reqs, m, true);
    for (size_t i = 0; i < m; i++) {
        if (reqs[i].result == REG_QUEUED)
            pending++;
        else if (reqs[i].result == REG_OK)
            vg_notice("journal: %s %s: done (queued %lld s ago)", reqs[i].del ? "del" : "add",
                      reqs[i].name, (long long)time(NULL) - reqs[i].queued);
        else
            vg_err("journal: %s %s: %s: %s; dropped", reqs[i].del ? "del" : "add", reqs[i].name,
                   reg_result_str(reqs[i].result), reqs[i].detail);
    }
    reg_req_free(reqs, m);
    vg_free(reqs);
    reg_recs_free(recs, n);
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

/* ---- sync -------------------------------------------------------------------------------- */

static void print_line(FILE *out, const char *name, const char *what, enum reg_result r,
                       const char *detail)
{
    fprintf(out, "%-40s %-12s %-10s %s\n", name, what, reg_result_str(r), detail ? detail : "");
}

struct results {
    enum reg_result *r;
    size_t n, cap;
};

static void note(struct results *rs, enum reg_result r)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        enum reg_result *g = vg_realloc(rs->r, cap * sizeof *g);
        if (g == NULL)
            return;
        rs->r = g;
        rs->cap = cap;
    }
    rs->r[rs->n++] = r;
}

int reg_sync(struct reg_ctx *ctx, FILE *out, bool dry_run)
{
    const struct vg_config *cfg = ctx->cfg;
    struct reg_rec *tab = NULL;
    size_t ntab = 0;
    struct results rs = {0};
    char err[1024];
    if (!reg_table_load(cfg->vm_dir, &tab, &ntab, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: VM table: %s\n", err);
        return REG_EXIT_ERROR;
    }
    const char **names = vg_calloc(ntab + 1, sizeof *names);
    for (size_t i = 0; names && i < ntab; i++) {
        if (vg_config_zone_of(cfg, tab[i].name) == NULL) {
            print_line(out, tab[i].name, "skipped", REG_BADNAME, "not under a configured zone");
            note(&rs, REG_BADNAME);
        }
    }
    for (size_t zi = 0; names && zi < cfg->nzones; zi++) {
        const char *zone = cfg->zones[zi];
        size_t nn = 0;
        for (size_t i = 0; i < ntab; i++)
            if (vg_config_zone_of(cfg, tab[i].name) == zone)
                names[nn++] = tab[i].name;
        struct reg_zone *z = NULL;
        enum reg_result r = reg_engine_axfr(&ctx->eng, zone, &z, err, sizeof err);
        if (r != REG_OK) {
            print_line(out, zone, "transfer", r, err);
            note(&rs, r);
            continue;
        }
        struct reg_sync_step *steps = NULL;
        size_t ns = 0;
        if (!reg_sync_plan(z, &ctx->eng.id, names, nn, &steps, &ns)) {
            reg_zone_free(z);
            note(&rs, REG_ERROR);
            continue;
        }
        struct reg_op *ops = vg_calloc(ns + 1, sizeof *ops);
        struct reg_op **pops = vg_calloc(ns + 1, sizeof *pops);
        size_t *step_of = vg_calloc(ns + 1, sizeof *step_of);
        size_t nops = 0;
        bool zone_ok = ops && pops && step_of;
        for (size_t s = 0; zone_ok && s < ns; s++) {
            struct reg_op *op = &ops[nops];
            switch (steps[s].action) {
            case REG_SYNC_NONE: continue;
            case REG_SYNC_CONFLICT: continue;
            case REG_SYNC_ADD_FRESH: op->kind = REG_OP_ADD; break;
            case REG_SYNC_ADD_OWN:
                op->kind = REG_OP_ADD;
                op->own_hint = true;
                break;
            case REG_SYNC_DEL: op->kind = REG_OP_DEL; break;
            }
            snprintf(op->name, sizeof op->name, "%s", steps[s].name);
            op->zone = zone;
            step_of[nops] = s;
            pops[nops++] = op;
        }
        if (zone_ok && !dry_run) {
            reg_engine_run(&ctx->eng, pops, nops);
            bool any_add = false;
            for (size_t k = 0; k < nops; k++)
                any_add |= ops[k].kind == REG_OP_ADD;
            if (!any_add) {
                r = reg_engine_heartbeat(&ctx->eng, zone, err, sizeof err);
                if (r != REG_OK) {
                    print_line(out, zone, "heartbeat", r, err);
                    note(&rs, r);
                }
            }
        }
        for (size_t s = 0, k = 0; zone_ok && s < ns; s++) {
            const struct reg_sync_step *st = &steps[s];
            static const char *const verbs[] = {"published", "add", "republish", "withdraw",
                                                "conflict"};
            if (st->action == REG_SYNC_NONE) {
                print_line(out, st->name, "in-sync", REG_OK, st->why);
                continue;
            }
            if (st->action == REG_SYNC_CONFLICT) {
                print_line(out, st->name, "conflict", REG_INUSE, st->why);
                note(&rs, REG_INUSE);
                continue;
            }
            while (k < nops && step_of[k] != s)
                k++;
            if (dry_run) {
                print_line(out, st->name, verbs[st->action], REG_OK, "(dry run) ");
                continue;
            }
            char d[1600];
            snprintf(d, sizeof d, "%s%s%s", st->why, ops[k].detail[0] ? "; " : "", ops[k].detail);
            print_line(out, st->name, verbs[st->action], ops[k].result, d);
            note(&rs, ops[k].result);
            if (ops[k].result == REG_OK && st->action == REG_SYNC_DEL) {
                const char *nm = st->name;
                reg_journal_drop(ctx->journal_dir, &nm, 1, err, sizeof err);
            }
        }
        /* pending journal entries of this zone are superseded by the sync */
        if (zone_ok && !dry_run) {
            const char **jn = vg_calloc(nn + 1, sizeof *jn);
            size_t nj = 0;
            for (size_t s = 0, k = 0; jn && s < ns; s++) {
                while (k < nops && step_of[k] < s)
                    k++;
                bool ok = steps[s].action == REG_SYNC_NONE ||
                          (k < nops && step_of[k] == s && ops[k].result == REG_OK);
                if (ok && steps[s].action != REG_SYNC_DEL)
                    jn[nj++] = steps[s].name;
            }
            if (nj)
                reg_journal_drop(ctx->journal_dir, jn, nj, err, sizeof err);
            vg_free(jn);
        }
        vg_free(ops);
        vg_free(pops);
        vg_free(step_of);
        vg_free(steps);
        reg_zone_free(z);
    }
    int code = names ? reg_exit_code_of(rs.r, rs.n) : REG_EXIT_ERROR;
    vg_free(names);
    vg_free(rs.r);
    reg_recs_free(tab, ntab);
    return code;
}

/* ---- gc ---------------------------------------------------------------------------------- */

int reg_gc(struct reg_ctx *ctx, FILE *out, bool dry_run)
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
            print_line(out, zone, "transfer", r, err);
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
        struct reg_op *ops = vg_calloc(ns + 1, sizeof *ops);
        struct reg_op **pops = vg_calloc(ns + 1, sizeof *pops);
        if (ops && pops) {
            for (size_t s = 0; s < ns; s++) {
                ops[s].kind = steps[s].host_record ? REG_OP_HOSTDEL : REG_OP_GCDEL;
                snprintf(ops[s].name, sizeof ops[s].name, "%s", steps[s].name);
                snprintf(ops[s].arg, sizeof ops[s].arg, "%s", steps[s].arg);
                ops[s].zone = zone;
                pops[s] = &ops[s];
            }
            if (!dry_run)
                reg_engine_run(&ctx->eng, pops, ns);
            for (size_t s = 0; s < ns; s++) {
                char why[1600];
                if (steps[s].host_record)
                    snprintf(why, sizeof why, "host record, silent for %lld s", steps[s].silent);
                else if (steps[s].silent >= 0)
                    snprintf(why, sizeof why, "host %s silent for %lld s", steps[s].arg,
                             steps[s].silent);
                else
                    snprintf(why, sizeof why, "host %s has no heartbeat record", steps[s].arg);
                if (!dry_run && ops[s].detail[0])
                    snprintf(why + strlen(why), sizeof why - strlen(why), "; %s", ops[s].detail);
                print_line(out, steps[s].name, "withdraw", dry_run ? REG_OK : ops[s].result, why);
                /* a VM that changed hands meanwhile is not a failure of gc */
                note(&rs, dry_run || ops[s].result == REG_NOTOWNER ? REG_OK : ops[s].result);
            }
        } else {
            note(&rs, REG_ERROR);
        }
        vg_free(ops);
        vg_free(pops);
        vg_free(steps);
        reg_zone_free(z);
    }
    int code = reg_exit_code_of(rs.r, rs.n);
    vg_free(rs.r);
    return code;
}

/* ---- list -------------------------------------------------------------------------------- */

int reg_list(struct reg_ctx *ctx, FILE *out, bool all)
{
    const struct vg_config *cfg = ctx->cfg;
    struct reg_rec *tab = NULL, *jr = NULL;
    size_t ntab = 0, nj = 0;
    char err[1024];
    int code = REG_EXIT_OK;
    if (!reg_table_load(cfg->vm_dir, &tab, &ntab, err, sizeof err) ||
        !reg_journal_load(ctx->journal_dir, &jr, &nj, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: %s\n", err);
        reg_recs_free(tab, ntab);
        return REG_EXIT_ERROR;
    }
    struct reg_zone **zones = vg_calloc(cfg->nzones, sizeof *zones);
    for (size_t zi = 0; zones && zi < cfg->nzones; zi++) {
        enum reg_result r = reg_engine_axfr(&ctx->eng, cfg->zones[zi], &zones[zi], err, sizeof err);
        if (r != REG_OK) {
            fprintf(stderr, "vmgate-reg: %s: %s: DNS state unknown\n", cfg->zones[zi], err);
            code = reg_result_exit(r);
        }
    }
    fprintf(out, "%-40s %-10s %s\n", "# NAME", "DNS", "CHANNEL");
    for (size_t i = 0; i < ntab; i++) {
        const char *zone = vg_config_zone_of(cfg, tab[i].name);
        struct reg_zone *z = NULL;
        for (size_t zi = 0; zones && zone && zi < cfg->nzones; zi++)
            if (cfg->zones[zi] == zone)
                z = zones[zi];
        char status[VG_NAME_MAX + 16] = "unknown";
        bool pending = false;
        for (size_t j = 0; j < nj; j++)
            pending |= strcmp(jr[j].name, tab[i].name) == 0;
        if (pending)
            snprintf(status, sizeof status, "queued");
        else if (zone == NULL)
            snprintf(status, sizeof status, "no-zone");
        else if (z) {
            const struct reg_zvm *v = reg_zone_vm(z, tab[i].name);
            if (v == NULL)
                snprintf(status, sizeof status, "missing");
            else if (strcmp(v->owner, ctx->eng.id.host) == 0)
                snprintf(status, sizeof status, "%s",
                         reg_zvm_matches(v, &ctx->eng.id, zone) ? "published" : "incomplete");
            else if (v->owner[0])
                snprintf(status, sizeof status, "owner=%s", v->owner);
            else
                snprintf(status, sizeof status, "foreign");
        }
        fprintf(out, "%-40s %-10s %s%s%s\n", tab[i].name, status,
                 tab[i].channel ? tab[i].channel : "-", tab[i].qmp ? " qmp=" : "",
                 tab[i].qmp ? tab[i].qmp : "");
    }
    for (size_t j = 0; j < nj; j++)
        if (jr[j].del)
            fprintf(out, "%-40s %-10s %s\n", jr[j].name, "queued-del", "-");
    if (all && zones) {
        long long now = (long long)time(NULL);
        for (size_t zi = 0; zi < cfg->nzones; zi++) {
            struct reg_zone *z = zones[zi];
            if (z == NULL)
                continue;
            fprintf(out, "# zone %s: %zu VM(s), %zu host(s)\n", z->zone, z->nvms, z->nhosts);
            for (size_t h = 0; h < z->nhosts; h++) {
                if (z->hosts[h].heartbeat >= 0)
                    fprintf(out, "host %-35s heartbeat %lld s ago\n", z->hosts[h].host,
                            now - z->hosts[h].heartbeat);
                else
                    fprintf(out, "host %-35s no heartbeat\n", z->hosts[h].host);
            }
            for (size_t v = 0; v < z->nvms; v++)
                fprintf(out, "vm   %-35s owner=%s\n", z->vms[v].name,
                        z->vms[v].owner[0] ? z->vms[v].owner : "-");
        }
    }
    for (size_t zi = 0; zones && zi < cfg->nzones; zi++)
        reg_zone_free(zones[zi]);
    vg_free(zones);
    reg_recs_free(tab, ntab);
    reg_recs_free(jr, nj);
    return code;
}
