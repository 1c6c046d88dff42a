/* resolvebench — lookups per second of the resolver library (common/vg_resolve.h) against a
 * real DNS server.  Keeps CONC lookups in flight on one libevent loop, cycling through the names
 * PREFIX1..PREFIXN of the zone, and prints one line of figures.  Not a test: it judges nothing.
 *
 *   resolvebench --server ADDR:PORT --zone ZONE [--prefix vm] [--names N] [--lookups L]
 *                [--conc C] [--cache]
 *
 * Without --cache the answer cache is off, so every lookup costs its four queries (A, AAAA,
 * TXT, SRV); with it, repeated names are served from memory until their TTL.
 */
#include "vg_config.h"
#include "vg_resolve.h"
#include "vg_time.h"

#include <event2/event.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench {
    struct vg_resolver *r;
    struct event_base *base;
    const char *prefix;
    unsigned long names, lookups, started, done, ok, neg, failed, inflight;
};

static void start_one(struct bench *b);

static void on_done(enum vg_res_status st, const struct vg_vm_location *loc, void *arg)
{
    struct bench *b = arg;
    b->done++;
    b->inflight--;
    if (st == VG_RES_OK)
        b->ok++;
    else if (vg_res_is_negative(st))
        b->neg++;
    else
        b->failed++;
    if (b->started < b->lookups)
        start_one(b);
    else if (b->inflight == 0)
        event_base_loopbreak(b->base);
}

static void start_one(struct bench *b)
{
    char name[128];
    snprintf(name, sizeof name, "%s%lu", b->prefix, b->started % b->names + 1);
    b->started++;
    b->inflight++;
    if (vg_resolve(b->r, name, on_done, b) == NULL) {
        fprintf(stderr, "resolvebench: out of memory\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"server", required_argument, NULL, 's'},  {"zone", required_argument, NULL, 'z'},
        {"prefix", required_argument, NULL, 'p'},  {"names", required_argument, NULL, 'n'},
        {"lookups", required_argument, NULL, 'l'}, {"conc", required_argument, NULL, 'c'},
        {"cache", no_argument, NULL, 'C'},         {NULL, 0, NULL, 0},
    };
    struct bench b = {.prefix = "vm", .names = 100, .lookups = 10000};
    unsigned long conc = 16;
    const char *server = NULL, *zone = NULL;
    bool cache = false;
    char err[256];
    int c;
    while ((c = getopt_long(argc, argv, "s:z:p:n:l:c:C", lopts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'z':
            zone = optarg;
            break;
        case 'p':
            b.prefix = optarg;
            break;
        case 'n':
            b.names = strtoul(optarg, NULL, 10);
            break;
        case 'l':
            b.lookups = strtoul(optarg, NULL, 10);
            break;
        case 'c':
            conc = strtoul(optarg, NULL, 10);
            break;
        case 'C':
            cache = true;
            break;
        default:
            fprintf(stderr, "usage: resolvebench --server ADDR:PORT --zone ZONE [--prefix P] "
                            "[--names N] [--lookups L] [--conc C] [--cache]\n");
            return 64;
        }
    }
    if (server == NULL || zone == NULL || b.names == 0 || b.lookups == 0 || conc == 0) {
        fprintf(stderr, "resolvebench: --server and --zone are required\n");
        return 64;
    }
    struct vg_config *cfg = vg_config_defaults();
    cfg->server = strdup(server);
    cfg->zones = calloc(1, sizeof *cfg->zones);
    cfg->zones[0] = strdup(zone);
    cfg->nzones = 1;
    b.base = event_base_new();
    if ((b.r = vg_resolver_new(b.base, cfg, err, sizeof err)) == NULL) {
        fprintf(stderr, "resolvebench: %s\n", err);
        return 78;
    }
    if (!cache)
        vg_resolver_set_cache(b.r, 0, 0);
    double t0 = vg_now_s();
    for (unsigned long i = 0; i < conc && b.started < b.lookups; i++)
        start_one(&b);
    event_base_dispatch(b.base);
    double dt = vg_now_s() - t0;
    struct vg_resolver_stats s;
    vg_resolver_stats(b.r, &s);
    printf("lookups %lu conc %lu cache %s names %lu: %.3f s, %.0f lookups/s, %.0f queries/s, "
           "ok %lu, negative %lu, failed %lu, cache hits %lu, coalesced %lu\n",
           b.done, conc, cache ? "on" : "off", b.names, dt, (double)b.done / dt,
           (double)s.queries / dt, b.ok, b.neg, b.failed, s.cache_hits, s.coalesced);
    vg_resolver_free(b.r);
    event_base_free(b.base);
    vg_config_free(cfg);
    return b.failed ? 1 : 0;
}
