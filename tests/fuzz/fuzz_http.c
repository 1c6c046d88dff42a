/* Fuzz target: vg_http_parse_connect (common/vg_http.c), and vg_http_build_response for the
 * status of its outcome.
 *
 * Besides memory safety, the result for the whole input is checked against a sample of its
 * prefixes (parsed from exactly-sized heap copies): a strict prefix of a complete head is
 * NEED_MORE, an error stays the same error as bytes are added, and a complete head reparsed
 * alone gives the same result.
 */
#include "fuzz.h"
#include "vg_http.h"

#include <stdbool.h>
#include <string.h>

#define UNTOUCHED ((size_t)-7)

static enum vg_parse parse(const uint8_t *data, size_t len, struct vg_http_connect *out,
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

static void check_prefix(const uint8_t *data, size_t k, enum vg_parse rc, size_t used, int status)
{
    struct vg_http_connect tmp;
    size_t pused;
    int pstatus;
    enum vg_parse prc = parse(data, k, &tmp, &pused, &pstatus);
    if (rc == VG_P_OK) {
        FUZZ_CHECK(k < used ? prc == VG_P_NEED_MORE : prc == VG_P_OK);
    } else if (rc == VG_P_NEED_MORE) {
        FUZZ_CHECK(prc == VG_P_NEED_MORE);
    } else {
        FUZZ_CHECK(prc == VG_P_NEED_MORE || (prc == VG_P_ERROR && pstatus == status));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vg_http_connect c, again;
    size_t used, used2;
    int status, status2;
    enum vg_parse rc = parse(data, size, &c, &used, &status);

    size_t upto = rc == VG_P_OK ? used : size;
    size_t dense = upto < 48 ? upto : 48;
    for (size_t k = 0; k < dense; k++)
        check_prefix(data, k, rc, used, status);
    if (upto > dense) {
        for (size_t i = 0; i < 24; i++)
            check_prefix(data, dense + (upto - dense) * i / 24, rc, used, status);
        check_prefix(data, upto - 1, rc, used, status);
    }

    char resp[1024];
    if (rc == VG_P_OK) {
        check_result(&c);
        FUZZ_CHECK(parse(data, used, &again, &used2, &status2) == VG_P_OK && used2 == used);
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
    return 0;
}
