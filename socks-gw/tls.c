/* tls — OpenSSL contexts, handshakes and socket I/O for the gateway (tls.h). */
#include "tls.h"

#include "vg_alloc.h"
#include "vg_config.h"
#include "vg_parse.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct gw_tls {
    SSL_CTX *ctx[3]; /* by enum gw_tls_kind */
};

static void ssl_reason(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[200] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s %s: %s", what, file ? file : "", buf);
    ERR_clear_error();
}

static SSL_CTX *ctx_new(int min_version, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        ssl_reason(err, errlen, "TLS", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, min_version);
    /* AES-128-GCM first (fewer rounds than AES-256; both are hardware-accelerated here) */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* partial writes and a moving buffer: the relay retries from its own queue; idle
     * connections give their buffers back */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* read what the socket has, several records at a time, rather than a header and a body
     * per record: a third of the read calls in bulk transfers (gw_tls_pending covers it) */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    return ctx;
}

static bool use_cert(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t errlen)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_reason(err, errlen, "certificate", cert);
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(err, errlen, "private key", key);
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "private key %s does not match certificate %s", key, cert);
        ERR_clear_error();
        return false;
    }
    return true;
}

static bool use_ca(SSL_CTX *ctx, const char *ca, bool server, char *err, size_t errlen)
{
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        ssl_reason(err, errlen, "CA file", ca);
        return false;
    }
    if (server) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (names == NULL) {
            ssl_reason(err, errlen, "CA file", ca);
            return false;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return true;
}

struct gw_tls *gw_tls_new(const struct vg_config *cfg, bool front, char *err, size_t errlen)
{
    struct gw_tls *t = vg_calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    SSL_CTX *c;
    if (!front && cfg->tls_cert) {
        /* vg_config_check_gateway: tls-cert, tls-key and tls-ca come together */
        if ((c = t->ctx[GW_TLS_HOP_SERVER] = ctx_new(TLS1_3_VERSION, err, errlen)) == NULL ||
            !use_cert(c, cfg->tls_cert, cfg->tls_key, err, errlen) ||
            !use_ca(c, cfg->tls_ca, true, err, errlen))
            goto fail;
    }
    if (cfg->tls_ca) {
        if ((c = t->ctx[GW_TLS_HOP_CLIENT] = ctx_new(TLS1_3_VERSION, err, errlen)) == NULL ||
            !use_ca(c, cfg->tls_ca, false, err, errlen) ||
            (!front && cfg->tls_cert && !use_cert(c, cfg->tls_cert, cfg->tls_key, err, errlen)))
            goto fail;
    }
    if (cfg->listen_https) {
        const char *cert = cfg->https_cert ? cfg->https_cert : cfg->tls_cert;
        const char *key = cfg->https_key ? cfg->https_key : cfg->tls_key;
        if ((c = t->ctx[GW_TLS_HTTPS] = ctx_new(TLS1_2_VERSION, err, errlen)) == NULL ||
            !use_cert(c, cert, key, err, errlen))
            goto fail;
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    }
    return t;
fail:
    gw_tls_free(t);
    return NULL;
}

void gw_tls_free(struct gw_tls *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < 3; i++)
        SSL_CTX_free(t->ctx[i]);
    vg_free(t);
}

bool gw_tls_has(const struct gw_tls *t, enum gw_tls_kind kind)
{
    return t && t->ctx[kind];
}

SSL *gw_tls_session(struct gw_tls *t, enum gw_tls_kind kind, int fd, const char *peer)
{
    if (!gw_tls_has(t, kind))
        return NULL;
    SSL *s = SSL_new(t->ctx[kind]);
    if (s == NULL || SSL_set_fd(s, fd) != 1) {
        SSL_free(s);
        ERR_clear_error();
        return NULL;
    }
    if (kind == GW_TLS_HOP_CLIENT) {
        SSL_set_connect_state(s);
        if (peer && peer[0] &&
            (SSL_set_tlsext_host_name(s, peer) != 1 || SSL_set1_host(s, peer) != 1)) {
            SSL_free(s);
            ERR_clear_error();
            return NULL;
        }
    } else {
        SSL_set_accept_state(s);
    }
    return s;
}

void gw_tls_session_free(SSL *s)
{
    SSL_free(s);
}

int gw_tls_handshake(SSL *s, bool *want_write, char *err, size_t errlen)
{
    ERR_clear_error();
    int r = SSL_do_handshake(s);
    if (r == 1)
        return VG_P_OK;
    int e = SSL_get_error(s, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want_write = e == SSL_ERROR_WANT_WRITE;
        return VG_P_NEED_MORE;
    }
    long v = SSL_get_verify_result(s);
    if (v != X509_V_OK) {
        snprintf(err, errlen, "TLS: peer certificate refused: %s",
                 X509_verify_cert_error_string(v));
    } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(err, errlen, "TLS: peer closed the connection during the handshake%s%s",
                 errno ? ": " : "", errno ? strerror(errno) : "");
    } else {
        char buf[200] = "handshake failed";
        unsigned long l = ERR_get_error();
        if (l)
            ERR_error_string_n(l, buf, sizeof buf);
        snprintf(err, errlen, "TLS: %s", buf);
    }
    ERR_clear_error();
    return VG_P_ERROR;
}

static void copy_printable(char *out, size_t cap, const unsigned char *p, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        out[j++] = (p[i] > 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    out[j] = '\0';
}

bool gw_tls_peer_host(SSL *s, char *out, size_t cap)
{
    X509 *cert = SSL_get0_peer_certificate(s);
    if (cert == NULL || SSL_get_verify_result(s) != X509_V_OK)
        return false;
    out[0] = '\0';
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !out[0]; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS)
            copy_printable(out, cap, ASN1_STRING_get0_data(gn->d.dNSName),
                           (size_t)ASN1_STRING_length(gn->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    if (!out[0]) {
        char cn[256];
        int n =
            X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
        copy_printable(out, cap, (const unsigned char *)cn, n > 0 ? (size_t)n : 0);
    }
    if (!out[0])
        snprintf(out, cap, "?");
    return true;
}

size_t gw_tls_pending(SSL *s)
{
    /* SSL_pending counts only a record already opened; with read-ahead, whole records may
     * wait in the buffer too */
    return s && SSL_has_pending(s) ? 1 : 0;
}

/* What a failed SSL_read / SSL_write (result r) means, as recv/send would say it: 0 for the
 * end of the stream, or -1 with errno (EAGAIN: wait for the socket).  `eof_errno`: errno for a
 * peer that closed without close_notify. */
static ssize_t io_error(SSL *s, int r, int eof_errno)
{
    int e = SSL_get_error(s, r);
    int err = errno;
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        errno = err == 0 || err == EAGAIN ? eof_errno : err;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

ssize_t gw_io_recv(int fd, SSL *s, void *buf, size_t n)
{
    if (s == NULL)
        return recv(fd, buf, n, 0);
    ERR_clear_error();
    int r = SSL_read(s, buf, n > 0x7fffffff ? 0x7fffffff : (int)n);
    /* wanting to write first: wait for readability anyway (no renegotiation; a KeyUpdate
     * answer goes out with the next write) */
    return r > 0 ? r : io_error(s, r, ECONNRESET);
}

ssize_t gw_io_send(int fd, SSL *s, const void *p, size_t n)
{
    if (s == NULL)
        return send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == 0)
        return 0;
    ERR_clear_error();
    int r = SSL_write(s, p, n > 0x7fffffff ? 0x7fffffff : (int)n);
    if (r > 0)
        return r;
    if (SSL_get_error(s, r) == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        errno = EPROTO; /* renegotiation: refused by the contexts */
        return -1;
    }
    ssize_t v = io_error(s, r, EPIPE);
    return v == 0 ? (errno = EPIPE, -1) : v;
}

bool gw_io_send_small(int fd, SSL *s, const void *p, size_t n)
{
    return n > 0 && gw_io_send(fd, s, p, n) == (ssize_t)n;
}

void gw_io_shut_wr(int fd, SSL *s)
{
    if (s) {
        ERR_clear_error();
        (void)SSL_shutdown(s); /* sends close_notify; reading goes on */
        ERR_clear_error();
    }
    shutdown(fd, SHUT_WR);
}
