#include "reg_zone.h"

#include "vg_addr.h"
#include "vg_alloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg_zone *reg_zone_new(const char *zone)
{
    struct reg_zone *z = vg_calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    snprintf(z->zone, sizeof z->zone, "%s", zone);
    return z;
}

void reg_zone_free(struct reg_zone *z)
{
    if (z == NULL)
        return;
    vg_free(z->vms);
    vg_free(z->hosts);
    vg_free(z->index);
    vg_free(z);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static bool reindex(struct reg_zone *z, size_t cap)
{
    uint32_t *ix = vg_calloc(cap, sizeof *ix);
    if (ix == NULL)
        return false;
    for (size_t i = 0; i < z->nvms; i++) {
        size_t s = hash(z->vms[i].name) & (cap - 1);
        while (ix[s])
            s = (s + 1) & (cap - 1);
        ix[s] = (uint32_t)i + 1;
    }
    vg_free(z->index);
    z->index = ix;
    z->nindex = cap;
    return true;
}

struct reg_zvm *reg_zone_vm(const struct reg_zone *z, const char *name)
{
    if (z->nindex == 0)
        return NULL;
    size_t s = hash(name) & (z->nindex - 1);
    while (z->index[s]) {
        struct reg_zvm *v = &z->vms[z->index[s] - 1];
        if (strcmp(v->name, name) == 0)
            return v;
        s = (s + 1) & (z->nindex - 1);
    }
    return NULL;
}

static struct reg_zvm *vm_get(struct reg_zone *z, const char *name)
{
    struct reg_zvm *v = reg_zone_vm(z, name);
    if (v)
        return v;
    if (!vg_grow(&z->vms, &z->capvms, z->nvms, sizeof *z->vms, 64))
        return NULL;
    if ((z->nvms + 1) * 2 > z->nindex && !reindex(z, z->nindex ? z->nindex * 2 : 128))
        return NULL;
    v = &z->vms[z->nvms++];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    size_t s = hash(name) & (z->nindex - 1);
    while (z->index[s])
        s = (s + 1) & (z->nindex - 1);
    z->index[s] = (uint32_t)z->nvms;
    return v;
}

struct reg_zhost *reg_zone_host(const struct reg_zone *z, const char *host)
{
    for (size_t i = 0; i < z->nhosts; i++)
        if (strcmp(z->hosts[i].host, host) == 0)
            return &z->hosts[i];
    return NULL;
}

static struct reg_zhost *host_get(struct reg_zone *z, const char *host)
{
    struct reg_zhost *h = reg_zone_host(z, host);
    if (h)
        return h;
    if (z->nhosts == z->caphosts) {
        size_t cap = z->caphosts ? z->caphosts * 2 : 8;
        struct reg_zhost *g = vg_realloc(z->hosts, cap * sizeof *g);
        if (g == NULL)
            return NULL;
        z->hosts = g;
        z->caphosts = cap;
    }
    h = &z->hosts[z->nhosts++];
    memset(h, 0, sizeof *h);
    snprintf(h->host, sizeof h->host, "%s", host);
    h->heartbeat = -1;
    return h;
}

/* owner name of rr, lower case, without the trailing dot; false if it is not plain text */
static bool owner_text(const ldns_rr *rr, char *out, size_t outlen)
{
    char *s = ldns_rdf2str(ldns_rr_owner(rr));
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    bool ok = n > 0 && n < outlen && strchr(s, '\\') == NULL;
    if (ok) {
        if (s[n - 1] == '.')
            n--;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)tolower((unsigned char)s[i]);
        out[n] = '\0';
    }
    free(s);
    return ok;
}

/* "PREFIX<digits>" → value, -1 otherwise */
static long long heartbeat_of(const char *txt)
{
    long long v;
    return vg_rec_heartbeat_parse(txt, strlen(txt), &v) ? v : -1;
}

static bool add_host_rr(struct reg_zone *z, const char *host, const ldns_rr *rr)
{
    char norm[VG_NAME_MAX + 1];
    if (vg_name_normalize(host, strlen(host), norm) != VG_NAME_OK)
        return true; /* not a host vmgate could have written */
    struct reg_zhost *h = host_get(z, norm);
    if (h == NULL)
        return false;
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT) {
        char txt[256];
        h->ntxt++;
        if (reg_txt_text(rr, txt, sizeof txt) && heartbeat_of(txt) >= 0 &&
            strlen(txt) < sizeof h->hbtxt) {
            h->heartbeat = heartbeat_of(txt);
            memcpy(h->hbtxt, txt, strlen(txt) + 1);
        }
    }
    return true;
}

static bool add_vm_rr(struct reg_zone *z, const char *name, const ldns_rr *rr)
{
    struct reg_zvm *v = vm_get(z, name);
    if (v == NULL)
        return false;
    const ldns_rdf *r0 = ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, 0) : NULL;
    switch (ldns_rr_get_type(rr)) {
    case LDNS_RR_TYPE_A:
        if (v->nv4 < REG_MAX_ADDRS && r0 && ldns_rdf_size(r0) == 4)
            memcpy(&v->v4[v->nv4++], ldns_rdf_data(r0), 4);
        else
            v->foreign = true;
        break;
    case LDNS_RR_TYPE_AAAA:
        if (v->nv6 < REG_MAX_ADDRS && r0 && ldns_rdf_size(r0) == 16)
            memcpy(&v->v6[v->nv6++], ldns_rdf_data(r0), 16);
        else
            v->foreign = true;
        break;
    case LDNS_RR_TYPE_TXT: {
        char txt[256], host[VG_REC_HOST_MAX + 1];
        v->ntxt++;
        if (reg_txt_text(rr, txt, sizeof txt) && vg_rec_owner_parse(txt, strlen(txt), host))
            snprintf(v->owner, sizeof v->owner, "%s", host);
        break;
    }
    default:
        v->foreign = true;
        break;
    }
    return true;
}

static bool add_srv_rr(struct reg_zone *z, const char *name, const ldns_rr *rr)
{
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SRV)
        return true;
    struct reg_zvm *v = vm_get(z, name);
    if (v == NULL)
        return false;
    v->nsrv++;
    if (ldns_rr_rd_count(rr) == 4) {
        v->srv_port = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
        char *t = ldns_rdf2str(ldns_rr_rdf(rr, 3));
        if (t) {
            size_t n = strlen(t);
            if (n > 0 && t[n - 1] == '.')
                t[--n] = '\0';
            for (size_t i = 0; i < n; i++)
                t[i] = (char)tolower((unsigned char)t[i]);
            snprintf(v->srv_target, sizeof v->srv_target, "%s", t);
            free(t);
        }
    }
    return true;
}

bool reg_zone_add_rr(struct reg_zone *z, const ldns_rr *rr)
{
    char name[512], norm[VG_NAME_MAX + 1];
    if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN || !owner_text(rr, name, sizeof name))
        return true;
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA)
        z->soa_seen = true;
    if (!vg_name_under(name, z->zone))
        return true; /* the apex and anything outside */
    size_t n = strlen(name), zl = strlen(z->zone);
    size_t sl = strlen(VG_REC_SRV_PREFIX);
    if (strncmp(name, VG_REC_SRV_PREFIX, sl) == 0) {
        const char *vm = name + sl;
        if (vg_name_normalize(vm, strlen(vm), norm) == VG_NAME_OK && vg_name_under(norm, z->zone))
            return add_srv_rr(z, norm, rr);
        return true;
    }
    /* HOST.vmgate-hosts.ZONE */
    size_t hl = strlen("." VG_REC_HOSTS_LABEL ".");
    if (n > zl + hl && memcmp(name + n - zl - hl, "." VG_REC_HOSTS_LABEL ".", hl) == 0) {
        name[n - zl - hl] = '\0';
        return add_host_rr(z, name, rr);
    }
    if (vg_name_normalize(name, n, norm) != VG_NAME_OK)
        return true; /* other '_' names, wildcards: not VMs */
    return add_vm_rr(z, norm, rr);
}

static bool same_v4(const struct in_addr *a, size_t na, const struct in_addr *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++)
            found = memcmp(&a[i], &b[j], sizeof a[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool same_v6(const struct in6_addr *a, size_t na, const struct in6_addr *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        bool found = false;
        for (size_t j = 0; j < nb && !found; j++)
            found = memcmp(&a[i], &b[j], sizeof a[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

bool reg_zvm_matches(const struct reg_zvm *v, const struct reg_ident *id, const char *zone)
{
    char target[VG_NAME_MAX + 1];
    if (!vg_rec_host_name(id->host, zone, target))
        return false;
    return strcmp(v->owner, id->host) == 0 && v->ntxt == 1 && !v->foreign && v->nsrv == 1 &&
           v->srv_port == id->port && strcmp(v->srv_target, target) == 0 &&
           same_v4(v->v4, v->nv4, id->v4, id->nv4) && same_v6(v->v6, v->nv6, id->v6, id->nv6);
}

static bool in_list(const char *name, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

bool reg_sync_plan(const struct reg_zone *z, const struct reg_ident *id, const char *const *names,
                   size_t n, struct reg_sync_step **steps, size_t *nsteps)
{
    struct reg_sync_step *s = vg_calloc(n + z->nvms + 1, sizeof *s);
    size_t k = 0;
    if (s == NULL)
        return false;
    /* table → zone */
    for (size_t i = 0; i < n; i++) {
        struct reg_sync_step *st = &s[k++];
        const struct reg_zvm *v = reg_zone_vm(z, names[i]);
        snprintf(st->name, sizeof st->name, "%s", names[i]);
        if (v == NULL) {
            st->action = REG_SYNC_ADD_FRESH;
            snprintf(st->why, sizeof st->why, "missing from the zone");
        } else if (strcmp(v->owner, id->host) == 0) {
            if (reg_zvm_matches(v, id, z->zone)) {
                st->action = REG_SYNC_NONE;
                snprintf(st->why, sizeof st->why, "published");
            } else {
                st->action = REG_SYNC_ADD_OWN;
                snprintf(st->why, sizeof st->why, "records incomplete or stale");
            }
        } else if (v->owner[0]) {
            st->action = REG_SYNC_CONFLICT;
            snprintf(st->why, sizeof st->why, "owned by host %s", v->owner);
        } else if (v->ntxt == 0 && v->nv4 == 0 && v->nv6 == 0 && !v->foreign) {
            st->action = REG_SYNC_ADD_FRESH; /* only a leftover SRV */
            snprintf(st->why, sizeof st->why, "missing from the zone (leftover SRV)");
        } else {
            st->action = REG_SYNC_CONFLICT;
            snprintf(st->why, sizeof st->why, "in use by records not managed by vmgate");
        }
    }
    /* zone → table: our records without a VM behind them */
    for (size_t i = 0; i < z->nvms; i++) {
        const struct reg_zvm *v = &z->vms[i];
        if (strcmp(v->owner, id->host) != 0 || in_list(v->name, names, n))
            continue;
        struct reg_sync_step *st = &s[k++];
        st->action = REG_SYNC_DEL;
        snprintf(st->name, sizeof st->name, "%s", v->name);
        snprintf(st->why, sizeof st->why, "stray: not in this host's VM table");
    }
    *steps = s;
    *nsteps = k;
    return true;
}

bool reg_gc_plan(const struct reg_zone *z, const struct reg_ident *id, long long now,
                 long long gc_after, struct reg_gc_step **steps, size_t *nsteps)
{
    struct reg_gc_step *s = vg_calloc(z->nvms + z->nhosts + 1, sizeof *s);
    size_t k = 0;
    if (s == NULL)
        return false;
    for (size_t i = 0; i < z->nvms; i++) {
        const struct reg_zvm *v = &z->vms[i];
        if (v->owner[0] == '\0' || strcmp(v->owner, id->host) == 0)
            continue;
        const struct reg_zhost *h = reg_zone_host(z, v->owner);
        long long silent = h && h->heartbeat >= 0 ? now - h->heartbeat : -1;
        if (h != NULL && h->heartbeat >= 0 && silent <= gc_after)
            continue;
        struct reg_gc_step *st = &s[k++];
        snprintf(st->name, sizeof st->name, "%s", v->name);
        snprintf(st->arg, sizeof st->arg, "%s", v->owner);
        st->silent = silent;
    }
    for (size_t i = 0; i < z->nhosts; i++) {
        const struct reg_zhost *h = &z->hosts[i];
        if (strcmp(h->host, id->host) == 0 || h->heartbeat < 0 || h->ntxt != 1 ||
            now - h->heartbeat <= gc_after)
            continue;
        struct reg_gc_step *st = &s[k++];
        st->host_record = true;
        if (!vg_rec_host_name(h->host, z->zone, st->name)) {
            k--;
            continue;
        }
        snprintf(st->arg, sizeof st->arg, "%s", h->hbtxt);
        st->silent = now - h->heartbeat;
    }
    *steps = s;
    *nsteps = k;
    return true;
}
