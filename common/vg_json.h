/* vg_json — the one JSON writer of vmgate (RFC 8259): values appended into a caller's buffer.
 *
 * Pure code, no allocation, no I/O, no state outside the struct: safe from any thread on its
 * own struct.  The audit log (vg_audit) and vmgatectl's output write JSON only through here.
 *
 * Strings are escaped so that the output is always valid JSON and safe to show on a terminal,
 * whatever bytes come in (a hostile user name, a VM's text):
 *   - '"' and '\\' → \" and \\;  \b \f \n \r \t → their short escapes;
 *   - the other C0 controls, DEL (0x7f) and the C1 controls U+0080..U+009F → \u00XX;
 *   - U+2028 and U+2029 → \u2028 \u2029 (line breaks to JavaScript and some viewers);
 *   - valid UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF) is copied;
 *   - every byte that does not start a valid sequence → \ufffd (U+FFFD), one per byte, and
 *     decoding resumes at the next byte;
 *   - a NUL byte inside a counted string → \u0000.
 * So the output is ASCII except for valid UTF-8 copied through.
 *
 * Overflow: the writer never writes past cap.  When a value does not fit, nothing of it is
 * written, the writer is marked failed (vg_json_ok() false) and every later call does nothing.
 * buf is NUL-terminated whenever cap > 0.
 *
 * Structure: objects and arrays nest up to VG_JSON_DEPTH levels; commas are placed by the writer.
 * Inside an object call vg_json_key() before each value.  Misuse (a value without a key in an
 * object, closing the wrong kind, too deep) also marks the writer failed.
 */
#ifndef VG_JSON_H
#define VG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_JSON_DEPTH 16

struct vg_json {
    char *buf;
    size_t cap, len; /* bytes written so far, buf[len] == '\0' */
    bool failed;
    unsigned depth;
    uint32_t in_object; /* bit d: level d+1 is an object (else an array) */
    uint32_t has_item;  /* bit d: level d (0 = top) already holds an item: next one needs ',' */
    bool key_pending;   /* a key was written, its value comes next */
};

void vg_json_init(struct vg_json *j, char *buf, size_t cap);
/* True when everything fit and the calls were well-formed so far. */
bool vg_json_ok(const struct vg_json *j);
/* True when ok and every object and array is closed. */
bool vg_json_done(const struct vg_json *j);

void vg_json_object_begin(struct vg_json *j);
void vg_json_object_end(struct vg_json *j);
void vg_json_array_begin(struct vg_json *j);
void vg_json_array_end(struct vg_json *j);
/* A member name inside an object (escaped like any string). */
void vg_json_key(struct vg_json *j, const char *key);

/* Values.  vg_json_str(NULL) writes null. */
void vg_json_str(struct vg_json *j, const char *s);
void vg_json_strn(struct vg_json *j, const char *s, size_t n);
/* At most `max` bytes between the quotes: a longer value is cut before the first character or
 * escape that does not fit in max - 6 and ends with \u2026 (…).  max < 8 writes "" for a
 * non-empty value that does not fit. */
void vg_json_strn_max(struct vg_json *j, const char *s, size_t n, size_t max);
void vg_json_uint(struct vg_json *j, uint64_t v);
void vg_json_int(struct vg_json *j, int64_t v);
/* A fixed-point number with `decimals` digits after the point (0..9); NaN and infinities,
 * which JSON cannot hold, write null. */
void vg_json_fixed(struct vg_json *j, double v, unsigned decimals);
void vg_json_bool(struct vg_json *j, bool v);
void vg_json_null(struct vg_json *j);
/* Text that is already JSON (a value or a fragment); appended as it is. */
void vg_json_raw(struct vg_json *j, const char *s, size_t n);

/* The escaper on its own: escapes s[0..n) (no quotes) into out, whole characters / escapes only,
 * while they fit in cap bytes (no NUL is written).  Returns the bytes written; *used (may be
 * NULL) gets the input bytes consumed (n when everything fit). */
size_t vg_json_escape(char *out, size_t cap, const char *s, size_t n, size_t *used);

#endif
