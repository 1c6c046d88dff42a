/* reg_store — the registrar's files: the VM table (one file per VM in [gateway] vm-dir, read by
 * the gateway) and the journal (one file per pending change in [registrar] state-dir/journal).
 *
 * Both are "key = value" lines with '#' comments, named after the VM's normalized FQDN.  Writes
 * are atomic and durable: a temporary file whose name starts with '.' in the same directory,
 * flushed, renamed over the target, then the directory flushed.  A batch of files is flushed with
 * one syncfs() instead of one fsync() per file (a boot storm writes hundreds).
 */
#ifndef REG_STORE_H
#define REG_STORE_H

#include "vg_name.h"

#include <stdbool.h>
#include <stddef.h>

struct reg_rec {
    char name[VG_NAME_MAX + 1]; /* normalized FQDN (the file name) */
    /* VM table and journal */
    char *channel;              /* tcp:ADDR | vsock:CID | vsock-mux:PATH | serial:PATH */
    char *qmp;                  /* optional QMP socket path */
    char *owner;                /* VM table: the host that wrote it */
    /* journal only */
    bool del;                   /* pending withdrawal (else a pending add) */
    bool takeover;
    long long queued;           /* unix time of the request */
};

void reg_rec_clear(struct reg_rec *r); /* frees the strings */
void reg_recs_free(struct reg_rec *r, size_t n);

/* Render / parse one file's text.  journal selects the journal keys (op, takeover, queued). */
char *reg_rec_format(const struct reg_rec *r, bool journal);
bool reg_rec_parse(const char *text, struct reg_rec *r, bool journal, char *err, size_t errlen);

/* Write the files of recs[0..n) into dir atomically (see above). */
bool reg_store_write(const char *dir, const struct reg_rec *const *recs, size_t n, bool journal,
                     char *err, size_t errlen);
/* Remove the named files (missing ones are fine), then flush the directory. */
bool reg_store_remove(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen);
/* Load every file of dir (dot files skipped; a missing dir is empty).  Files that do not parse
 * are reported through the log and skipped. */
bool reg_store_load(const char *dir, bool journal, struct reg_rec **recs, size_t *n, char *err,
                    size_t errlen);
/* mkdir -p with mode 0750 for the last component. */
bool reg_mkdirs(const char *path, char *err, size_t errlen);

/* A channel spec as the gateway reads it: tcp:ADDR (IPv4/IPv6 literal), vsock:CID (3..2^32-2),
 * vsock-mux:PATH or serial:PATH (absolute, fits sun_path, no white space or control chars). */
bool reg_channel_check(const char *spec, char *err, size_t errlen);
/* A path usable as a value in these files: absolute, printable, no white space, < 108 octets. */
bool reg_path_ok(const char *path);

#endif
