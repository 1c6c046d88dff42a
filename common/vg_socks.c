/* vg_socks — the SOCKS5 codec, server and client side.  See vg_socks.h.
 *
 * Every parser checks the bytes it has from left to right and reports an error as soon as the
 * prefix can no longer become a valid message, so the result for a prefix never contradicts the
 * result for the whole input: ERROR stays ERROR with the same code, NEED_MORE becomes OK or
 * ERROR.  Output structures are written only on OK.
 */
#include "vg_socks.h"

#include <netinet/in.h>
#include <string.h>

/* ---------------------------------------------------------------- server side */

enum vg_parse vg_s5_parse_greeting(const uint8_t *buf, size_t len, struct vg_s5_greeting *out,
                                   size_t *used)
{
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x05)
        return VG_P_ERROR;
    if (len < 2)
        return VG_P_NEED_MORE;
    size_t n = buf[1];
    if (n == 0)
        return VG_P_ERROR;
    if (len < 2 + n)
        return VG_P_NEED_MORE;

    memset(out->methods, 0, sizeof out->methods);
    for (size_t i = 0; i < n; i++) {
        uint8_t m = buf[2 + i];
        out->methods[m >> 3] |= (uint8_t)(1u << (m & 7));
    }
    *used = 2 + n;
    return VG_P_OK;
}

/* True if one of the `n` bytes at p is NUL. */
static bool has_nul(const uint8_t *p, size_t n)
{
    return n > 0 && memchr(p, 0, n) != NULL;
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static bool has_ctl(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return true;
    return false;
}

static char *hopid_slot(struct vg_s5_hopid *id, uint8_t type)
{
    switch (type) {
    case VG_S5_HOP_USER:
        return id->user;
    case VG_S5_HOP_GROUPS:
        return id->groups;
    case VG_S5_HOP_CLIENT:
        return id->client;
    case VG_S5_HOP_VM:
        return id->vm;
    case VG_S5_HOP_HOST:
        return id->host;
    default:
        return NULL;
    }
}

enum vg_parse vg_s5_parse_hopid(const uint8_t *buf, size_t len, struct vg_s5_hopid *out,
                                size_t *used)
{
    struct vg_s5_hopid id;
    uint32_t seen = 0;
    memset(&id, 0, sizeof id);
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x01)
        return VG_P_ERROR;
    size_t pos = 1;
    for (;;) {
        if (pos >= VG_S5_HOPID_MAX)
            return VG_P_ERROR;
        if (pos >= len)
            return VG_P_NEED_MORE;
        uint8_t type = buf[pos];
        if (type == VG_S5_HOP_END)
            break;
        if (type < 32) {
            if (seen & (1u << type))
                return VG_P_ERROR;
            seen |= 1u << type;
        }
        if (pos + 1 >= len)
            return VG_P_NEED_MORE;
        size_t vlen = buf[pos + 1];
        const uint8_t *v = buf + pos + 2;
        if (pos + 2 + vlen >= VG_S5_HOPID_MAX)
            return VG_P_ERROR;
        if (has_ctl(v, min_size(len - pos - 2, vlen)))
            return VG_P_ERROR;
        if (len < pos + 2 + vlen)
            return VG_P_NEED_MORE;
        char *slot = hopid_slot(&id, type);
        if (slot) {
            memcpy(slot, v, vlen);
            slot[vlen] = '\0';
        }
        pos += 2 + vlen;
    }
    *out = id;
    *used = pos + 1;
    return VG_P_OK;
}

enum vg_parse vg_s5_parse_userpass(const uint8_t *buf, size_t len, struct vg_s5_userpass *out,
                                   size_t *used)
{
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x01)
        return VG_P_ERROR;
    if (len < 2)
        return VG_P_NEED_MORE;
    size_t ulen = buf[1];
    if (ulen == 0)
        return VG_P_ERROR;
    if (has_nul(buf + 2, min_size(len - 2, ulen)))
        return VG_P_ERROR;
    if (len < 3 + ulen)
        return VG_P_NEED_MORE;
    size_t plen = buf[2 + ulen];
    const uint8_t *pass = buf + 3 + ulen;
    if (has_nul(pass, min_size(len - 3 - ulen, plen)))
        return VG_P_ERROR;
    if (len < 3 + ulen + plen)
        return VG_P_NEED_MORE;

    memcpy(out->user, buf + 2, ulen);
    out->user[ulen] = '\0';
    memcpy(out->pass, pass, plen);
    out->pass[plen] = '\0';
    *used = 3 + ulen + plen;
    return VG_P_OK;
}

static enum vg_parse s5_fail(enum vg_outcome *err, enum vg_outcome o)
{
    if (err != NULL)
        *err = o;
    return VG_P_ERROR;
}

enum vg_parse vg_s5_parse_request(const uint8_t *buf, size_t len, struct vg_s5_request *out,
                                  size_t *used, enum vg_outcome *err)
{
    /* VER CMD RSV ATYP: 4 octets, then the address, then 2 octets of port */
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x05)
        return s5_fail(err, VG_OUT_BAD_REQUEST);
    if (len < 3)
        return VG_P_NEED_MORE;
    if (buf[2] != 0x00)
        return s5_fail(err, VG_OUT_BAD_REQUEST);
    if (len < 4)
        return VG_P_NEED_MORE;

    uint8_t atyp = buf[3];
    size_t addr_off = 4, addr_len;
    switch (atyp) {
    case VG_S5_ATYP_IPV4:
        addr_len = 4;
        break;
    case VG_S5_ATYP_IPV6:
        addr_len = 16;
        break;
    case VG_S5_ATYP_NAME:
        if (len < 5)
            return VG_P_NEED_MORE;
        addr_off = 5;
        addr_len = buf[4];
        if (addr_len == 0)
            return s5_fail(err, VG_OUT_BAD_REQUEST);
        if (has_nul(buf + 5, min_size(len - 5, addr_len)))
            return s5_fail(err, VG_OUT_BAD_REQUEST);
        break;
    default:
        return s5_fail(err, VG_OUT_BAD_ATYPE);
    }
    size_t total = addr_off + addr_len + 2;
    if (len < total)
        return VG_P_NEED_MORE;

    memset(out, 0, sizeof *out);
    out->cmd = buf[1];
    out->atyp = atyp;
    if (atyp == VG_S5_ATYP_NAME) {
        memcpy(out->name, buf + addr_off, addr_len);
        out->name[addr_len] = '\0';
    } else {
        memcpy(out->addr, buf + addr_off, addr_len);
    }
    out->port = (uint16_t)((buf[addr_off + addr_len] << 8) | buf[addr_off + addr_len + 1]);
    *used = total;
    return VG_P_OK;
}

size_t vg_s5_build_reply(uint8_t out[VG_S5_REPLY_MAX], uint8_t rep, const struct sockaddr *bnd)
{
    size_t n = 0;
    out[n++] = 0x05;
    out[n++] = rep;
    out[n++] = 0x00;
    if (bnd != NULL && bnd->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, bnd, sizeof sin6);
        out[n++] = VG_S5_ATYP_IPV6;
        memcpy(out + n, &sin6.sin6_addr, 16);
        n += 16;
        memcpy(out + n, &sin6.sin6_port, 2); /* already network order */
        n += 2;
    } else if (bnd != NULL && bnd->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, bnd, sizeof sin);
        out[n++] = VG_S5_ATYP_IPV4;
        memcpy(out + n, &sin.sin_addr, 4);
        n += 4;
        memcpy(out + n, &sin.sin_port, 2);
        n += 2;
    } else {
        out[n++] = VG_S5_ATYP_IPV4;
        memset(out + n, 0, 6);
        n += 6;
    }
    return n;
}

/* ---------------------------------------------------------------- client side */

size_t vg_s5c_greeting(uint8_t out[VG_S5C_GREETING_LEN], uint8_t method)
{
    out[0] = 0x05;
    out[1] = 1;
    out[2] = method;
    return VG_S5C_GREETING_LEN;
}

size_t vg_s5c_userpass(uint8_t out[VG_S5C_USERPASS_MAX], const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass), n = 0;
    if (ul == 0 || ul > 255 || pl > 255)
        return 0;
    out[n++] = 0x01;
    out[n++] = (uint8_t)ul;
    memcpy(out + n, user, ul);
    n += ul;
    out[n++] = (uint8_t)pl;
    memcpy(out + n, pass, pl);
    n += pl;
    return n;
}

size_t vg_s5c_connect(uint8_t out[VG_S5C_CONNECT_MAX], const char *name, uint16_t port)
{
    size_t nl = strlen(name), n = 0;
    if (nl == 0 || nl > 255)
        return 0;
    out[n++] = 0x05;
    out[n++] = VG_S5_CMD_CONNECT;
    out[n++] = 0x00;
    out[n++] = VG_S5_ATYP_NAME;
    out[n++] = (uint8_t)nl;
    memcpy(out + n, name, nl);
    n += nl;
    out[n++] = (uint8_t)(port >> 8);
    out[n++] = (uint8_t)(port & 0xff);
    return n;
}

size_t vg_s5c_handshake(uint8_t out[VG_S5C_MAX], const char *user, const char *pass,
                        const char *name, uint16_t port)
{
    size_t n = vg_s5c_greeting(out, user ? VG_S5_METHOD_USERPASS : VG_S5_METHOD_NOAUTH), k;
    if (user != NULL) {
        if ((k = vg_s5c_userpass(out + n, user, pass ? pass : "")) == 0)
            return 0;
        n += k;
    }
    if ((k = vg_s5c_connect(out + n, name, port)) == 0)
        return 0;
    return n + k;
}

size_t vg_s5c_hopid(uint8_t out[VG_S5_HOPID_MAX], const struct vg_s5_hopid *id)
{
    static const uint8_t order[] = {VG_S5_HOP_USER, VG_S5_HOP_GROUPS, VG_S5_HOP_CLIENT,
                                    VG_S5_HOP_VM, VG_S5_HOP_HOST};
    struct vg_s5_hopid tmp = *id; /* hopid_slot wants a writable struct */
    size_t n = 0;
    out[n++] = 0x01;
    for (size_t i = 0; i < sizeof order; i++) {
        const char *v = hopid_slot(&tmp, order[i]);
        size_t vl = strnlen(v, 256);
        if (vl == 0)
            continue;
        if (vl > 255 || has_ctl((const uint8_t *)v, vl) || n + 2 + vl + 1 >= VG_S5_HOPID_MAX)
            return 0;
        out[n++] = order[i];
        out[n++] = (uint8_t)vl;
        memcpy(out + n, v, vl);
        n += vl;
    }
    out[n++] = VG_S5_HOP_END;
    return n;
}

size_t vg_s5c_hop_handshake(uint8_t out[VG_S5C_HOP_MAX], const struct vg_s5_hopid *id,
                            const char *name, uint16_t port)
{
    size_t n = vg_s5c_greeting(out, VG_S5_METHOD_HOPID), k;
    if ((k = vg_s5c_hopid(out + n, id)) == 0)
        return 0;
    n += k;
    if ((k = vg_s5c_connect(out + n, name, port)) == 0)
        return 0;
    return n + k;
}

enum vg_parse vg_s5c_parse_method(const uint8_t *buf, size_t len, uint8_t *method, size_t *used)
{
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x05)
        return VG_P_ERROR;
    if (len < 2)
        return VG_P_NEED_MORE;
    *method = buf[1];
    *used = 2;
    return VG_P_OK;
}

enum vg_parse vg_s5c_parse_auth(const uint8_t *buf, size_t len, uint8_t *status, size_t *used)
{
    if (len < 1)
        return VG_P_NEED_MORE;
    if (buf[0] != 0x01)
        return VG_P_ERROR;
    if (len < 2)
        return VG_P_NEED_MORE;
    *status = buf[1];
    *used = 2;
    return VG_P_OK;
}

static enum vg_parse need_more(size_t *need, size_t n)
{
    if (need != NULL)
        *need = n;
    return VG_P_NEED_MORE;
}

enum vg_parse vg_s5c_parse_reply(const uint8_t *buf, size_t len, struct vg_s5_reply *out,
                                 size_t *used, size_t *need)
{
    /* VER REP RSV ATYP, then the address (a name: its length octet first), then the port.  The
     * shortest reply has 10 octets, so asking for 5 before the address type is known never reads
     * past a reply. */
    if (len < 1)
        return need_more(need, 5);
    if (buf[0] != 0x05)
        return VG_P_ERROR;
    if (len >= 3 && buf[2] != 0x00)
        return VG_P_ERROR;
    if (len < 4)
        return need_more(need, 5);

    size_t addr_off = 4, addr_len;
    switch (buf[3]) {
    case VG_S5_ATYP_IPV4:
        addr_len = 4;
        break;
    case VG_S5_ATYP_IPV6:
        addr_len = 16;
        break;
    case VG_S5_ATYP_NAME:
        if (len < 5)
            return need_more(need, 5);
        addr_off = 5;
        addr_len = buf[4];
        break;
    default:
        return VG_P_ERROR;
    }
    size_t total = addr_off + addr_len + 2;
    if (len < total)
        return need_more(need, total);

    memset(out, 0, sizeof *out);
    out->rep = buf[1];
    out->atyp = buf[3];
    if (out->atyp == VG_S5_ATYP_NAME) {
        memcpy(out->name, buf + addr_off, addr_len);
        out->name[addr_len] = '\0';
    } else {
        memcpy(out->addr, buf + addr_off, addr_len);
    }
    out->port = (uint16_t)((buf[addr_off + addr_len] << 8) | buf[addr_off + addr_len + 1]);
    *used = total;
    return VG_P_OK;
}

void vg_s5_reply_bnd(const struct vg_s5_reply *r, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (r->atyp == VG_S5_ATYP_IPV4) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(r->port)};
        memcpy(&sin.sin_addr, r->addr, 4);
        memcpy(ss, &sin, sizeof sin);
    } else if (r->atyp == VG_S5_ATYP_IPV6) {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(r->port)};
        memcpy(&sin6.sin6_addr, r->addr, 16);
        memcpy(ss, &sin6, sizeof sin6);
    }
}

enum vg_parse vg_s5c_parse_answers(const uint8_t *buf, size_t len, bool auth,
                                   struct vg_s5c_answers *a, size_t *used, size_t *need)
{
    struct vg_s5c_answers ans = {.auth_status = -1};
    size_t off = 0, n, rneed;
    enum vg_parse r = vg_s5c_parse_method(buf, len, &ans.method, &n);
    if (r != VG_P_OK)
        return r == VG_P_NEED_MORE ? need_more(need, 2) : r;
    off = n;
    if (ans.method != (auth ? VG_S5_METHOD_USERPASS : VG_S5_METHOD_NOAUTH))
        goto done; /* 0xff, or a method we did not offer: nothing more comes */
    if (auth) {
        uint8_t st;
        r = vg_s5c_parse_auth(buf + off, len - off, &st, &n);
        if (r != VG_P_OK)
            return r == VG_P_NEED_MORE ? need_more(need, off + 2) : r;
        ans.auth_status = st;
        off += n;
        if (st != 0)
            goto done;
    }
    r = vg_s5c_parse_reply(buf + off, len - off, &ans.reply, &n, &rneed);
    if (r != VG_P_OK)
        return r == VG_P_NEED_MORE ? need_more(need, off + rneed) : r;
    ans.replied = true;
    off += n;
done:
    *a = ans;
    *used = off;
    return VG_P_OK;
}

enum vg_outcome vg_s5c_outcome(const struct vg_s5c_answers *a, bool auth)
{
    if (a->method == VG_S5_METHOD_NONE)
        return VG_OUT_AUTH_FAILED;
    if (a->method != (auth ? VG_S5_METHOD_USERPASS : VG_S5_METHOD_NOAUTH))
        return VG_OUT_PROTOCOL;
    if (a->auth_status > 0)
        return VG_OUT_AUTH_FAILED;
    if (!a->replied)
        return VG_OUT_PROTOCOL;
    return vg_outcome_of_socks(a->reply.rep);
}
