/* reg_net — DNS over TCP (RFC 1035 4.2.2, RFC 7766): a connection to the first server of the
 * configured list that accepts it, kept open for a sequence of messages, with a deadline per
 * exchange.  Framing (the 2-octet length) lives here; callers see whole messages.
 *
 * When a connection breaks, the next send reconnects, trying each server once; when none accepts
 * the connection is marked down and every later call fails at once (reg_conn_reset clears that).
 */
#ifndef REG_NET_H
#define REG_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define REG_MAX_SERVERS 8

struct reg_conn {
    struct sockaddr_storage srv[REG_MAX_SERVERS];
    socklen_t srvlen[REG_MAX_SERVERS];
    size_t nsrv;
    size_t cur;          /* index of the server in use */
    int fd;              /* -1 when not connected */
    unsigned timeout_ms; /* per exchange */
    bool down;           /* every server failed since the last reset */
    char err[160];       /* the last transport error */
};

/* Parse the [dns] server list ("127.0.0.1:5353, [::1]:5353"; port 53 when omitted). */
bool reg_conn_init(struct reg_conn *c, const char *servers, unsigned timeout_ms, char *err,
                   size_t errlen);
void reg_conn_close(struct reg_conn *c);
void reg_conn_reset(struct reg_conn *c); /* close and forget that the servers were down */

/* Send one message and receive its reply (malloc'ed into *reply).  0 on success, -1 when no
 * server could be reached or the exchange timed out (c->err says why). */
int reg_conn_exchange(struct reg_conn *c, const uint8_t *msg, size_t len, uint8_t **reply,
                      size_t *rlen);
/* The two halves, for zone transfers (several replies to one request). */
int reg_conn_send(struct reg_conn *c, const uint8_t *msg, size_t len);
int reg_conn_recv(struct reg_conn *c, uint8_t **reply, size_t *rlen);
/* "127.0.0.1:5353" of the server in use. */
const char *reg_conn_peer(const struct reg_conn *c, char *buf, size_t len);

#endif
