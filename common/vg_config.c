#include "vg_config.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_name.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type { K_STR, K_UINT, K_LEVEL };

struct key_def {
    const char *section, *name;
    enum key_type type;
    size_t off;
    unsigned long min, max;
    const char *def; /* default in text form, NULL = unset */
    const char *help;
};

#define OFF(f) offsetof(struct vg_config, f)
static const struct key_def keys[] = {
    {"dns", "zone", K_STR, OFF(zone), 0, 0, NULL, "zone(s) whose names this host serves"},
    {"dns", "server", K_STR, OFF(server), 0, 0, NULL, "DNS server(s), ADDR:PORT list"},
    {"dns", "tsig-key-file", K_STR, OFF(tsig_key_file), 0, 0, NULL,
     "TSIG key (tsig-keygen format)"},
    {"dns", "ttl", K_UINT, OFF(ttl), 1, 86400, "30", "TTL of published records"},
    {"dns", "ttl-min", K_UINT, OFF(ttl_min), 1, 86400, "5", "lowest TTL accepted"},
    {"dns", "ttl-max", K_UINT, OFF(ttl_max), 1, 86400, "3600", "highest TTL accepted"},
    {"dns", "timeout", K_UINT, OFF(dns_timeout), 1, 300, "3", "seconds per DNS exchange"},
    {"dns", "host-networks", K_STR, OFF(host_networks), 0, 0, NULL,
     "CIDRs owning hosts' addresses must be in (unset: any but loopback and other special ones)"},
    {"dns", "cache-ttl-max", K_UINT, OFF(cache_ttl_max), 0, 86400, "300",
     "seconds a resolved VM is cached at most, whatever its TTL"},
    {"dns", "cache-negative-ttl-max", K_UINT, OFF(cache_neg_ttl_max), 0, 3600, "5",
     "seconds a 'no such VM' answer is cached at most"},
    {"host", "name", K_STR, OFF(host_name), 0, 0, NULL, "this host's name"},
    {"host", "address", K_STR, OFF(host_address), 0, 0, NULL, "this host's address(es)"},
    {"gateway", "listen", K_STR, OFF(listen), 0, 0, NULL, "SOCKS5 listeners, ADDR:PORT list"},
    {"gateway", "listen-http", K_STR, OFF(listen_http), 0, 0, NULL, "HTTP CONNECT listeners"},
    {"gateway", "listen-https", K_STR, OFF(listen_https), 0, 0, NULL,
     "HTTP CONNECT over TLS listeners (certificate: https-cert, else tls-cert)"},
    {"gateway", "tls-ca", K_STR, OFF(tls_ca), 0, 0, NULL,
     "PEM file: the fleet's CA; other gateways' certificates must chain to it"},
    {"gateway", "tls-cert", K_STR, OFF(tls_cert), 0, 0, NULL,
     "PEM file: this host's certificate (names the host); enables TLS hops and chaining"},
    {"gateway", "tls-key", K_STR, OFF(tls_key), 0, 0, NULL, "PEM file: its private key"},
    {"gateway", "https-cert", K_STR, OFF(https_cert), 0, 0, NULL,
     "PEM file: certificate for listen-https (default tls-cert)"},
    {"gateway", "https-key", K_STR, OFF(https_key), 0, 0, NULL,
     "PEM file: its private key (default tls-key)"},
    {"gateway", "vm-dir", K_STR, OFF(vm_dir), 0, 0, NULL, "the VM table directory"},
    {"gateway", "users-file", K_STR, OFF(users_file), 0, 0, NULL, "user:crypt-hash[:groups] lines"},
    {"gateway", "policy-file", K_STR, OFF(policy_file), 0, 0, NULL,
     "who may reach which VM on which port (docs/policy.md); no match = deny"},
    {"gateway", "allow-anonymous-from", K_STR, OFF(allow_anonymous_from), 0, 0, NULL,
     "CIDRs allowed without authentication"},
    {"gateway", "handshake-timeout", K_UINT, OFF(handshake_timeout), 1, 3600, "10", "seconds"},
    {"gateway", "idle-timeout", K_UINT, OFF(idle_timeout), 0, 604800, "3600", "seconds, 0 = none"},
    {"gateway", "connect-timeout", K_UINT, OFF(connect_timeout), 1, 300, "5", "seconds"},
    {"gateway", "forward-user", K_STR, OFF(forward_user), 0, 0, NULL,
     "--front only: your own user on the hosts' gateways"},
    {"gateway", "forward-password", K_STR, OFF(forward_password), 0, 0, NULL,
     "--front only: its password (sent only over TLS to a verified host)"},
    {"gateway", "agent-timeout", K_UINT, OFF(agent_timeout), 1, 60, "2",
     "seconds to wait for a guest agent's answer"},
    {"gateway", "drain-timeout", K_UINT, OFF(drain_timeout), 0, 86400, "30", "seconds"},
    {"gateway", "max-connections", K_UINT, OFF(max_connections), 1, 1000000, "4096", "global cap"},
    {"gateway", "max-per-client", K_UINT, OFF(max_per_client), 1, 1000000, "256",
     "cap per client address"},
    {"gateway", "max-per-vm", K_UINT, OFF(max_per_vm), 1, 1000000, "64",
     "cap of the streams a guest opens (serial:), per VM"},
    {"gateway", "guest-share", K_UINT, OFF(guest_share), 0, 100, "50",
     "percent of max-connections that guest-opened streams may hold together"},
    {"gateway", "auth-threads", K_UINT, OFF(auth_threads), 1, 16, "2",
     "threads that check passwords (crypt(3)), off the event loop; read at start"},
    {"gateway", "auth-queue", K_UINT, OFF(auth_queue), 1, 4096, "64",
     "password checks waiting at most; more are refused unchecked; read at start"},
    {"gateway", "port", K_UINT, OFF(gateway_port), 0, 65535, "0",
     "port published in SRV (0 = first port of listen)"},
    {"gateway", "admin-socket", K_STR, OFF(admin_socket), 0, 0, "/run/vmgate/admin.sock",
     "unix socket of vmgatectl (root and admin-group only); empty = none"},
    {"gateway", "admin-group", K_STR, OFF(admin_group), 0, 0, NULL,
     "group whose members may use the admin socket besides root"},
    {"gateway", "log-level", K_LEVEL, OFF(log_level), 0, 0, "notice", "err|warn|notice|info|debug"},
    {"gateway", "audit-log", K_STR, OFF(audit_log), 0, 0, NULL,
     "absolute path: audit events, one JSON object per line (reopened on SIGHUP)"},
    {"gateway", "audit-queue", K_UINT, OFF(audit_queue), 1, 16777216, "65536",
     "audit lines queued for the writer before events are dropped"},
    {"gateway", "metrics-listen", K_STR, OFF(metrics_listen), 0, 0, NULL,
     "ADDR:PORT list serving GET /metrics (Prometheus text format)"},
    {"registrar", "state-dir", K_STR, OFF(state_dir), 0, 0, NULL, "journal directory"},
    {"registrar", "heartbeat-interval", K_UINT, OFF(heartbeat_interval), 1, 86400, "10", "seconds"},
    {"registrar", "gc-after", K_UINT, OFF(gc_after), 1, 31536000, "120", "seconds"},
    {"registrar", "batch-max", K_UINT, OFF(batch_max), 1, 100000, "500", "names per UPDATE"},
    {"registrar", "retry-max", K_UINT, OFF(retry_max), 1, 86400, "30", "seconds"},
    {"registrar", "gc-interval", K_UINT, OFF(gc_interval), 0, 86400, "60",
     "seconds between the daemon's gc runs, 0 = never"},
    {"client", "user", K_STR, OFF(client_user), 0, 0, NULL, "vmgate-connect: SOCKS5 user name"},
    {"client", "password", K_STR, OFF(client_password), 0, 0, NULL, "vmgate-connect: password"},
    {"client", "password-file", K_STR, OFF(client_password_file), 0, 0, NULL,
     "vmgate-connect: file whose first line is the password"},
    {"client", "server", K_STR, OFF(client_server), 0, 0, NULL,
     "vmgate-connect: gateway ADDR:PORT to use for every VM (e.g. a local --front)"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

struct parse_ctx {
    struct vg_config *cfg;
    FILE *f;
    int lineno;   /* physical line the reader returned last */
    int err_line; /* line msg describes (the first error), 0 = none yet */
    char msg[256];
};

/* Keep the first error only: inih goes on after an error and reports the first line. */
static void note_error(struct parse_ctx *ctx, const char *msg)
{
    if (ctx->err_line != 0)
        return;
    ctx->err_line = ctx->lineno;
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
}

/* inih line reader.  Leading blanks are dropped, so an indented "key = value" is a key and never
 * a continuation of the previous value (inih's multi-line values would silently swallow it).
 * A line that does not fit inih's buffer is an error instead of being split in two. */
static char *read_line(char *buf, int size, void *stream)
{
    struct parse_ctx *ctx = stream;
    if (fgets(buf, size, ctx->f) == NULL)
        return NULL;
    ctx->lineno++;
    size_t n = strlen(buf);
    if (n + 1 == (size_t)size && buf[n - 1] != '\n') {
        int ch = fgetc(ctx->f);
        if (ch != EOF && ch != '\n') {
            while (ch != EOF && ch != '\n')
                ch = fgetc(ctx->f);
            char msg[64];
            snprintf(msg, sizeof msg, "line longer than %d characters", size - 1);
            note_error(ctx, msg);
            snprintf(buf, (size_t)size, "!\n"); /* a line inih rejects: no '=' */
            return buf;
        }
    }
    size_t skip = strspn(buf, " \t");
    memmove(buf, buf + skip, strlen(buf + skip) + 1);
    return buf;
}

static bool set_value(struct vg_config *cfg, const struct key_def *k, const char *value, char *msg,
                      size_t msglen)
{
    char *base = (char *)cfg;
    switch (k->type) {
    case K_LEVEL:
        if (strcmp(value, "err") && strcmp(value, "warn") && strcmp(value, "notice") &&
            strcmp(value, "info") && strcmp(value, "debug")) {
            snprintf(msg, msglen, "%s: expected err, warn, notice, info or debug, got '%s'",
                     k->name, value);
            return false;
        }
        /* fall through */
    case K_STR: {
        char **slot = (char **)(base + k->off);
        char *dup = vg_strdup(value);
        if (dup == NULL) {
            snprintf(msg, msglen, "out of memory");
            return false;
        }
        vg_free(*slot);
        *slot = dup;
        return true;
    }
    case K_UINT: {
        unsigned long v;
        if (!vg_parse_uint(value, k->min, k->max, &v)) {
            snprintf(msg, msglen, "%s: expected a whole number in %lu..%lu, got '%s'", k->name,
                     k->min, k->max, value);
            return false;
        }
        *(unsigned *)(base + k->off) = (unsigned)v;
        return true;
    }
    }
    return false;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    char msg[sizeof ctx->msg];
    bool section_known = false;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        section_known = true;
        if (strcmp(keys[i].name, name) == 0) {
            if (set_value(ctx->cfg, &keys[i], value, msg, sizeof msg))
                return 1;
            note_error(ctx, msg);
            return 0;
        }
    }
    if (!section_known)
        snprintf(msg, sizeof msg, "unknown section [%s]", section);
    else
        snprintf(msg, sizeof msg, "unknown key '%s' in [%s]", name, section);
    note_error(ctx, msg);
    return 0;
}

void vg_config_free(struct vg_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == K_STR || keys[i].type == K_LEVEL)
            vg_free(*(char **)((char *)cfg + keys[i].off));
    for (size_t i = 0; i < cfg->nzones; i++)
        vg_free(cfg->zones[i]);
    vg_free(cfg->zones);
    vg_free(cfg);
}

struct vg_config *vg_config_defaults(void)
{
    struct vg_config *cfg = vg_calloc(1, sizeof *cfg);
    char msg[256];
    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].def && !set_value(cfg, &keys[i], keys[i].def, msg, sizeof msg)) {
            vg_config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

static bool check_cidr(const char *item, void *arg);

struct zone_ctx {
    struct vg_config *cfg;
    char *msg;
    size_t msglen;
};

static bool add_zone(const char *item, void *arg)
{
    struct zone_ctx *z = arg;
    char norm[VG_NAME_MAX + 1];
    enum vg_name_status st = vg_name_normalize(item, strlen(item), norm);
    if (st != VG_NAME_OK) {
        snprintf(z->msg, z->msglen, "zone '%s': %s", item, vg_name_strerror(st));
        return false;
    }
    char **grown = vg_realloc(z->cfg->zones, (z->cfg->nzones + 1) * sizeof *grown);
    if (grown == NULL)
        return false;
    z->cfg->zones = grown;
    if ((grown[z->cfg->nzones] = vg_strdup(norm)) == NULL)
        return false;
    z->cfg->nzones++;
    return true;
}

struct vg_config *vg_config_load(const char *path, char *err, size_t errlen)
{
    struct parse_ctx ctx = {.cfg = vg_config_defaults()};
    if (ctx.cfg == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    ctx.f = fopen(path, "r");
    if (ctx.f == NULL) {
        snprintf(err, errlen, "%s: cannot open file: %s", path, strerror(errno));
        goto fail;
    }
    int rc = ini_parse_stream(read_line, &ctx, handler, &ctx);
    fclose(ctx.f);
    if (rc == -2) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, rc, ctx.err_line == rc ? ctx.msg : "syntax error");
        goto fail;
    }
    if (ctx.cfg->ttl_min > ctx.cfg->ttl_max || ctx.cfg->ttl < ctx.cfg->ttl_min ||
        ctx.cfg->ttl > ctx.cfg->ttl_max) {
        snprintf(err, errlen, "%s: [dns] ttl %u outside ttl-min..ttl-max (%u..%u)", path,
                 ctx.cfg->ttl, ctx.cfg->ttl_min, ctx.cfg->ttl_max);
        goto fail;
    }
    if (ctx.cfg->host_networks) {
        char msg[256] = "out of memory";
        char *copy = vg_strdup(ctx.cfg->host_networks);
        bool ok = copy && vg_list_foreach(copy, check_cidr, msg);
        vg_free(copy);
        if (!ok) {
            snprintf(err, errlen, "%s: [dns] host-networks: %s", path, msg);
            goto fail;
        }
    }
    if (ctx.cfg->zone) {
        char msg[256] = "out of memory";
        char *copy = vg_strdup(ctx.cfg->zone);
        struct zone_ctx z = {ctx.cfg, msg, sizeof msg};
        bool ok = copy && vg_list_foreach(copy, add_zone, &z);
        vg_free(copy);
        if (!ok) {
            snprintf(err, errlen, "%s: [dns] %s", path, msg);
            goto fail;
        }
    }
    return ctx.cfg;
fail:
    vg_config_free(ctx.cfg);
    return NULL;
}

static bool check_listen(const char *item, void *arg)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (vg_sockaddr_parse(item, 0, &ss, &len))
        return true;
    snprintf(arg, 256, "'%s' is not ADDR:PORT or [ADDR]:PORT", item);
    return false;
}

static bool check_cidr(const char *item, void *arg)
{
    struct vg_cidr c;
    if (vg_cidr_parse(item, &c))
        return true;
    snprintf(arg, 256, "'%s' is not an address or CIDR prefix", item);
    return false;
}

static bool check_list(const char *what, const char *val, bool (*fn)(const char *, void *),
                       char *err, size_t errlen)
{
    char msg[256] = "";
    char *copy = vg_strdup(val);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bool ok = vg_list_foreach(copy, fn, msg);
    vg_free(copy);
    if (!ok)
        snprintf(err, errlen, "[gateway] %s: %s", what, msg);
    return ok;
}

/* What every gateway needs: zones, listeners, a way for clients to authenticate. */
static bool check_common(const struct vg_config *cfg, char *err, size_t errlen)
{
    if (cfg->nzones == 0) {
        snprintf(err, errlen, "[dns] zone is required");
        return false;
    }
    if (cfg->listen == NULL && cfg->listen_http == NULL && cfg->listen_https == NULL) {
        snprintf(err, errlen, "[gateway] listen (or listen-http, listen-https) is required");
        return false;
    }
    if (cfg->listen && !check_list("listen", cfg->listen, check_listen, err, errlen))
        return false;
    if (cfg->listen_http && !check_list("listen-http", cfg->listen_http, check_listen, err, errlen))
        return false;
    if (cfg->listen_https &&
        !check_list("listen-https", cfg->listen_https, check_listen, err, errlen))
        return false;
    if (cfg->listen_https && !(cfg->https_cert ? cfg->https_key != NULL : cfg->tls_cert != NULL)) {
        snprintf(err, errlen,
                 "[gateway] listen-https needs https-cert and https-key "
                 "(or tls-cert and tls-key)");
        return false;
    }
    if ((cfg->https_cert == NULL) != (cfg->https_key == NULL)) {
        snprintf(err, errlen, "[gateway] https-cert and https-key go together");
        return false;
    }
    if (cfg->allow_anonymous_from &&
        !check_list("allow-anonymous-from", cfg->allow_anonymous_from, check_cidr, err, errlen))
        return false;
    if (cfg->users_file == NULL && cfg->allow_anonymous_from == NULL) {
        snprintf(err, errlen,
                 "[gateway] neither users-file nor allow-anonymous-from is set: "
                 "no client could ever connect");
        return false;
    }
    if ((cfg->forward_user == NULL) != (cfg->forward_password == NULL)) {
        snprintf(err, errlen, "[gateway] forward-user and forward-password go together");
        return false;
    }
    if (cfg->metrics_listen &&
        !check_list("metrics-listen", cfg->metrics_listen, check_listen, err, errlen))
        return false;
    if (cfg->audit_log && cfg->audit_log[0] != '/') {
        /* the daemon runs in / and reopens the path on SIGHUP */
        snprintf(err, errlen, "[gateway] audit-log must be an absolute path, got '%s'",
                 cfg->audit_log);
        return false;
    }
    return true;
}

bool vg_config_check_gateway(const struct vg_config *cfg, char *err, size_t errlen)
{
    if (!check_common(cfg, err, errlen))
        return false;
    if (cfg->vm_dir == NULL) {
        snprintf(err, errlen, "[gateway] vm-dir is required");
        return false;
    }
    if (cfg->forward_user) {
        snprintf(err, errlen,
                 "[gateway] forward-user / forward-password are for --front only: host gateways "
                 "chain over TLS with their host certificates (tls-ca, tls-cert, tls-key)");
        return false;
    }
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL) ||
        (cfg->tls_cert == NULL) != (cfg->tls_ca == NULL)) {
        snprintf(err, errlen, "[gateway] tls-ca, tls-cert and tls-key go together");
        return false;
    }
    return true;
}

bool vg_config_check_front(const struct vg_config *cfg, char *err, size_t errlen)
{
    if (!check_common(cfg, err, errlen))
        return false;
    if (cfg->forward_user == NULL) {
        snprintf(err, errlen,
                 "[gateway] forward-user and forward-password are required with "
                 "--front (your own account on the hosts' gateways)");
        return false;
    }
    if (cfg->tls_ca == NULL) {
        snprintf(err, errlen,
                 "[gateway] tls-ca is required with --front (the fleet's CA: the "
                 "password goes only to a gateway that proves it is a host)");
        return false;
    }
    if (cfg->tls_cert || cfg->tls_key) {
        snprintf(err, errlen,
                 "[gateway] tls-cert / tls-key are refused with --front: a client "
                 "machine holds no host certificate");
        return false;
    }
    return true;
}

const char *vg_config_zone_of(const struct vg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nzones; i++)
        if (vg_name_under(name, cfg->zones[i]))
            return cfg->zones[i];
    return NULL;
}

void vg_config_describe(void *stream)
{
    FILE *f = stream;
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(f, "  [%s]\n", section);
        }
        fprintf(f, "    %-22s %s%s%s\n", keys[i].name, keys[i].help,
                keys[i].def ? "; default " : "", keys[i].def ? keys[i].def : "");
    }
}
