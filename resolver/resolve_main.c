/* vmgate-resolve — print what the resolver library finds for a VM name (human or --json). */
#include "vg_addr.h"
#include "vg_client.h"
#include "vg_config.h"
#include "vg_log.h"
#include "vg_resolve.h"
#include "vg_version.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct result {
    bool done;
    enum vg_res_status st;
    struct vg_vm_location loc;
    struct vg_resolver *r;
    char why[256]; /* what the answer refused (vg_resolver_why) */
};

static void on_resolved(enum vg_res_status st, const struct vg_vm_location *loc, void *arg)
{
    struct result *res = arg;
    res->done = true;
    res->st = st;
    snprintf(res->why, sizeof res->why, "%s", vg_resolver_why(res->r));
    if (loc != NULL)
        res->loc = *loc;
}

/* JSON string: names and owners are LDH already, but the input name may be anything. */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const char *input, enum vg_res_status st, const struct vg_vm_location *loc,
                       const char *why)
{
    char a[VG_ADDRSTRLEN];
    printf("{\"query\":");
    json_str(input);
    printf(",\"status\":\"%s\"", vg_res_token(st));
    if (st != VG_RES_OK) {
        printf(",\"error\":");
        json_str(vg_res_strerror(st));
        if (why[0]) {
            printf(",\"detail\":");
            json_str(why);
        }
        if (loc && loc->name[0]) {
            printf(",\"name\":");
            json_str(loc->name);
        }
        printf("}\n");
        return;
    }
    printf(",\"name\":");
    json_str(loc->name);
    printf(",\"owner\":");
    if (loc->owner[0])
        json_str(loc->owner);
    else
        printf("null");
    printf(",\"gateway\":");
    if (loc->gateway[0])
        json_str(loc->gateway);
    else
        printf("null");
    printf(",\"port\":%u,\"addresses\":[", loc->port);
    for (size_t i = 0; i < loc->naddrs; i++) {
        vg_sockaddr_format((const struct sockaddr *)&loc->addrs[i], false, a, sizeof a);
        printf("%s", i ? "," : "");
        json_str(a);
    }
    printf("],\"ttl\":%u", loc->ttl);
    if (why[0]) {
        printf(",\"detail\":");
        json_str(why);
    }
    printf("}\n");
}

static void print_human(const struct vg_vm_location *loc)
{
    char a[VG_ADDRSTRLEN];
    printf("name     %s\n", loc->name);
    printf("owner    %s\n", loc->owner[0] ? loc->owner : "-");
    printf("gateway  %s\n", loc->gateway[0] ? loc->gateway : "-");
    printf("port     %u\n", loc->port);
    for (size_t i = 0; i < loc->naddrs; i++) {
        vg_sockaddr_format((const struct sockaddr *)&loc->addrs[i], false, a, sizeof a);
        printf("address  %s\n", a);
    }
    printf("ttl      %u\n", loc->ttl);
}

int main(int argc, char **argv)
{
    struct vg_resolve_opts o;
    struct vg_config *cfg = NULL;
    struct vg_resolver *r = NULL;
    struct event_base *base = NULL;
    struct result res = {0};
    char err[512];
    int rc = VG_EXIT_LOCAL;

    switch (vg_resolve_parse_args(argc, argv, &o, err, sizeof err)) {
    case VG_ARGS_HELP:
        vg_resolve_usage(stdout);
        return 0;
    case VG_ARGS_VERSION:
        puts("vmgate-resolve " VMGATE_VERSION);
        return 0;
    case VG_ARGS_ERROR:
        fprintf(stderr, "vmgate-resolve: %s (see --help)\n", err);
        return VG_EXIT_USAGE;
    case VG_ARGS_OK:
        break;
    }
    if ((cfg = vg_client_config(o.config, getenv("VMGATE_CONFIG"), o.dns_server, err,
                                sizeof err)) == NULL) {
        fprintf(stderr, "vmgate-resolve: %s\n", err);
        return VG_EXIT_CONFIG;
    }
    if ((base = event_base_new()) == NULL) {
        fprintf(stderr, "vmgate-resolve: cannot create the event loop\n");
        goto done;
    }
    if ((r = vg_resolver_new(base, cfg, err, sizeof err)) == NULL) {
        fprintf(stderr, "vmgate-resolve: %s\n", err);
        rc = VG_EXIT_CONFIG;
        goto done;
    }
    res.r = r;
    vg_log_max = VG_LOG_ERR; /* the library's warnings: printed below, with the result */
    if (vg_resolve(r, o.name, on_resolved, &res) == NULL) {
        fprintf(stderr, "vmgate-resolve: out of memory\n");
        goto done;
    }
    event_base_dispatch(base);
    if (!res.done) {
        fprintf(stderr, "vmgate-resolve: the event loop ended without an answer\n");
        goto done;
    }
    if (o.json)
        print_json(o.name, res.st, &res.loc, res.why);
    else if (res.st == VG_RES_OK)
        print_human(&res.loc);
    if (res.st != VG_RES_OK)
        fprintf(stderr, "vmgate-resolve: %s: %s%s%s\n", o.name, vg_res_strerror(res.st),
                res.why[0] ? ": " : "", res.why);
    else if (res.why[0])
        fprintf(stderr, "vmgate-resolve: %s: %s\n", o.name, res.why);
    rc = vg_exit_of_res(res.st);
done:
    vg_resolver_free(r);
    if (base)
        event_base_free(base);
    vg_config_free(cfg);
    return rc;
}
