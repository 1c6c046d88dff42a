#include "users.h"

#include "vg_alloc.h"

#include <crypt.h>
#include <stdio.h>
#include <string.h>

struct user {
    char *name;
    char *hash;
    char *groups; /* comma list, or NULL */
};

struct vg_users {
    struct user *v;
    size_t n;
    size_t dummy; /* index of the hash an unknown user is checked against */
    char dummy_method[VG_USERS_METHOD_MAX];
};

/* Checked against when the users file is empty (no user can log in then anyway). */
static const char dummy_hash[] = "$6$vmgatedummysalt$0yqgDtWfl0oYV3sqWd0bp9M2YzB3RUbD0b1ftWx7Fj1kB/"
                                 "aCe3ZCmOd2eS1F6GpLSVVW5vxJR0YUZSy5U9Y4i/";

void vg_users_free(struct vg_users *u)
{
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n; i++) {
        vg_free(u->v[i].name);
        vg_free(u->v[i].hash);
        vg_free(u->v[i].groups);
    }
    vg_free(u->v);
    vg_free(u);
}

size_t vg_users_count(const struct vg_users *u)
{
    return u ? u->n : 0;
}

const char *vg_users_dummy_method(const struct vg_users *u)
{
    return u && u->n ? u->dummy_method : "$6";
}

void vg_users_method_of(const char *hash, char *out, size_t cap)
{
    /* "$id$[params$]salt$hash": drop the last two fields.  bcrypt ("$2b$12$<salt+hash>") has
     * salt and hash in one field: drop one.  Anything without a '$' after the id: the id. */
    size_t len = strlen(hash), drop = hash[0] == '$' && hash[1] == '2' ? 1 : 2;
    const char *end = hash + len;
    for (size_t i = 0; i < drop; i++) {
        const char *p = end;
        while (p > hash && *--p != '$')
            ;
        if (p <= hash)
            break;
        end = p;
    }
    if (end == hash + len || end == hash) {
        const char *id_end = strchr(hash + (hash[0] == '$'), '$');
        end = id_end ? id_end : hash + len;
    }
    snprintf(out, cap, "%.*s", (int)(end - hash), hash);
}

/* The dummy: the first hash of the method and cost most users have, so an unknown user's check
 * runs the same code with the same parameters as a real user's. */
static void pick_dummy(struct vg_users *u)
{
    size_t best = 0, best_n = 0;
    char mi[VG_USERS_METHOD_MAX], mj[VG_USERS_METHOD_MAX];
    for (size_t i = 0; i < u->n; i++) {
        size_t n = 0;
        vg_users_method_of(u->v[i].hash, mi, sizeof mi);
        for (size_t j = 0; j < u->n; j++) {
            vg_users_method_of(u->v[j].hash, mj, sizeof mj);
            n += strcmp(mi, mj) == 0;
        }
        if (n > best_n) {
            best = i;
            best_n = n;
        }
    }
    u->dummy = best;
    if (u->n)
        vg_users_method_of(u->v[best].hash, u->dummy_method, sizeof u->dummy_method);
}

/* "ops,dev": names of letters, digits, '.', '_', '-', separated by single commas ("" is none). */
static bool groups_ok(const char *g)
{
    bool empty_item = true;
    for (const char *p = g; *p; p++) {
        if (*p == ',') {
            if (empty_item)
                return false;
            empty_item = true;
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-') {
            empty_item = false;
        } else {
            return false;
        }
    }
    return *g == '\0' || !empty_item;
}

struct vg_users *vg_users_load(const char *path, char *err, size_t errlen)
{
    struct vg_users *u = vg_calloc(1, sizeof *u);
    FILE *f = NULL;
    char line[1024];
    unsigned lineno = 0;
    if (u == NULL)
        goto oom;
    if ((f = fopen(path, "re")) == NULL) {
        snprintf(err, errlen, "%s: cannot open: %m", path);
        goto fail;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%u: line too long", path, lineno);
            goto fail;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line || colon[1] == '\0' ||
            len - (size_t)(colon - line) > 512 || (size_t)(colon - line) > 255) {
            snprintf(err, errlen, "%s:%u: expected user:crypt-hash", path, lineno);
            goto fail;
        }
        *colon = '\0';
        char *hash = colon + 1, *groups = strchr(hash, ':'); /* crypt(3) hashes have no ':' */
        if (groups) {
            *groups++ = '\0';
            if (!groups_ok(groups)) {
                snprintf(err, errlen,
                         "%s:%u: '%s': groups must be a comma list of names (letters, digits, "
                         "'.', '_', '-')",
                         path, lineno, line);
                goto fail;
            }
            if (*groups == '\0')
                groups = NULL;
        }
        if (hash[0] != '$') {
            snprintf(err, errlen, "%s:%u: '%s': hash is not in crypt(3) $id$ form", path, lineno,
                     line);
            goto fail;
        }
        for (size_t i = 0; i < u->n; i++) {
            if (strcmp(u->v[i].name, line) == 0) {
                snprintf(err, errlen, "%s:%u: user '%s' listed twice", path, lineno, line);
                goto fail;
            }
        }
        struct user *grown = vg_realloc(u->v, (u->n + 1) * sizeof *grown);
        if (grown == NULL)
            goto oom;
        u->v = grown;
        u->v[u->n].name = vg_strdup(line);
        u->v[u->n].hash = vg_strdup(hash);
        u->v[u->n].groups = groups ? vg_strdup(groups) : NULL;
        u->n++;
        if (u->v[u->n - 1].name == NULL || u->v[u->n - 1].hash == NULL ||
            (groups && u->v[u->n - 1].groups == NULL))
            goto oom;
    }
    fclose(f);
    pick_dummy(u);
    return u;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    if (f)
        fclose(f);
    vg_users_free(u);
    return NULL;
}

const char *vg_users_groups(const struct vg_users *u, const char *user)
{
    for (size_t i = 0; u && user && i < u->n; i++)
        if (strcmp(u->v[i].name, user) == 0)
            return u->v[i].groups;
    return NULL;
}

static bool equal_ct(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

void vg_users_target(const struct vg_users *u, const char *user, struct vg_users_target *t)
{
    const char *want = u && u->n ? u->v[u->dummy].hash : dummy_hash;
    t->known = false;
    for (size_t i = 0; u && i < u->n; i++) {
        if (strcmp(u->v[i].name, user) == 0) {
            want = u->v[i].hash;
            t->known = true;
            break;
        }
    }
    snprintf(t->hash, sizeof t->hash, "%s", want);
    vg_users_method_of(want, t->method, sizeof t->method);
}

bool vg_users_verify(const struct vg_users_target *t, const char *pass, struct crypt_data *cd)
{
    memset(cd, 0, sizeof *cd);
    const char *got = crypt_rn(pass, t->hash, cd, sizeof *cd);
    bool ok = got != NULL && got[0] == '$' && equal_ct(got, t->hash);
    explicit_bzero(cd, sizeof *cd);
    return ok && t->known;
}

bool vg_users_check(const struct vg_users *u, const char *user, const char *pass)
{
    static struct crypt_data cd; /* large (~32 KiB): not on the stack */
    struct vg_users_target t;
    vg_users_target(u, user, &t);
    return vg_users_verify(&t, pass, &cd);
}
