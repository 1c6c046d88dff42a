/* reg_store — the VM table as vmgate-reg keeps it: one entry per VM in [gateway] vm-dir, read by
 * the gateway (format and checks are common/vg_vmentry's), written atomically and durably
 * (common/vg_file.h); and the directory scan the VM table and the journal (reg_journal.h) share.
 *
 * Rewriting a VM table entry changes only what vmgate-reg manages (name, channel, qmp, owner)
 * and the keys a request sets explicitly (struct reg_sets: ports, allow-out, …); every other
 * line of the file (the operator's keys, comments) is kept as it was.
 */
#ifndef REG_STORE_H
#define REG_STORE_H

#include "vg_name.h"

#include <stdbool.h>
#include <stddef.h>

/* Keys of the VM table entry a request sets (vmgate-reg add --ports/--allow-out/--set). */
#define REG_MAX_SETS 8
struct reg_sets {
    unsigned n;
    struct {
        char key[33];
        char *value; /* canonical (one word); "" removes the key */
    } v[REG_MAX_SETS];
};

/* Add KEY=VALUE (a settable VM table key, checked and made canonical); a later set of the same
 * key replaces an earlier one.  False with a message. */
bool reg_sets_add(struct reg_sets *s, const char *key, const char *value, char *err,
                  size_t errlen);
/* "KEY=VALUE" as one word (the daemon protocol, batch files). */
bool reg_sets_add_word(struct reg_sets *s, const char *word, char *err, size_t errlen);
void reg_sets_clear(struct reg_sets *s);

struct reg_rec {
    char name[VG_NAME_MAX + 1]; /* normalized FQDN (the file name) */
    /* VM table and journal */
    char *channel;              /* tcp:ADDR | vsock:CID | vsock-mux:PATH | serial:PATH */
    char *qmp;                  /* optional QMP socket path */
    char *owner;                /* VM table: the host that wrote it */
    struct reg_sets sets;       /* add: VM table keys to set */
    /* journal only (reg_journal.h) */
    bool del;                   /* pending withdrawal (else a pending add) */
    bool takeover;
    long long queued;           /* unix time of the request */
};

void reg_rec_clear(struct reg_rec *r); /* frees the strings */
void reg_recs_free(struct reg_rec *r, size_t n);

/* Parse dir/file (dfd: dir, open) into r; false with a message ("" to skip silently). */
typedef bool (*reg_store_parse_fn)(const char *dir, int dfd, const char *file, struct reg_rec *r,
                                   char *err, size_t errlen);
/* Every regular file of dir whose name is not a dot file, parsed by fn, with the file name
 * (normalized) as its name; files fn refuses, or not named like a VM, are logged and skipped.  A
 * missing dir is empty. */
bool reg_store_scan(const char *dir, reg_store_parse_fn fn, struct reg_rec **recs, size_t *n,
                    char *err, size_t errlen);

/* The VM table: load every entry (name, channel, qmp, owner; broken entries are logged and
 * skipped), or write entries for recs (existing entries updated in place, see above). */
bool reg_table_load(const char *dir, struct reg_rec **recs, size_t *n, char *err, size_t errlen);
bool reg_table_write(const char *dir, const struct reg_rec *const *recs, size_t n, char *err,
                     size_t errlen);

/* Remove the named VM table entries of dir (missing ones are fine). */
bool reg_store_remove(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen);

#endif
