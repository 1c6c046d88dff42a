/* vg_client — the testable parts of vmgate-connect and vmgate-resolve: command lines, exit codes,
 * credentials, what a gateway's refusal means, the stdin/stdout relay with exact half-close, and
 * descriptor passing to ssh (ProxyUseFdpass).  The SOCKS5 bytes themselves are common/vg_socks.h;
 * exit codes and their meaning are the table of common/vg_outcome.h.
 */
#ifndef VG_CLIENT_H
#define VG_CLIENT_H

#include "vg_outcome.h"
#include "vg_resolve.h"
#include "vg_socks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vg_config;

/* Exit codes shared by vmgate-connect and vmgate-resolve (docs/clients.md): enum vg_exit of
 * vg_outcome.h. */

/* The exit code for a failed lookup (never called with VG_RES_OK): its vg_res_outcome's. */
enum vg_exit vg_exit_of_res(enum vg_res_status st);

/* ---- command lines ---------------------------------------------------------------------- */

enum vg_args { VG_ARGS_OK, VG_ARGS_HELP, VG_ARGS_VERSION, VG_ARGS_ERROR };

struct vg_connect_opts {
    const char *config;       /* -c; NULL = $VMGATE_CONFIG or the default if it exists */
    const char *dns_server;   /* --server: DNS server(s), overrides [dns] server */
    const char *gateway;      /* -g/--gateway ADDR:PORT, overrides [client] server */
    const char *user;         /* --user */
    bool fdpass;              /* --fdpass */
    bool verbose;             /* -v */
    unsigned timeout;         /* -t seconds: whole setup (DNS, connects, handshake); default 20 */
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
struct vg_config *vg_client_config(const char *path, const char *env_config, const char *dns_server,
                                   char *err, size_t errlen);

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

/* ---- a gateway's refusal ----------------------------------------------------------------- */

/* Exit code and message for the parsed answers (vg_s5c_parse_answers; auth: credentials were
 * offered) to vg_s5c_handshake's bytes when they are not a success.  `where` names the gateway
 * ("hv2.vmgate-hosts.vm.test (198.18.0.12:1080)"). */
enum vg_exit vg_client_refusal(const struct vg_s5c_answers *a, bool auth, const char *name,
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
