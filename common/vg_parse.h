/* vg_parse — the result convention of vmgate's incremental protocol parsers.
 *
 * A parser is a pure function over (const uint8_t *buf, size_t len) — the bytes received so far —
 * that reports one of:
 *   VG_P_NEED_MORE  the bytes so far are a valid prefix; nothing consumed (*used untouched)
 *   VG_P_OK         one whole message parsed; *used = its length (bytes after it belong to the
 *                   next message: pipelined input works)
 *   VG_P_ERROR      the input can never become valid (the parser says why, where it can)
 * and is consistent over prefixes: ERROR stays ERROR (with the same reason) as bytes are added,
 * NEED_MORE becomes OK or ERROR.  Parsers allocate nothing, keep no state between calls, never read
 * past `len`, and write their output only on OK.  Used by vg_socks.h and vg_http.h.
 */
#ifndef VG_PARSE_H
#define VG_PARSE_H

enum vg_parse { VG_P_NEED_MORE = 0, VG_P_OK = 1, VG_P_ERROR = -1 };

#endif
