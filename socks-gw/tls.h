/* tls — the gateway's TLS (OpenSSL): the one module that touches it.
 *
 * Three contexts, built from [gateway] keys at start and on every reload:
 *   hop server  accepts TLS on the SOCKS5 listeners (sniffed: a ClientHello starts with 0x16,
 *               a SOCKS5 greeting with 0x05).  A client certificate is asked for and, when one
 *               is sent, must chain to tls-ca (else the handshake fails): such a peer is a host
 *               of the fleet and may state the identity of the person it forwards.  A client
 *               without a certificate is an ordinary client (the vmgate front of a user).
 *               Certificate: tls-cert / tls-key.
 *   https       listen-https: HTTP CONNECT over TLS for users' clients (curl --proxy https://).
 *               Certificate: https-cert / https-key, else tls-cert / tls-key.  No client
 *               certificate is asked for.
 *   hop client  chaining to the owning host's gateway: the peer's certificate must chain to
 *               tls-ca and name the owning host; this host's tls-cert is presented (not in
 *               --front mode: a front holds no host certificate).
 * Hops use TLS 1.3 only; listen-https accepts TLS 1.2 too.  No renegotiation, no session
 * tickets.
 *
 * Handshakes are driven by the caller's events: gw_tls_handshake() returns VG_P_NEED_MORE with
 * *want_write telling which readiness to wait for.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vg_config;
struct gw_tls;
typedef struct ssl_st SSL;

enum gw_tls_kind { GW_TLS_HOP_SERVER, GW_TLS_HTTPS, GW_TLS_HOP_CLIENT };

/* The contexts the configuration asks for; NULL + err when a file is missing or bad. */
struct gw_tls *gw_tls_new(const struct vg_config *cfg, bool front, char *err, size_t errlen);
void gw_tls_free(struct gw_tls *t);
/* Whether a context of that kind exists. */
bool gw_tls_has(const struct gw_tls *t, enum gw_tls_kind kind);

/* A TLS session on connected socket fd (not owned by it).  For a client, `peer` is the host
 * name the peer's certificate must carry (NULL: any certificate of the CA).  NULL when out of
 * memory or the kind is not configured. */
SSL *gw_tls_session(struct gw_tls *t, enum gw_tls_kind kind, int fd, const char *peer);
void gw_tls_session_free(SSL *s);

/* One handshake step: VG_P_OK done, VG_P_NEED_MORE (wait for readability, or writability when
 * *want_write), VG_P_ERROR with the reason in err. */
int gw_tls_handshake(SSL *s, bool *want_write, char *err, size_t errlen);

/* After a server handshake: the name of the fleet host that presented a verified client
 * certificate (its first DNS subjectAltName, else its CN), or false when it sent none. */
bool gw_tls_peer_host(SSL *s, char *out, size_t cap);

/* Non-zero when TLS holds bytes read from the socket and not yet handed out (decrypted or
 * not): they will not make the socket readable again, so read now. */
size_t gw_tls_pending(SSL *s);

/* Socket I/O through TLS when s is set, plain otherwise; both non-blocking.
 * recv: >0 bytes, 0 end of stream, -1 with errno (EAGAIN: wait for readability; for TLS also
 * when it needs to write first).  send: >=0 bytes taken, -1 with errno (EAGAIN: wait for
 * writability). */
ssize_t gw_io_recv(int fd, SSL *s, void *buf, size_t n);
ssize_t gw_io_send(int fd, SSL *s, const void *p, size_t n);
/* A few bytes on a socket whose send buffer is empty: all of them, or false. */
bool gw_io_send_small(int fd, SSL *s, const void *p, size_t n);
/* Half-close the sending side: close_notify, then shutdown(SHUT_WR). */
void gw_io_shut_wr(int fd, SSL *s);

#endif
