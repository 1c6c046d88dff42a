/* reg_journal — changes no DNS server has confirmed yet, kept on disk until one does.
 *
 * One file per VM name in [registrar] state-dir/journal (vg_kvfile syntax), written atomically and
 * durably (common/vg_file.h); a newer change for the same name replaces the file: the last intent
 * wins.  Keys:
 *
 *     name      the VM's FQDN (informative: the file name is the identity)
 *     op        add | del
 *     channel   add: the channel spec            qmp       add: QEMU's QMP socket (optional)
 *     takeover  0 | 1                            queued    unix time the change was journaled
 *     set-KEY   add: a VM table key the add sets; "-" stands for "" (remove the key)
 *
 * reg_apply (reg_cmd.c) writes an entry when no server answered and drops it once the change is
 * settled either way; reg_replay carries the entries out again.
 */
#ifndef REG_JOURNAL_H
#define REG_JOURNAL_H

#include "reg_change.h"

#include <stdbool.h>
#include <stddef.h>

/* One entry's text for c (an ADD or DEL); vg_free.  NULL when memory ran out. */
char *reg_journal_format(const struct reg_change *c);
/* An entry's text into c (zeroed): kind, name, channel, qmp, takeover, sets, queued, and
 * from_journal set.  False with a message. */
bool reg_journal_parse(const char *text, size_t len, struct reg_change *c, char *err,
                       size_t errlen);

/* Write an entry for each of c[0..n) into dir (created when missing). */
bool reg_journal_write(const char *dir, struct reg_change *const *c, size_t n, char *err,
                       size_t errlen);
/* Every entry of dir (dot files skipped; a missing dir is empty; broken files are logged and
 * skipped) appended to out; zone is left NULL (the caller knows the configuration). */
bool reg_journal_load(const char *dir, struct reg_changes *out, char *err, size_t errlen);
/* Drop the entries of names[0..n) (missing ones are fine). */
bool reg_journal_drop(const char *dir, const char *const *names, size_t n, char *err,
                      size_t errlen);

#endif
