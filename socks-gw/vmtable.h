/* vmtable — the host's VM table as the gateway reads it.
 *
 * One file per VM in the table directory, named after the VM's normalized fully qualified name
 * ("web1.vm.test"), with "key = value" lines ('#' starts a comment):
 *   channel = SPEC              required; see channel.h
 *   ports   = 22, 80, 8000-8100 optional allowlist of guest ports
 *   allow-out = web2.vm.test:80, *.vm.test:22, db.vm.test:5432-5433
 *               what streams started inside this VM (through its agent) may reach; without
 *               it, nothing: VM-to-VM traffic is never implicit
 * Other keys (written by the registrar for its own use) are ignored.
 *
 * Lookups stat the file every time and re-read it only when it changed (inode, size, mtime),
 * so entries written atomically by other programs are seen at once, without a restart.
 */
#ifndef VG_VMTABLE_H
#define VG_VMTABLE_H

#include "channel.h"

#include <stdbool.h>
#include <stdint.h>

#define VG_VM_MAX_PORT_RANGES 32
#define VG_VM_MAX_OUT_RULES 16

struct vg_out_rule {
    char pattern[256]; /* "web2.vm.test" or "*.vm.test" (any name strictly below vm.test) */
    uint16_t lo, hi;
};

struct vg_vm {
    struct vg_chan chan;
    unsigned nranges; /* 0 = every port allowed */
    struct {
        uint16_t lo, hi;
    } ranges[VG_VM_MAX_PORT_RANGES];
    unsigned nout;
    struct vg_out_rule out[VG_VM_MAX_OUT_RULES];
};

enum vg_vm_status { VG_VM_OK, VG_VM_UNKNOWN, VG_VM_BROKEN };

struct vg_vmtable;

struct vg_vmtable *vg_vmtable_new(const char *dir);
void vg_vmtable_free(struct vg_vmtable *t);

/* Look up a normalized name (already checked by vg_name_normalize: no '/', no leading '.').
 * On VG_VM_OK *vm points into the table and stays valid until the next lookup of that name or
 * vg_vmtable_free.  On VG_VM_BROKEN err says what is wrong with the file. */
enum vg_vm_status vg_vmtable_lookup(struct vg_vmtable *t, const char *name,
                                    const struct vg_vm **vm, char *err, size_t errlen);

/* Parse the text of one VM file (exposed for tests). */
bool vg_vm_parse(const char *text, struct vg_vm *vm, char *err, size_t errlen);

bool vg_vm_port_allowed(const struct vg_vm *vm, uint16_t port);
/* May a stream started inside `vm` reach `name` (normalized) : `port`? */
bool vg_vm_out_allowed(const struct vg_vm *vm, const char *name, uint16_t port);

#endif
