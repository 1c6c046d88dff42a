/* vg_log — leveled logging for vmgate programs.
 *
 * The level is checked before the arguments are evaluated, so a disabled debug line costs one
 * comparison.  Messages go to stderr (foreground) or syslog (daemon).  VG_CLOG prefixes the
 * connection's identity ("c42 198.18.0.1:5012") to every line about that connection.
 */
#ifndef VG_LOG_H
#define VG_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum vg_log_level {
    VG_LOG_ERR = 3,
    VG_LOG_WARN = 4,
    VG_LOG_NOTICE = 5,
    VG_LOG_INFO = 6,
    VG_LOG_DEBUG = 7
};

extern int vg_log_max; /* lines above this level are dropped */

void vg_log_open(const char *ident, int level, bool to_syslog);
/* "err", "warn", "notice", "info", "debug" → level; -1 if unknown */
int vg_log_level_parse(const char *s);
/* Every line is written through vg_log_escape: a byte below 0x20 or 0x7f (a newline in a user
 * name, an escape sequence) appears as \xNN, so no logged field can start a line of its own. */
void vg_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy in to out (cap > 0), control bytes as \xNN; always terminated; truncated before an
 * escape that does not fit whole.  Returns strlen(out). */
size_t vg_log_escape(char *out, size_t cap, const char *in);

#define VG_LOG(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= vg_log_max)                                                                   \
            vg_log_write((lvl), __VA_ARGS__);                                                      \
    } while (0)

#define vg_err(...) VG_LOG(VG_LOG_ERR, __VA_ARGS__)
#define vg_warn(...) VG_LOG(VG_LOG_WARN, __VA_ARGS__)
#define vg_notice(...) VG_LOG(VG_LOG_NOTICE, __VA_ARGS__)
#define vg_info(...) VG_LOG(VG_LOG_INFO, __VA_ARGS__)
#define vg_debug(...) VG_LOG(VG_LOG_DEBUG, __VA_ARGS__)

/* Per-connection line: `id` is a string naming the connection (see vg_addr_format). */
#define VG_CLOG(lvl, id, fmt, ...)                                                                 \
    do {                                                                                           \
        if ((lvl) <= vg_log_max)                                                                   \
            vg_log_write((lvl), "%s: " fmt, (id), ##__VA_ARGS__);                                  \
    } while (0)

#endif
