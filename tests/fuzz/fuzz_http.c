/* Fuzz target: the two request-head parsers of common/vg_http.c, vg_http_parse_connect and
 * vg_http_parse_request, over the same input, and vg_http_build_response for the status of each
 * outcome.
 *
 * Besides memory safety, the result for the whole input is checked against a sample of its
 * prefixes (parsed from exactly-sized heap copies): a strict prefix of a complete head is
 * NEED_MORE, an error stays the same error as bytes are added, and a complete head reparsed
 * alone gives the same result.  The two parsers share the head walk, so they must agree: a head
 * CONNECT accepts is an ordinary request with method "CONNECT", the same length and version, and
 * an ordinary request with another method is refused by CONNECT with 405.
 */
#include "fuzz.h"
#include "vg_http.h"

#include <stdbool.h>
#include <string.h>

#define UNTOUCHED ((size_t)-7)

static enum vg_parse parse_connect(const uint8_t *data, size_t len, struct vg_http_connect *out,
                                   size_t *used, int *status)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    enum vg_outcome err = VG_OUT_COUNT;
    *used = UNTOUCHED;
    enum vg_parse rc = vg_http_parse_connect(copy, len, out, used, &err);
    free(copy);
    *status = err == VG_OUT_COUNT ? -1 : vg_outcome_http(err); /* err written only on ERROR */
    switch (rc) {
    case VG_P_OK:
        FUZZ_CHECK(*used > 0 && *used <= len && *used <= VG_HTTP_HEAD_MAX);
        FUZZ_CHECK(data[*used - 1] == '\n');
        FUZZ_CHECK(*status == -1);
        break;
    case VG_P_NEED_MORE:
        FUZZ_CHECK(*used == UNTOUCHED && *status == -1);
        FUZZ_CHECK(len < VG_HTTP_HEAD_MAX);
        break;
    case VG_P_ERROR:
        FUZZ_CHECK(*used == UNTOUCHED);
        FUZZ_CHECK(*status == 400 || *status == 405 || *status == 431 || *status == 505);
        FUZZ_CHECK(*status != 431 || len >= VG_HTTP_HEAD_MAX);
        break;
    default:
        FUZZ_CHECK(!"unknown result");
    }
    return rc;
}

static void check_result(const struct vg_http_connect *c)
{
    size_t hlen = strlen(c->host);
    FUZZ_CHECK(hlen > 0 && hlen < sizeof c->host);
    for (size_t i = 0; i < hlen; i++)
        FUZZ_CHECK(c->host[i] > 0x20 && c->host[i] < 0x7f && c->host[i] != '[' &&
                   c->host[i] != ']' && c->host[i] != '@' && c->host[i] != '/');
    FUZZ_CHECK(c->port != 0);
    FUZZ_CHECK(c->minor == 0 || c->minor == 1);
    FUZZ_CHECK(c->has_auth == 0 || c->has_auth == 1);
    if (c->has_auth) {
        FUZZ_CHECK(strlen(c->user) < sizeof c->user && strlen(c->pass) < sizeof c->pass);
        FUZZ_CHECK(strchr(c->user, ':') == NULL);
    }
}

static void check_prefix_connect(const uint8_t *data, size_t k, enum vg_parse rc, size_t used,
                                 int status)
{
    struct vg_http_connect tmp;
    size_t pused;
    int pstatus;
    enum vg_parse prc = parse_connect(data, k, &tmp, &pused, &pstatus);
    if (rc == VG_P_OK) {
        FUZZ_CHECK(k < used ? prc == VG_P_NEED_MORE : prc == VG_P_OK);
    } else if (rc == VG_P_NEED_MORE) {
        FUZZ_CHECK(prc == VG_P_NEED_MORE);
    } else {
        FUZZ_CHECK(prc == VG_P_NEED_MORE || (prc == VG_P_ERROR && pstatus == status));
    }
}

static enum vg_parse parse_request(const uint8_t *data, size_t len, struct vg_http_request *out,
                                   size_t *used, int *status)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    *used = UNTOUCHED;
    *status = -1;
    enum vg_parse rc = vg_http_parse_request(copy, len, out, used, status);
    free(copy);
    switch (rc) {
    case VG_P_OK:
        FUZZ_CHECK(*used > 0 && *used <= len && *used <= VG_HTTP_HEAD_MAX);
        FUZZ_CHECK(data[*used - 1] == '\n');
        FUZZ_CHECK(*status == -1);
        break;
    case VG_P_NEED_MORE:
        FUZZ_CHECK(*used == UNTOUCHED && *status == -1);
        FUZZ_CHECK(len < VG_HTTP_HEAD_MAX);
        break;
    case VG_P_ERROR:
        FUZZ_CHECK(*used == UNTOUCHED);
        FUZZ_CHECK(*status == 400 || *status == 431 || *status == 505);
        FUZZ_CHECK(*status != 431 || len >= VG_HTTP_HEAD_MAX);
        break;
    default:
        FUZZ_CHECK(!"unknown result");
    }
    return rc;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_request(const struct vg_http_request *q, const uint8_t *data)
{
    size_t mlen = strlen(q->method), tlen = strlen(q->target);
    FUZZ_CHECK(mlen > 0 && mlen <= VG_HTTP_METHOD_MAX);
    FUZZ_CHECK(tlen > 0 && tlen <= VG_HTTP_TARGET_MAX);
    for (size_t i = 0; i < mlen; i++)
        FUZZ_CHECK(is_tchar(q->method[i]));
    for (size_t i = 0; i < tlen; i++)
        FUZZ_CHECK(q->target[i] > 0x20 && q->target[i] < 0x7f);
    FUZZ_CHECK(q->minor == 0 || q->minor == 1);
    /* the request line as sent */
    FUZZ_CHECK(memcmp(data, q->method, mlen) == 0 && data[mlen] == ' ');
    FUZZ_CHECK(memcmp(data + mlen + 1, q->target, tlen) == 0 && data[mlen + 1 + tlen] == ' ');
    FUZZ_CHECK(memcmp(data + mlen + tlen + 2, "HTTP/1.", 7) == 0 &&
               data[mlen + tlen + 9] == '0' + q->minor);
}

static void check_prefix_request(const uint8_t *data, size_t k, enum vg_parse rc, size_t used,
                                 int status)
{
    struct vg_http_request tmp;
    size_t pused;
    int pstatus;
    enum vg_parse prc = parse_request(data, k, &tmp, &pused, &pstatus);
    if (rc == VG_P_OK) {
        FUZZ_CHECK(k < used ? prc == VG_P_NEED_MORE : prc == VG_P_OK);
    } else if (rc == VG_P_NEED_MORE) {
        FUZZ_CHECK(prc == VG_P_NEED_MORE);
    } else {
        FUZZ_CHECK(prc == VG_P_NEED_MORE || (prc == VG_P_ERROR && pstatus == status));
    }
}

/* Prefixes of data[0..upto): every one of the first 48, then 24 spread over the rest, and the
 * last. */
static void sample_prefixes(const uint8_t *data, size_t upto, enum vg_parse rc, size_t used,
                            int status,
                            void (*check)(const uint8_t *, size_t, enum vg_parse, size_t, int))
{
    size_t dense = upto < 48 ? upto : 48;
    for (size_t k = 0; k < dense; k++)
        check(data, k, rc, used, status);
    if (upto > dense) {
        for (size_t i = 0; i < 24; i++)
            check(data, dense + (upto - dense) * i / 24, rc, used, status);
        check(data, upto - 1, rc, used, status);
    }
}

static void fuzz_request(const uint8_t *data, size_t size, enum vg_parse crc, size_t cused,
                         int cstatus, const struct vg_http_connect *c)
{
    static struct vg_http_request q, again; /* 2 KiB each: off the stack */
    size_t used, used2;
    int status, status2;
    enum vg_parse rc = parse_request(data, size, &q, &used, &status);
    sample_prefixes(data, rc == VG_P_OK ? used : size, rc, used, status, check_prefix_request);

    char resp[1024];
    if (rc == VG_P_OK) {
        check_request(&q, data);
        FUZZ_CHECK(parse_request(data, used, &again, &used2, &status2) == VG_P_OK && used2 == used);
        FUZZ_CHECK(strcmp(again.method, q.method) == 0 && strcmp(again.target, q.target) == 0);
        FUZZ_CHECK(again.minor == q.minor);
        if (strcmp(q.method, "CONNECT") != 0)
            FUZZ_CHECK(crc == VG_P_ERROR && cstatus == 405);
    } else if (rc == VG_P_ERROR) {
        size_t n = vg_http_build_response(resp, sizeof resp, status, NULL);
        FUZZ_CHECK(n > 0 && n == strlen(resp));
        FUZZ_CHECK(strcmp(vg_http_reason(status), "Unknown") != 0);
    }
    /* what CONNECT accepts is an ordinary request head too */
    if (crc == VG_P_OK) {
        FUZZ_CHECK(rc == VG_P_OK && used == cused);
        FUZZ_CHECK(strcmp(q.method, "CONNECT") == 0 && q.minor == c->minor);
    }
    /* the head bound and the version check are shared */
    if (crc == VG_P_ERROR && cstatus == 431)
        FUZZ_CHECK(rc == VG_P_ERROR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_http_connect c, again;
    size_t used, used2;
    int status, status2;
    enum vg_parse rc = parse_connect(data, size, &c, &used, &status);
    sample_prefixes(data, rc == VG_P_OK ? used : size, rc, used, status, check_prefix_connect);

    char resp[1024];
    if (rc == VG_P_OK) {
        check_result(&c);
        FUZZ_CHECK(parse_connect(data, used, &again, &used2, &status2) == VG_P_OK && used2 == used);
        FUZZ_CHECK(strcmp(again.host, c.host) == 0 && again.port == c.port);
        FUZZ_CHECK(again.has_auth == c.has_auth && again.minor == c.minor);
        if (c.has_auth)
            FUZZ_CHECK(strcmp(again.user, c.user) == 0 && strcmp(again.pass, c.pass) == 0);
        FUZZ_CHECK(vg_http_build_response(resp, sizeof resp, 200, NULL) > 0);
    } else if (rc == VG_P_ERROR) {
        size_t n = vg_http_build_response(resp, sizeof resp, status, NULL);
        FUZZ_CHECK(n > 0 && n == strlen(resp));
        FUZZ_CHECK(strcmp(vg_http_reason(status), "Unknown") != 0);
    }
    fuzz_request(data, size, rc, used, status, &c);
    return 0;
}
