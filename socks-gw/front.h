/* front — the side a request comes in on: one interface for SOCKS5 (RFC 1928/1929), HTTP
 * CONNECT, and streams a guest opens through its agent.  A front parses the handshake, says how
 * success and refusal look on its wire, and how it treats a stalled or oversized handshake; the
 * connection (conn.c) does the I/O, the policy and the channel.
 *
 * parse() runs over what the connection has read.  It consumes what it used (*used) and returns
 *   GW_FR_NEED_MORE  read more, call again (nothing more consumed)
 *   GW_FR_STEP       a step is done (SOCKS5: greeting, authentication); call again
 *   GW_FR_AUTH       rq->user / rq->pass are credentials to check: the connection checks them
 *                    off the loop (auth.h) and then calls auth_result, which answers like parse
 *   GW_FR_REQUEST    *rq is the request: the connection decides and opens the channel
 *   GW_FR_REFUSE     answer *out (why: the log's reason), then close
 *   GW_FR_CLOSE      close without an answer (not this protocol, no acceptable method)
 *   GW_FR_GONE       the client is gone (a reply could not be sent): free at once
 * Intermediate answers (SOCKS5 method choice and RFC 1929 status) are the front's own: it sends
 * them on io->fd (through io->tls when set).  The front never checks a password itself: it
 * hands the credentials over (GW_FR_AUTH) and wipes its copy.  A peer that proved with its TLS
 * client certificate that it is a host of the fleet (io->hop_host) may instead state the
 * identity of the person it forwards (SOCKS5 method VG_S5_METHOD_HOPID): the front keeps it in
 * io->hop.
 */
#ifndef GW_FRONT_H
#define GW_FRONT_H

#include "vg_outcome.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct vg_users;
struct vg_cidr;
struct vg_s5_hopid;
typedef struct ssl_st SSL;

struct gw_request {
    char target[256]; /* the requested host: a name, or an IP literal to refuse */
    uint16_t port;
    char user[256]; /* GW_FR_AUTH: the credentials (the connection wipes pass) */
    char pass[256];
};

/* What a front may use and change during a handshake. */
struct gw_front_io {
    int fd;                       /* the client */
    SSL *tls;                     /* its TLS session, or NULL */
    const struct vg_users *users; /* whether to offer RFC 1929 (any users?) */
    bool anon_ok;                 /* the client's address may skip authentication */
    const char *hop_host;         /* the fleet host the client's certificate names, or NULL */
    const struct vg_cidr *anon;   /* allow-anonymous-from, for a hop's anonymous person */
    size_t nanon;
    char *user;              /* authenticated user (vg_strdup'ed by the front), or NULL */
    struct vg_s5_hopid *hop; /* the identity a hop stated (vg_malloc'ed), or NULL */
    unsigned phase;          /* the front's position in a multi-step handshake */
};

enum gw_front_result {
    GW_FR_NEED_MORE,
    GW_FR_STEP,
    GW_FR_AUTH,
    GW_FR_REQUEST,
    GW_FR_REFUSE,
    GW_FR_CLOSE,
    GW_FR_GONE
};

struct gw_front_ops {
    const char *name;   /* "socks5", "http", "guest" */
    size_t bufsize;     /* the handshake buffer: a request that does not fit is refused */
    bool answers_early; /* it can answer before a request is complete: a stalled handshake
                           (HTTP 408), a full buffer (431), a full gateway (503); without
                           it those connections are closed */
    enum gw_front_result (*parse)(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                  size_t *used, struct gw_request *rq, enum vg_outcome *out,
                                  const char **why);
    /* The check of GW_FR_AUTH's credentials came back (ok: they are valid).  rq is the request
     * as parse left it (a front whose request came with the credentials: HTTP).  Returns as
     * parse does; GW_FR_STEP to go on parsing.  NULL for a front that never returns GW_FR_AUTH. */
    enum gw_front_result (*auth_result)(struct gw_front_io *io, const char *user, bool ok,
                                        struct gw_request *rq, enum vg_outcome *out,
                                        const char **why);
    /* The success answer; bnd NULL when there is no IP address to report. */
    size_t (*success)(const struct sockaddr *bnd, char *out, size_t cap);
    /* The answer for outcome o (the table of vg_outcome.c), and how the log names it
     * ("reply 0x05", "HTTP 502", "ERR refused"). */
    size_t (*refusal)(enum vg_outcome o, const char *why, char *out, size_t cap);
    void (*describe)(enum vg_outcome o, char *out, size_t cap);
};

extern const struct gw_front_ops gw_front_socks5, gw_front_http, gw_front_guest;

#endif
