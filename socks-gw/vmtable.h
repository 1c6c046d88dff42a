/* vmtable — the host's VM table as the gateway reads it: a cache in front of the entry files.
 *
 * The entry format (keys, values, what each means) is vg_vmentry's (common/vg_vmentry.h).
 * Lookups stat the file every time and re-read it only when it changed (inode, size, mtime),
 * so entries written atomically by other programs are seen at once, without a restart.
 */
#ifndef VG_VMTABLE_H
#define VG_VMTABLE_H

#include "vg_vmentry.h"

#include <stdbool.h>
#include <stddef.h>

enum vg_vm_status { VG_VM_OK, VG_VM_UNKNOWN, VG_VM_BROKEN };

struct vg_vmtable;

struct vg_vmtable *vg_vmtable_new(const char *dir);
void vg_vmtable_free(struct vg_vmtable *t);

/* Look up a normalized name (already checked by vg_name_normalize: no '/', no leading '.').
 * On VG_VM_OK *vm points into the table and stays valid until the next lookup of that name or
 * vg_vmtable_free.  On VG_VM_BROKEN err says what is wrong with the file. */
enum vg_vm_status vg_vmtable_lookup(struct vg_vmtable *t, const char *name, const struct vg_vm **vm,
                                    char *err, size_t errlen);

/* Every file of the directory whose name is a normalized VM name (temporaries and dot files are
 * skipped), looked up as above: fn gets the status, the entry (VG_VM_OK) or the error text. */
typedef void (*vg_vmtable_fn)(const char *name, enum vg_vm_status st, const struct vg_vm *vm,
                              const char *err, void *arg);
void vg_vmtable_foreach(struct vg_vmtable *t, vg_vmtable_fn fn, void *arg);

#endif
