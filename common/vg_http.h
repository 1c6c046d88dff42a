/* vg_http — HTTP/1.x request heads, pure code: the CONNECT (RFC 9110 §9.3.6) parser of the
 * gateway's HTTP front, the parser of ordinary requests (the metrics endpoint's GET), both with
 * the vg_parse.h conventions, and the response builder.  No sockets, no allocation.
 */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include "vg_outcome.h"
#include "vg_parse.h"

#include <stddef.h>
#include <stdint.h>

/* HTTP CONNECT request head: "CONNECT authority HTTP/1.x\r\n" header lines "\r\n".
 * Lines may end in "\n" alone.  The head must be complete within VG_HTTP_HEAD_MAX bytes.
 * authority is "host:port" or "[v6]:port"; host is copied (brackets removed for v6) into `host`;
 * port must be 1..65535 (strict digits).  Proxy-Authorization (case-insensitive name) with the
 * "Basic" scheme is base64-decoded into user/pass (split at the first ':').
 * Errors (*err, which may be NULL, is written only on ERROR; its HTTP status in brackets):
 *   VG_OUT_BAD_REQUEST      (400) malformed line, bad authority or port, bad base64, bad version
 *   VG_OUT_UNSUPPORTED_CMD  (405) a method other than CONNECT
 *   VG_OUT_HEAD_TOO_LARGE   (431) head longer than VG_HTTP_HEAD_MAX
 *   VG_OUT_BAD_VERSION      (505) HTTP version other than 1.0 / 1.1 */
#define VG_HTTP_HEAD_MAX 8192
struct vg_http_connect {
    char host[256];
    uint16_t port;
    int has_auth; /* Proxy-Authorization: Basic present and decoded */
    char user[256];
    char pass[256];
    int minor; /* HTTP/1.minor */
};
enum vg_parse vg_http_parse_connect(const uint8_t *buf, size_t len, struct vg_http_connect *out,
                                    size_t *used, enum vg_outcome *err);

/* An ordinary request head: "METHOD SP target SP HTTP/1.x" CRLF, header lines, CRLF (RFC 9112
 * §2-§5), with the same line ends, VG_HTTP_HEAD_MAX bound and header-line syntax as
 * vg_http_parse_connect (header values are checked, not kept).  method is any token (tchar) of at
 * most VG_HTTP_METHOD_MAX octets: whether it is supported is for the caller to say (405, 501);
 * target is the request-target as sent, visible ASCII (0x21..0x7e), 1..VG_HTTP_TARGET_MAX
 * octets, its form (origin, absolute, authority, "*") also for the caller.  *status, which may
 * be NULL, is written only on ERROR:
 *   400  malformed request line or header line, method or target too long
 *   431  head longer than VG_HTTP_HEAD_MAX
 *   505  HTTP version other than 1.0 / 1.1 */
#define VG_HTTP_METHOD_MAX 32
#define VG_HTTP_TARGET_MAX 2048
struct vg_http_request {
    char method[VG_HTTP_METHOD_MAX + 1];
    char target[VG_HTTP_TARGET_MAX + 1];
    int minor; /* HTTP/1.minor */
};
enum vg_parse vg_http_parse_request(const uint8_t *buf, size_t len, struct vg_http_request *out,
                                    size_t *used, int *status);

/* "HTTP/1.1 <status> <reason>\r\n" + extra header lines (may be NULL, each ending "\r\n") +
 * "\r\n" into out.  Returns the length, or 0 if it does not fit. */
size_t vg_http_build_response(char *out, size_t outlen, int status, const char *extra_headers);
/* The reason phrase of RFC 9110 §15 for the statuses vmgate sends ("OK" for 200; the CONNECT
 * front sends its own "Connection established"), "Unknown" for others. */
const char *vg_http_reason(int status);

#endif
