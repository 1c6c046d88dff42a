/* vg_kvfile — the "key = value" text files vmgate writes and reads (VM table entries, the
 * registrar's journal): one lexer and one printer for all of them.
 *
 * Syntax, line by line ('\n' ends a line, a '\r' before it is dropped):
 *   - blank lines and lines whose first non-blank character is '#' or ';' are comments;
 *   - "key = value": key is [a-z0-9-]+ (lower case), white space around '=' and the value is
 *     dropped; a '#' or ';' that starts the value or follows white space starts a trailing
 *     comment;
 *   - anything else is an error with its line number ("line 3: expected key = value");
 *   - a key may appear once; NUL bytes are an error.
 *
 * A parsed file keeps every line in order, comments and unknown keys included, so a program can
 * change the keys it manages and write the file back without losing what others put there:
 * vg_kvfile_set() replaces a value in place (its trailing comment kept) or appends the key.
 *
 * Ownership: a struct vg_kvfile owns copies of all its strings; vg_kvfile_get() returns a
 * pointer into it, valid until the next set/free.  vg_kvfile_format() returns a new string.
 */
#ifndef VG_KVFILE_H
#define VG_KVFILE_H

#include <stdbool.h>
#include <stddef.h>

struct vg_kvfile;

struct vg_kvfile *vg_kvfile_new(void);
void vg_kvfile_free(struct vg_kvfile *f);

/* Parse len bytes of text (no NUL terminator needed).  NULL with a message in err on a syntax
 * error or when memory runs out. */
struct vg_kvfile *vg_kvfile_parse(const char *text, size_t len, char *err, size_t errlen);

/* The value of key, or NULL when the file has no such key. */
const char *vg_kvfile_get(const struct vg_kvfile *f, const char *key);
/* The line number (1-based) of key's line, 0 when absent. */
unsigned vg_kvfile_line(const struct vg_kvfile *f, const char *key);

/* Set key to value (in place, or appended); value NULL removes the key's line.  The key must
 * be a valid key and the value one line without a leading or trailing blank; false otherwise or
 * when memory runs out. */
bool vg_kvfile_set(struct vg_kvfile *f, const char *key, const char *value);
/* Append a comment line ("# " is added unless text starts with '#'). */
bool vg_kvfile_comment(struct vg_kvfile *f, const char *text);

/* Iterate keys in file order: for (i = 0; vg_kvfile_key(f, i, &k, &v); i++). */
bool vg_kvfile_key(const struct vg_kvfile *f, size_t i, const char **key, const char **value);

/* The whole text, every line ending in '\n'.  NULL when memory runs out; vg_free() it. */
char *vg_kvfile_format(const struct vg_kvfile *f, size_t *len);

/* A valid key: 1..32 characters of [a-z0-9-]. */
bool vg_kvfile_key_ok(const char *key);

#endif
