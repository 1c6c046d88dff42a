/* users — the gateway's users file for RFC 1929 / HTTP Basic authentication.
 *
 * Lines "user:HASH" or "user:HASH:GROUPS" where HASH is any crypt(3) hash libcrypt understands
 * (yescrypt "$y$", SHA-512 "$6$", bcrypt "$2b$" …) and GROUPS a comma list of group names
 * ("ops,dev": letters, digits, '.', '_', '-') for the access policy; '#' comment lines and blank
 * lines are skipped.
 *
 * Checking a password costs the same whether or not the user exists: an unknown user's password
 * is hashed against a hash of the file itself — the first one of the method and cost most users
 * have (with no users, a fixed "$6$" hash) — and the answer is "no" whatever it computes.  The
 * comparison of hashes is constant-time.
 *
 * A check is two steps so that the slow one can run on another thread (auth.c):
 * vg_users_target (the loop: which hash to compare against) and vg_users_verify (any thread:
 * crypt(3), touches nothing but its arguments).  vg_users_check does both, blocking.
 */
#ifndef VG_USERS_H
#define VG_USERS_H

#include <stdbool.h>
#include <stddef.h>

struct vg_users;
struct crypt_data;

#define VG_USERS_HASH_MAX 513 /* the loader refuses longer hashes */
#define VG_USERS_METHOD_MAX 64

/* What one check compares against; a copy, valid after the users are reloaded or freed. */
struct vg_users_target {
    char hash[VG_USERS_HASH_MAX];     /* the user's hash, or the dummy */
    char method[VG_USERS_METHOD_MAX]; /* its method and cost ("$y$j9T", "$6$rounds=9000") */
    bool known;
};

/* NULL + "path:line: message" in err on error. */
struct vg_users *vg_users_load(const char *path, char *err, size_t errlen);
void vg_users_free(struct vg_users *u);
size_t vg_users_count(const struct vg_users *u);
/* The user's groups (comma list), NULL when none or no such user (u may be NULL). */
const char *vg_users_groups(const struct vg_users *u, const char *user);
/* The method and cost an unknown user's password is hashed with (u may be NULL). */
const char *vg_users_dummy_method(const struct vg_users *u);

void vg_users_target(const struct vg_users *u, const char *user, struct vg_users_target *t);
/* crypt(3) of pass against t->hash, with the caller's scratch cd (any thread; cd is cleared
 * here).  True only for a known user whose hash matches. */
bool vg_users_verify(const struct vg_users_target *t, const char *pass, struct crypt_data *cd);
/* Both steps, blocking (tests, tools). */
bool vg_users_check(const struct vg_users *u, const char *user, const char *pass);

/* The method-and-cost part of a crypt(3) hash: everything before the salt ("$y$j9T",
 * "$6", "$6$rounds=9000", "$2b$12").  Pure. */
void vg_users_method_of(const char *hash, char *out, size_t cap);

#endif
