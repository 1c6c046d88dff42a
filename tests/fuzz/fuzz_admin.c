/* Fuzz target: the admin protocol of common/vg_admin.c, both directions.
 *
 * The input is read as a request line the admin socket receives (vg_admin_parse_request) and as
 * a reply vmgatectl reads (vg_jnode_parse).  Checked besides memory safety and leaks:
 *   - the parser's conventions over a sample of prefixes (exactly-sized heap copies): a strict
 *     prefix of an accepted line is NEED_MORE with *used untouched, an error stays the same
 *     error (same message) as bytes are added, an accepted line reparsed alone is the same;
 *   - an accepted request, written out with vg_admin_format_request, parses back to the same
 *     request, and writing that out again gives the same line;
 *   - the JSON reader accepts or refuses any bytes without reading past them; a parsed tree is
 *     well formed (NUL-terminated texts, keys exactly on object members, depth <= 16);
 *   - the reply writer's output for the input as an error text is always read back by the
 *     reader, with the same text when the input is ASCII.
 */
#include "fuzz.h"
#include "vg_admin.h"

#include <stdbool.h>
#include <string.h>

#define UNTOUCHED ((size_t)-7)

static enum vg_parse parse(const uint8_t *data, size_t len, struct vg_admin_req *rq, size_t *used,
                           char *err, size_t errlen)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    if (len)
        memcpy(copy, data, len);
    *used = UNTOUCHED;
    err[0] = '\0';
    enum vg_parse rc = vg_admin_parse_request(copy, len, rq, used, err, errlen);
    free(copy);
    switch (rc) {
    case VG_P_OK:
        FUZZ_CHECK(*used > 0 && *used <= len && *used <= VG_ADMIN_LINE_MAX);
        FUZZ_CHECK(data[*used - 1] == '\n' && memchr(data, '\n', *used - 1) == NULL);
        break;
    case VG_P_NEED_MORE:
        FUZZ_CHECK(*used == UNTOUCHED);
        FUZZ_CHECK(len < VG_ADMIN_LINE_MAX && memchr(data, '\n', len) == NULL);
        break;
    case VG_P_ERROR:
        FUZZ_CHECK(*used == UNTOUCHED);
        FUZZ_CHECK(err[0] != '\0');
        break;
    default:
        FUZZ_CHECK(!"unknown result");
    }
    return rc;
}

static bool same_req(const struct vg_admin_req *a, const struct vg_admin_req *b)
{
    if (a->cmd != b->cmd || strcmp(a->user, b->user) != 0 || strcmp(a->vm, b->vm) != 0 ||
        strcmp(a->from, b->from) != 0 || a->port != b->port || a->enforce != b->enforce ||
        a->nids != b->nids)
        return false;
    return a->nids == 0 || memcmp(a->ids, b->ids, a->nids * sizeof a->ids[0]) == 0;
}

static void check_req(const struct vg_admin_req *rq)
{
    FUZZ_CHECK(rq->cmd >= VG_ADM_SESSIONS && rq->cmd <= VG_ADM_POLICY_TEST);
    FUZZ_CHECK(strlen(rq->user) <= VG_ADMIN_WORD_MAX && strlen(rq->vm) <= VG_ADMIN_WORD_MAX &&
               strlen(rq->from) <= VG_ADMIN_WORD_MAX);
    FUZZ_CHECK(rq->nids <= VG_ADMIN_IDS_MAX);
    for (unsigned i = 0; i < rq->nids; i++)
        FUZZ_CHECK(rq->ids[i] != 0);
    if (rq->cmd == VG_ADM_KILL)
        FUZZ_CHECK((rq->nids > 0) + (rq->user[0] != 0) + (rq->vm[0] != 0) == 1);
    if (rq->cmd == VG_ADM_POLICY_TEST)
        FUZZ_CHECK(rq->user[0] && rq->vm[0] && rq->port != 0);
    else
        FUZZ_CHECK(rq->port == 0 && rq->from[0] == '\0');
}

static void check_prefix(const uint8_t *data, size_t k, enum vg_parse rc, size_t used,
                         const char *err)
{
    static struct vg_admin_req tmp;
    char perr[256];
    size_t pused;
    enum vg_parse prc = parse(data, k, &tmp, &pused, perr, sizeof perr);
    if (rc == VG_P_OK)
        FUZZ_CHECK(k < used ? prc == VG_P_NEED_MORE : prc == VG_P_OK);
    else if (rc == VG_P_NEED_MORE)
        FUZZ_CHECK(prc == VG_P_NEED_MORE);
    else
        FUZZ_CHECK(prc == VG_P_NEED_MORE || (prc == VG_P_ERROR && strcmp(perr, err) == 0));
}

static void fuzz_request(const uint8_t *data, size_t size)
{
    static struct vg_admin_req rq, again, third; /* 2 KiB each: off the stack */
    char err[256], err2[256];
    size_t used, used2;
    enum vg_parse rc = parse(data, size, &rq, &used, err, sizeof err);

    size_t upto = rc == VG_P_OK ? used : size;
    size_t dense = upto < 48 ? upto : 48;
    for (size_t k = 0; k < dense; k++)
        check_prefix(data, k, rc, used, err);
    if (upto > dense) {
        for (size_t i = 0; i < 24; i++)
            check_prefix(data, dense + (upto - dense) * i / 24, rc, used, err);
        check_prefix(data, upto - 1, rc, used, err);
    }
    if (rc != VG_P_OK)
        return;

    check_req(&rq);
    FUZZ_CHECK(parse(data, used, &again, &used2, err2, sizeof err2) == VG_P_OK && used2 == used);
    FUZZ_CHECK(same_req(&rq, &again));

    static char line[VG_ADMIN_LINE_MAX + 1], line2[VG_ADMIN_LINE_MAX + 1];
    size_t n = vg_admin_format_request(&rq, line, sizeof line);
    FUZZ_CHECK(n > 0 && n == strlen(line) && n <= used && line[n - 1] == '\n');
    FUZZ_CHECK(parse((const uint8_t *)line, n, &again, &used2, err2, sizeof err2) == VG_P_OK);
    FUZZ_CHECK(used2 == n && same_req(&rq, &again));
    size_t n2 = vg_admin_format_request(&again, line2, sizeof line2);
    FUZZ_CHECK(n2 == n && memcmp(line, line2, n) == 0);
    FUZZ_CHECK(parse((const uint8_t *)line2, n2, &third, &used2, err2, sizeof err2) == VG_P_OK);
    FUZZ_CHECK(vg_admin_format_request(&rq, line, n) == 0); /* exactly no room for the NUL */
}

static void check_tree(const struct vg_jnode *n, bool member, unsigned depth)
{
    FUZZ_CHECK(depth <= 17);
    for (; n; n = n->next) {
        FUZZ_CHECK(member ? n->key != NULL : n->key == NULL);
        switch (n->type) {
        case VG_J_NULL:
        case VG_J_BOOL:
            FUZZ_CHECK(n->text == NULL && n->child == NULL);
            break;
        case VG_J_NUM:
            FUZZ_CHECK(n->text != NULL && n->text[0] != '\0' && n->child == NULL);
            break;
        case VG_J_STR:
            FUZZ_CHECK(n->text != NULL && n->child == NULL);
            (void)strlen(n->text);
            break;
        case VG_J_ARR:
        case VG_J_OBJ:
            FUZZ_CHECK(n->text == NULL);
            check_tree(n->child, n->type == VG_J_OBJ, depth + 1);
            break;
        default:
            FUZZ_CHECK(!"unknown node type");
        }
        if (n->key)
            (void)strlen(n->key);
    }
}

static void fuzz_json(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    if (size)
        memcpy(copy, data, size);
    char err[256];
    struct vg_jnode *root = vg_jnode_parse(copy, size, err, sizeof err);
    free(copy);
    if (root == NULL) {
        FUZZ_CHECK(err[0] != '\0');
    } else {
        FUZZ_CHECK(root->next == NULL);
        check_tree(root, false, 0);
        (void)vg_jnode_get(root, "ok");
        vg_jnode_free(root);
    }

    /* the writer's output is the reader's input: the input (up to a NUL) as an error text */
    size_t tlen = strnlen((const char *)data, size);
    char *text = malloc(tlen + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, tlen);
    text[tlen] = '\0';
    bool ascii = true;
    for (size_t i = 0; i < tlen; i++)
        ascii = ascii && (unsigned char)text[i] < 0x80;
    struct vg_admin_out o;
    vg_admin_out_init(&o, 1 << 20);
    vg_admin_reply_error(&o, text);
    FUZZ_CHECK(!o.over && o.len > 0 && o.p[o.len - 1] == '\n');
    root = vg_jnode_parse(o.p, o.len, err, sizeof err);
    FUZZ_CHECK(root != NULL && root->type == VG_J_OBJ);
    const struct vg_jnode *ok = vg_jnode_get(root, "ok"), *e = vg_jnode_get(root, "error");
    FUZZ_CHECK(ok && ok->type == VG_J_BOOL && !ok->b && e && e->type == VG_J_STR);
    if (ascii)
        FUZZ_CHECK(strcmp(e->text, text) == 0);
    vg_jnode_free(root);
    vg_admin_out_free(&o);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request(data, size);
    fuzz_json(data, size);
    return 0;
}
