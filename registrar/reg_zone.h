/* reg_zone — what a zone transfer says about vmgate's records, and the plans built on it.
 *
 * reg_zone_add_rr() sorts every RR of the zone into VMs (owner TXT, addresses, SRV, anything
 * else) and hosts (heartbeat).  reg_sync_plan() and reg_gc_plan() compare that with this host's
 * VM table and with the clock; they decide, the engine (reg_engine) carries out.
 */
#ifndef REG_ZONE_H
#define REG_ZONE_H

#include "reg_msg.h"

struct reg_zvm {
    char name[VG_NAME_MAX + 1];
    char owner[VG_NAME_MAX + 1]; /* from TXT "vmgate-owner=…"; "" when none */
    unsigned ntxt;               /* TXT RRs at the name (ours has exactly one) */
    struct in_addr v4[REG_MAX_ADDRS];
    size_t nv4;
    struct in6_addr v6[REG_MAX_ADDRS];
    size_t nv6;
    unsigned nsrv; /* SRV RRs at _vmgate._tcp.NAME */
    uint16_t srv_port;
    char srv_target[VG_NAME_MAX + 1];
    bool foreign; /* other types at the name, or more addresses than we keep */
};

struct reg_zhost {
    char host[VG_NAME_MAX + 1]; /* "hv1" of hv1.vmgate-hosts.ZONE */
    long long heartbeat;        /* unix time, -1 when the TXT is missing or unreadable */
    char hbtxt[64];             /* the TXT text as published (for the gc prerequisite) */
    unsigned ntxt;
};

struct reg_zone {
    char zone[VG_NAME_MAX + 1];
    struct reg_zvm *vms;
    size_t nvms, capvms;
    struct reg_zhost *hosts;
    size_t nhosts, caphosts;
    uint32_t *index; /* open addressing over vms: slot = index + 1, 0 = empty */
    size_t nindex;
    bool soa_seen;
};

struct reg_zone *reg_zone_new(const char *zone);
void reg_zone_free(struct reg_zone *z);
/* Account for one RR of the transfer.  false only on allocation failure. */
bool reg_zone_add_rr(struct reg_zone *z, const ldns_rr *rr);
struct reg_zvm *reg_zone_vm(const struct reg_zone *z, const char *name);
struct reg_zhost *reg_zone_host(const struct reg_zone *z, const char *host);

/* True when the VM's records are exactly what `id` publishes in `zone`. */
bool reg_zvm_matches(const struct reg_zvm *v, const struct reg_ident *id, const char *zone);

enum reg_sync_action {
    REG_SYNC_NONE,      /* published and correct */
    REG_SYNC_ADD_FRESH, /* missing: publish */
    REG_SYNC_ADD_OWN,   /* ours but incomplete or stale: republish */
    REG_SYNC_DEL,       /* ours in DNS but not in the VM table: withdraw */
    REG_SYNC_CONFLICT,  /* in the VM table but the name belongs to someone else */
};

struct reg_sync_step {
    enum reg_sync_action action;
    char name[VG_NAME_MAX + 1];
    char why[VG_NAME_MAX + 64];
};

/* Plan a sync of `zone` for the VM table names[0..n) (normalized, all under z->zone).
 * *steps is malloc'ed (vg_free); one step per table name plus one per stray VM, NONE included. */
bool reg_sync_plan(const struct reg_zone *z, const struct reg_ident *id, const char *const *names,
                   size_t n, struct reg_sync_step **steps, size_t *nsteps);

struct reg_gc_step {
    bool host_record;           /* delete the host record itself (arg = heartbeat TXT) */
    char name[VG_NAME_MAX + 1]; /* VM name, or the host record's name */
    char arg[VG_NAME_MAX + 1];  /* owner host of the VM, or the heartbeat TXT */
    long long silent;           /* seconds since the owner's heartbeat, -1 if none */
};

/* VMs of hosts other than id->host whose heartbeat is older than gc_after (or that have no host
 * record at all), and the stale host records. */
bool reg_gc_plan(const struct reg_zone *z, const struct reg_ident *id, long long now,
                 long long gc_after, struct reg_gc_step **steps, size_t *nsteps);

#endif
