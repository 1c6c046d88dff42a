/* vg_config — the one INI configuration file shared by all vmgate host programs.
 *
 * Parsed with inih against a declarative table (section, key, type, bounds, default); unknown
 * sections or keys, bad numbers and out-of-range values are errors that name the file and line.
 * Each program then checks the keys it needs with its own vg_config_check_*().
 * Strings are owned by the config and freed by vg_config_free().
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct vg_config {
    /* [dns] */
    char *zone; /* comma list; zones[] holds the normalized names */
    char **zones;
    size_t nzones;
    char *server;        /* comma list of ADDR:PORT (registrar, resolver) */
    char *tsig_key_file; /* the file BIND's tsig-keygen writes */
    unsigned ttl, ttl_min, ttl_max;
    unsigned dns_timeout; /* seconds per UPDATE / query */
    char *host_networks;  /* comma list of CIDR: where owning hosts' addresses may be (resolver) */
    unsigned cache_ttl_max;     /* resolver: cap of positive answers' TTL, seconds */
    unsigned cache_neg_ttl_max; /* resolver: cap of negative answers' TTL, seconds */

    /* [host] */
    char *host_name;
    char *host_address; /* comma list of addresses */

    /* [gateway] */
    char *listen;       /* comma list of ADDR:PORT, SOCKS5 */
    char *listen_http;  /* comma list of ADDR:PORT, HTTP CONNECT */
    char *listen_https; /* comma list of ADDR:PORT, HTTP CONNECT over TLS */
    char *tls_ca;       /* PEM: the fleet's CA (hops between gateways) */
    char *tls_cert;     /* PEM: this host's certificate (chain) */
    char *tls_key;      /* PEM: its private key */
    char *https_cert;   /* PEM: listen-https certificate (default tls_cert) */
    char *https_key;
    char *vm_dir;
    char *users_file;
    char *policy_file; /* access rules (vg_policy.h); NULL = none (every authenticated client) */
    char *allow_anonymous_from; /* comma list of CIDR */
    unsigned handshake_timeout; /* seconds */
    unsigned idle_timeout;      /* seconds; 0 = none */
    unsigned connect_timeout;   /* seconds */
    unsigned drain_timeout;     /* seconds granted to relays on SIGTERM */
    unsigned agent_timeout;     /* seconds to wait for a guest agent's answer (serial:) */
    char *forward_user; /* --front: the person's own RFC 1929 account on the hosts' gateways */
    char *forward_password;
    unsigned max_connections;
    unsigned max_per_client;
    unsigned max_per_vm;   /* streams a guest opens (serial:), per VM */
    unsigned guest_share;  /* percent of max_connections guest-opened streams may hold together */
    unsigned auth_threads; /* password-checking threads (read at start) */
    unsigned auth_queue;   /* checks waiting for a thread at most (read at start) */
    unsigned gateway_port; /* published in SRV; 0 = first port of `listen` */
    char *log_level;
    char *audit_log;      /* JSON lines file (vg_audit.h); NULL = no audit log */
    unsigned audit_queue; /* lines the audit queue holds before events are dropped */
    char *metrics_listen; /* comma list of ADDR:PORT serving GET /metrics; NULL = none */
    char *admin_socket;   /* the admin socket (vmgatectl), "" = none */
    char *admin_group;    /* the group that may use it besides root, or NULL */

    /* [registrar] */
    char *state_dir;             /* journal and registrar state */
    unsigned heartbeat_interval; /* seconds */
    unsigned gc_after;    /* seconds of heartbeat silence before a host's VMs are withdrawn */
    unsigned batch_max;   /* names per UPDATE message */
    unsigned retry_max;   /* seconds: cap of the journal retry back-off */
    unsigned gc_interval; /* seconds between the daemon's gc runs; 0 = never */

    /* [client] (vmgate-connect) */
    char *client_user; /* RFC 1929 user name */
    char *client_password;
    char *client_password_file; /* first line is the password */
    char *client_server;        /* ADDR:PORT of a gateway to use instead of the owning host's */
};

/* Load `path`.  On error returns NULL and writes "path:line: message" into err. */
struct vg_config *vg_config_load(const char *path, char *err, size_t errlen);
/* Defaults only (for programs that may run without a file). */
struct vg_config *vg_config_defaults(void);
void vg_config_free(struct vg_config *cfg);

/* Per-program checks of required keys and of list syntax; false + message on error. */
bool vg_config_check_gateway(const struct vg_config *cfg, char *err, size_t errlen);
/* vmgate-gw --front: no VM table; tls-ca, forward-user and forward-password are required,
 * tls-cert / tls-key refused (a front holds no host certificate). */
bool vg_config_check_front(const struct vg_config *cfg, char *err, size_t errlen);

/* The zone `name` (normalized) falls under, or NULL. */
const char *vg_config_zone_of(const struct vg_config *cfg, const char *name);

/* Print every key with its type, bounds and default (for --help / docs). */
void vg_config_describe(void *stream);

#endif
