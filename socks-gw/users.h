/* users — the gateway's users file for RFC 1929 / HTTP Basic authentication.
 *
 * Lines "user:HASH" where HASH is any crypt(3) hash libcrypt understands (yescrypt "$y$",
 * SHA-512 "$6$", bcrypt "$2b$" …); '#' comment lines and blank lines are skipped.  Checking a
 * password costs the same whether or not the user exists, and the comparison of hashes is
 * constant-time.
 */
#ifndef VG_USERS_H
#define VG_USERS_H

#include <stdbool.h>
#include <stddef.h>

struct vg_users;

/* NULL + "path:line: message" in err on error. */
struct vg_users *vg_users_load(const char *path, char *err, size_t errlen);
void vg_users_free(struct vg_users *u);
size_t vg_users_count(const struct vg_users *u);
bool vg_users_check(const struct vg_users *u, const char *user, const char *pass);

#endif
