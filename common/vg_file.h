/* vg_file — small state files written atomically and durably (VM table entries, the registrar's
 * journal).
 *
 * A write goes to a temporary file whose name starts with '.' in the same directory, is flushed,
 * renamed over the target, and the directory is flushed: a reader sees the old file or the new
 * one, never a part, and a crash loses nothing that was reported written.  A batch of files is
 * flushed with one syncfs() instead of one fsync() per file (a boot storm writes hundreds).
 * Readers skip dot files.
 */
#ifndef VG_FILE_H
#define VG_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* mkdir -p; new directories get mode 0750. */
bool vg_file_mkdirs(const char *path, char *err, size_t errlen);

/* Write texts[i] to dir/names[i] for i < n, atomically each (see above); dir is created. */
bool vg_file_write(const char *dir, const char *const *names, const char *const *texts, size_t n,
                   char *err, size_t errlen);
/* Remove dir/names[i] (missing ones are fine), then flush the directory. */
bool vg_file_remove(const char *dir, const char *const *names, size_t n, char *err, size_t errlen);

/* Read a regular file (never through a symlink, never blocking on a FIFO) of at most max bytes
 * into a new NUL-terminated buffer (vg_free).  dirfd as for openat(2).  NULL on failure with
 * errno set: ENOENT missing, EFBIG larger than max, EINVAL not a regular file. */
char *vg_file_read(int dirfd, const char *path, size_t max, size_t *len);

#endif
