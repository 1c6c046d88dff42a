/* vg_client — the testable parts of vmgate-connect and vmgate-resolve: command lines, exit codes,
 * credentials, the client side of SOCKS5 (RFC 1928 CONNECT by name, RFC 1929), the stdin/stdout
 * relay with exact half-close, and descriptor passing to ssh (ProxyUseFdpass).
 */
#ifndef VG_CLIENT_H
#define VG_CLIENT_H

#include "vg_resolve.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_config;

/* Exit codes shared by vmgate-connect and vmgate-resolve (docs/clients.md). */
enum vg_exit {
    VG_EXIT_OK = 0,
    VG_EXIT_LOCAL = 1,        /* memory, descriptors, relay I/O error */
    VG_EXIT_NO_VM = 10,       /* NXDOMAIN or no address records */
    VG_EXIT_DNS_TIMEOUT = 11, /* no DNS server answered (timeout, connection refused) */
    VG_EXIT_DNS_FAIL = 12,    /* SERVFAIL, REFUSED, malformed reply, other DNS errors */
    VG_EXIT_GW_UNREACH = 20,  /* no gateway address accepted the TCP connection */
    VG_EXIT_AUTH = 21,        /* authentication failed, or required and no credentials */
    VG_EXIT_NOT_ALLOWED = 22, /* SOCKS 0x02 */
    VG_EXIT_VM_UNREACH = 23,  /* SOCKS 0x04: the host has no such VM, or its channel is down */
    VG_EXIT_PORT_CLOSED = 24, /* SOCKS 0x05 */
    VG_EXIT_GW_TIMEOUT = 25,  /* SOCKS 0x06: the gateway timed out reaching the VM */
    VG_EXIT_PROTO = 26,       /* other SOCKS replies, malformed replies, closed in the handshake */
    VG_EXIT_DEADLINE = 27,    /* -t passed before the tunnel was up */
    VG_EXIT_USAGE = 64,
    VG_EXIT_BADNAME = 65,
    VG_EXIT_CONFIG = 78,
};

/* The exit code for a failed lookup (never called with VG_RES_OK). */
enum vg_exit vg_exit_of_res(enum vg_res_status st);

/* ---- command lines ---------------------------------------------------------------------- */

enum vg_args { VG_ARGS_OK, VG_ARGS_HELP, VG_ARGS_VERSION, VG_ARGS_ERROR };

struct vg_connect_opts {
    const char *config;     /* -c; NULL = $VMGATE_CONFIG or the default if it exists */
    const char *dns_server; /* --server: DNS server(s), overrides [dns] server */
    const char *gateway;    /* -g/--gateway ADDR:PORT, overrides [client] server */
    const char *user;       /* --user */
    bool fdpass;            /* --fdpass */
    bool verbose;           /* -v */
    unsigned timeout;       /* -t seconds: whole setup (DNS, connects, handshake); default 20 */
    unsigned connect_timeout; /* per address, seconds; default 3 */
    const char *host;
    uint16_t port;
};

enum vg_args vg_connect_parse_args(int argc, char **argv, struct vg_connect_opts *o, char *err,
                                   size_t errlen);
void vg_connect_usage(void *stream);

struct vg_resolve_opts {
    const char *config;
    const char *dns_server;
    bool json;
    const char *name;
};
enum vg_args vg_resolve_parse_args(int argc, char **argv, struct vg_resolve_opts *o, char *err,
                                   size_t errlen);
void vg_resolve_usage(void *stream);

/* Load the configuration for a client: `path` (must exist), else $VMGATE_CONFIG (must exist),
 * else /etc/vmgate/vmgate.conf if it exists, else defaults.  dns_server (may be NULL) replaces
 * [dns] server.  NULL + message on error (exit VG_EXIT_CONFIG). */
struct vg_config *vg_client_config(const char *path, const char *env_config,
                                   const char *dns_server, char *err, size_t errlen);

/* ---- credentials ------------------------------------------------------------------------ */

struct vg_creds {
    bool set;
    char user[256];
    char pass[256];
};
/* user: --user, else env_user (VMGATE_USER), else [client] user.  password: env_pass
 * (VMGATE_PASSWORD), else [client] password-file (first line), else [client] password.
 * No user → no credentials (anonymous).  A user without a password, a password file that
 * cannot be read, or strings over 255 octets are errors (false + message). */
bool vg_client_creds(const char *opt_user, const char *env_user, const char *env_pass,
                     const struct vg_config *cfg, struct vg_creds *out, char *err, size_t errlen);

/* ---- SOCKS5, client side (pure) -------------------------------------------------------- */

/* Greeting (+ RFC 1929 auth when creds->set) + CONNECT request with ATYP 3, pipelined in one
 * buffer: the gateway accepts pipelined handshakes, so the tunnel costs one round trip.
 * Returns the length, 0 if a string does not fit (name 1..255 octets). */
#define VG_S5C_MAX (3 + 513 + 262)
size_t vg_s5c_build(uint8_t out[VG_S5C_MAX], const struct vg_creds *creds, const char *name,
                    uint16_t port);

enum vg_s5c_parse { VG_S5C_NEED_MORE = 0, VG_S5C_DONE = 1, VG_S5C_BAD = -1 };
struct vg_s5c_answer {
    int method;      /* chosen method, -1 until read */
    int auth_status; /* RFC 1929 status, -1 if not (yet) read */
    int rep;         /* REP of the CONNECT reply, -1 until read */
};
/* The gateway's answers to vg_s5c_build's bytes, as far as they have arrived.  DONE when the
 * outcome is known (a refusal at any stage, or a whole reply); *used = octets that belong to
 * the handshake (what follows is the VM's data).  NEED_MORE consumes nothing and sets *used to
 * the length the answer has at least (read exactly that much more: no VM data is read ahead,
 * which --fdpass needs).  BAD: not SOCKS5. */
enum vg_s5c_parse vg_s5c_parse(const uint8_t *buf, size_t len, bool auth,
                               struct vg_s5c_answer *a, size_t *used);

/* Exit code and message for a DONE answer that is not a success (rep 0).  `where` names the
 * gateway ("hv2.vmgate-hosts.vm.test (198.18.0.12:1080)"). */
enum vg_exit vg_s5c_outcome(const struct vg_s5c_answer *a, bool auth, const char *name,
                            uint16_t port, const char *where, char *msg, size_t msglen);

/* ---- I/O ------------------------------------------------------------------------------ */

/* Relay in → sock and sock → out until both directions ended.  EOF on `in` shuts down the
 * socket's write side once everything read was written; EOF from the socket closes `out` after
 * flushing; the other direction goes on (exact half-close).  0, or -1 with errno on an I/O error
 * (a reset). */
int vg_relay(int in, int out, int sock);

/* Send `fd` over the unix socket `chan` with SCM_RIGHTS and one data octet (what OpenSSH's
 * ProxyUseFdpass receiver expects).  0 or -1 with errno. */
int vg_send_fd(int chan, int fd);

#endif
