/* reg_store — the VM table as vmgate-reg keeps it: one entry per VM in [gateway] vm-dir, read by
 * the gateway (format and checks are common/vg_vmentry's), written atomically and durably
 * (common/vg_file.h); and the directory scan the VM table and the journal (reg_journal.h) share.
 *
 * Rewriting a VM table entry changes only what vmgate-reg manages (name, channel, qmp, owner)
 * and the keys the add sets explicitly (struct reg_sets: ports, allow-out, …); every other
 * line of the file (the operator's keys, comments) is kept as it was.  A broken entry is replaced,
 * its lines kept as comments.
 */
#ifndef REG_STORE_H
#define REG_STORE_H

#include "reg_change.h"

#include <stdbool.h>
#include <stddef.h>

/* Parse dir/file (dfd: dir, open) into c; false with a message ("" to skip silently). */
typedef bool (*reg_store_parse_fn)(const char *dir, int dfd, const char *file, struct reg_change *c,
                                   char *err, size_t errlen);
/* Every regular file of dir whose name is not a dot file, parsed by fn and appended to out with
 * the file name (normalized) as its name; files fn refuses, or not named like a VM, are logged
 * and skipped.  A missing dir is empty.  False (err) when dir cannot be read or memory ran out. */
bool reg_store_scan(const char *dir, reg_store_parse_fn fn, struct reg_changes *out, char *err,
                    size_t errlen);

/* Every entry of the VM table in dir, appended to out as the add it records (kind ADD, name,
 * channel, qmp; zone NULL); broken entries are logged and skipped. */
bool reg_table_load(const char *dir, struct reg_changes *out, char *err, size_t errlen);
/* Does dir have an entry for name? */
bool reg_table_has(const char *dir, const char *name);
/* Write the entries of the adds c[0..n) published by host `owner` (existing entries updated in
 * place, see above). */
bool reg_table_write(const char *dir, struct reg_change *const *c, size_t n, const char *owner,
                     char *err, size_t errlen);
/* Remove the entries of names[0..n) (missing ones are fine). */
bool reg_table_remove(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen);

#endif
