#include "vg_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

int vg_log_max = VG_LOG_NOTICE;
static bool use_syslog;
static const char *log_ident = "vmgate";

void vg_log_open(const char *ident, int level, bool to_syslog)
{
    log_ident = ident;
    vg_log_max = level;
    use_syslog = to_syslog;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int vg_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {{"err", VG_LOG_ERR},      {"error", VG_LOG_ERR},     {"warn", VG_LOG_WARN},
                 {"warning", VG_LOG_WARN}, {"notice", VG_LOG_NOTICE}, {"info", VG_LOG_INFO},
                 {"debug", VG_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].level;
    return -1;
}

size_t vg_log_escape(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            if (o + 4 >= cap)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    return o;
}

void vg_log_write(int level, const char *fmt, ...)
{
    static const char *tag[] = {"", "", "", "error", "warning", "notice", "info", "debug"};
    char raw[1024], line[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    vg_log_escape(line, sizeof line, raw);
    if (use_syslog) {
        syslog(level, "%s", line);
        return;
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%02d:%02d:%02d.%03ld %s[%s] %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, log_ident, tag[level & 7], line);
}
