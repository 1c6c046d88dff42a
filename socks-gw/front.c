/* front — SOCKS5, HTTP CONNECT and guest-stream fronts (front.h) over the pure codecs of
 * common/vg_socks.h and common/vg_http.h; what each answers comes from the outcome table. */
#include "front.h"

#include "tls.h"
#include "users.h"

#include "vg_addr.h"
#include "vg_alloc.h"
#include "vg_http.h"
#include "vg_socks.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define SOCKS_BUF 1100 /* greeting (257) + userpass (513) + request (262), pipelined */

/* Handshake answers are a few bytes on a socket whose send buffer is empty. */
static bool send_small(const struct gw_front_io *io, const void *p, size_t n)
{
    return gw_io_send_small(io->fd, io->tls, p, n);
}

static bool set_user(struct gw_front_io *io, const char *user)
{
    vg_free(io->user);
    io->user = vg_strdup(user);
    return io->user != NULL;
}

/* ---- SOCKS5 ------------------------------------------------------------------------------- */

enum { S5_GREETING, S5_AUTH, S5_HOPID, S5_REQUEST };

static enum gw_front_result s5_greeting(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                        size_t *used, const char **why)
{
    struct vg_s5_greeting gr;
    enum vg_parse r = vg_s5_parse_greeting(buf, len, &gr, used);
    if (r == VG_P_NEED_MORE)
        return GW_FR_NEED_MORE;
    if (r == VG_P_ERROR) {
        *why = "not a SOCKS5 greeting";
        return GW_FR_CLOSE;
    }
    uint8_t m = VG_S5_METHOD_NONE;
    if (io->hop_host && vg_s5_offers(&gr, VG_S5_METHOD_HOPID))
        m = VG_S5_METHOD_HOPID; /* a host of the fleet, proved by its certificate */
    else if (io->anon_ok && vg_s5_offers(&gr, VG_S5_METHOD_NOAUTH))
        m = VG_S5_METHOD_NOAUTH;
    else if (vg_users_count(io->users) > 0 && vg_s5_offers(&gr, VG_S5_METHOD_USERPASS))
        m = VG_S5_METHOD_USERPASS;
    uint8_t out[2] = {5, m};
    if (!send_small(io, out, 2))
        return GW_FR_GONE;
    if (m == VG_S5_METHOD_NONE) {
        *why = "no acceptable authentication method";
        return GW_FR_CLOSE;
    }
    io->phase = m == VG_S5_METHOD_USERPASS ? S5_AUTH
                : m == VG_S5_METHOD_HOPID  ? S5_HOPID
                                           : S5_REQUEST;
    return GW_FR_STEP;
}

/* The identity a host of the fleet states for the person it forwards.  An anonymous person
 * must come from an address this host lets in anonymously: its own rules, not the other's. */
static enum gw_front_result s5_hopid(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                     size_t *used, const char **why)
{
    struct vg_s5_hopid id;
    enum vg_parse r = vg_s5_parse_hopid(buf, len, &id, used);
    if (r == VG_P_NEED_MORE)
        return GW_FR_NEED_MORE;
    bool ok = r == VG_P_OK;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (ok && id.client[0] && !vg_sockaddr_parse(id.client, 1, &ss, &sl))
        ok = false;
    if (ok && id.user[0] == '\0' && id.vm[0] == '\0') {
        bool anon = false;
        for (size_t i = 0; id.client[0] && i < io->nanon && !anon; i++)
            anon = vg_cidr_match(&io->anon[i], (const struct sockaddr *)&ss);
        if (!anon) {
            *why = "hop: an anonymous client from an address this host does not let in";
            ok = false;
        }
    } else if (!ok) {
        *why = "hop: malformed identity";
    }
    uint8_t out[2] = {1, ok ? 0 : 1};
    if (!send_small(io, out, 2))
        return GW_FR_GONE;
    if (!ok)
        return GW_FR_CLOSE;
    if ((io->hop = vg_malloc(sizeof *io->hop)) == NULL)
        return GW_FR_GONE;
    *io->hop = id;
    if (id.user[0] && !set_user(io, id.user))
        return GW_FR_GONE;
    io->phase = S5_REQUEST;
    return GW_FR_STEP;
}

static enum gw_front_result s5_auth(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                    size_t *used, struct gw_request *rq, const char **why)
{
    struct vg_s5_userpass up;
    enum vg_parse r = vg_s5_parse_userpass(buf, len, &up, used);
    if (r == VG_P_NEED_MORE)
        return GW_FR_NEED_MORE;
    if (r == VG_P_ERROR) {
        uint8_t out[2] = {1, 1};
        if (!send_small(io, out, 2))
            return GW_FR_GONE;
        *why = "malformed RFC 1929 authentication";
        return GW_FR_CLOSE;
    }
    memcpy(rq->user, up.user, sizeof rq->user);
    memcpy(rq->pass, up.pass, sizeof rq->pass);
    explicit_bzero(up.pass, sizeof up.pass);
    return GW_FR_AUTH;
}

static enum gw_front_result s5_auth_result(struct gw_front_io *io, const char *user, bool ok,
                                           struct gw_request *rq, enum vg_outcome *out,
                                           const char **why)
{
    static char msg[100];
    uint8_t st[2] = {1, ok ? 0 : 1};
    (void)rq, (void)out;
    if (!send_small(io, st, 2))
        return GW_FR_GONE;
    if (!ok) {
        snprintf(msg, sizeof msg, "authentication failed for user '%.64s'", user);
        *why = msg;
        return GW_FR_CLOSE;
    }
    if (!set_user(io, user))
        return GW_FR_GONE;
    io->phase = S5_REQUEST;
    return GW_FR_STEP;
}

static enum gw_front_result s5_parse(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                     size_t *used, struct gw_request *rq, enum vg_outcome *out,
                                     const char **why)
{
    if (io->phase == S5_GREETING)
        return s5_greeting(io, buf, len, used, why);
    if (io->phase == S5_AUTH)
        return s5_auth(io, buf, len, used, rq, why);
    if (io->phase == S5_HOPID)
        return s5_hopid(io, buf, len, used, why);
    struct vg_s5_request req;
    *out = VG_OUT_BAD_REQUEST;
    enum vg_parse r = vg_s5_parse_request(buf, len, &req, used, out);
    if (r == VG_P_NEED_MORE)
        return GW_FR_NEED_MORE;
    if (r == VG_P_ERROR) {
        *why = "malformed request";
        return GW_FR_REFUSE;
    }
    rq->port = req.port;
    if (req.cmd != VG_S5_CMD_CONNECT) {
        *out = VG_OUT_UNSUPPORTED_CMD;
        *why = "command not supported (CONNECT only)";
        return GW_FR_REFUSE;
    }
    if (req.atyp != VG_S5_ATYP_NAME) {
        *out = VG_OUT_BAD_ATYPE;
        *why = "IP address: only VM names are served";
        return GW_FR_REFUSE;
    }
    snprintf(rq->target, sizeof rq->target, "%s", req.name);
    return GW_FR_REQUEST;
}

static size_t s5_success(const struct sockaddr *bnd, char *out, size_t cap)
{
    uint8_t b[VG_S5_REPLY_MAX];
    size_t n = vg_s5_build_reply(b, VG_S5_SUCCEEDED, bnd);
    if (n > cap)
        return 0;
    memcpy(out, b, n);
    return n;
}

static size_t s5_refusal(enum vg_outcome o, const char *why, char *out, size_t cap)
{
    uint8_t b[VG_S5_REPLY_MAX];
    size_t n = vg_s5_build_reply(b, vg_outcome_socks(o), NULL);
    (void)why;
    if (n > cap)
        return 0;
    memcpy(out, b, n);
    return n;
}

static void s5_describe(enum vg_outcome o, char *out, size_t cap)
{
    snprintf(out, cap, "reply 0x%02x", vg_outcome_socks(o));
}

const struct gw_front_ops gw_front_socks5 = {"socks5",       SOCKS_BUF,  false,      s5_parse,
                                             s5_auth_result, s5_success, s5_refusal, s5_describe};

/* ---- HTTP CONNECT ------------------------------------------------------------------------- */

static enum gw_front_result http_parse(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                       size_t *used, struct gw_request *rq, enum vg_outcome *out,
                                       const char **why)
{
    struct vg_http_connect hc;
    *out = VG_OUT_BAD_REQUEST;
    enum vg_parse r = vg_http_parse_connect(buf, len, &hc, used, out);
    if (r == VG_P_NEED_MORE)
        return GW_FR_NEED_MORE;
    if (r == VG_P_ERROR) {
        *why = "malformed HTTP request";
        return GW_FR_REFUSE;
    }
    rq->port = hc.port;
    snprintf(rq->target, sizeof rq->target, "%s", hc.host);
    if (hc.has_auth) {
        memcpy(rq->user, hc.user, sizeof rq->user);
        memcpy(rq->pass, hc.pass, sizeof rq->pass);
        explicit_bzero(hc.pass, sizeof hc.pass);
        return GW_FR_AUTH;
    }
    if (!io->anon_ok) {
        *out = VG_OUT_AUTH_FAILED;
        *why = "authentication required";
        return GW_FR_REFUSE;
    }
    return GW_FR_REQUEST;
}

/* Wrong credentials from an address that may go without: served anonymously, as before. */
static enum gw_front_result http_auth_result(struct gw_front_io *io, const char *user, bool ok,
                                             struct gw_request *rq, enum vg_outcome *out,
                                             const char **why)
{
    (void)rq;
    if (ok && !set_user(io, user))
        return GW_FR_GONE;
    if (!ok && !io->anon_ok) {
        *out = VG_OUT_AUTH_FAILED;
        *why = "authentication failed";
        return GW_FR_REFUSE;
    }
    return GW_FR_REQUEST;
}

static size_t http_success(const struct sockaddr *bnd, char *out, size_t cap)
{
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    (void)bnd;
    if (sizeof ok - 1 > cap)
        return 0;
    memcpy(out, ok, sizeof ok - 1);
    return sizeof ok - 1;
}

static size_t http_refusal(enum vg_outcome o, const char *why, char *out, size_t cap)
{
    int status = vg_outcome_http(o);
    (void)why;
    return vg_http_build_response(out, cap, status,
                                  status == 407 ? "Proxy-Authenticate: Basic realm=\"vmgate\"\r\n"
                                                  "Connection: close\r\n"
                                                : "Connection: close\r\n");
}

static void http_describe(enum vg_outcome o, char *out, size_t cap)
{
    snprintf(out, cap, "HTTP %d", vg_outcome_http(o));
}

const struct gw_front_ops gw_front_http = {"http",       VG_HTTP_HEAD_MAX, true,
                                           http_parse,   http_auth_result, http_success,
                                           http_refusal, http_describe};

/* ---- guest streams: the request arrives parsed (serial.c), answered with OK / ERR lines ---- */

static enum gw_front_result guest_parse(struct gw_front_io *io, const uint8_t *buf, size_t len,
                                        size_t *used, struct gw_request *rq, enum vg_outcome *out,
                                        const char **why)
{
    (void)io, (void)buf, (void)len, (void)used, (void)rq, (void)out;
    *why = "unexpected bytes before the answer"; /* never called: no handshake to parse */
    return GW_FR_CLOSE;
}

static size_t guest_success(const struct sockaddr *bnd, char *out, size_t cap)
{
    (void)bnd;
    if (cap < 3)
        return 0;
    memcpy(out, "OK\n", 3);
    return 3;
}

static size_t guest_refusal(enum vg_outcome o, const char *why, char *out, size_t cap)
{
    int n = snprintf(out, cap, "ERR %s %.200s\n", vg_outcome_err(o), why);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void guest_describe(enum vg_outcome o, char *out, size_t cap)
{
    snprintf(out, cap, "ERR %s", vg_outcome_err(o));
}

const struct gw_front_ops gw_front_guest = {
    "guest", 0, false, guest_parse, NULL, guest_success, guest_refusal, guest_describe};
