/* vg_vmentry — the VM table entry: the one module that reads, checks, changes and writes the
 * file that describes one VM on its host (docs/gateway.md, "The VM table").
 *
 * One file per VM in the table directory ([gateway] vm-dir), named after the VM's normalized
 * fully qualified name ("web1.vm.test"); vg_kvfile syntax (comments, "key = value").  Keys:
 *
 *   key        written by          value
 *   name       vmgate-reg          the VM's FQDN (informative: the file name is the identity)
 *   channel    vmgate-reg / admin  required; a channel spec (vg_chan.h)
 *   qmp        vmgate-reg          QEMU's QMP socket (absolute path)
 *   owner      vmgate-reg          the host that published the VM
 *   ports      admin / --ports     allowlist of guest ports: "22, 80, 8000-8100" (absent: all)
 *   allow-out  admin / --allow-out what streams started inside this VM may reach:
 *                                  "web2.vm.test:80, *.vm.test:22, db.vm.test:5432-5433";
 *                                  absent: nothing (VM-to-VM traffic is never implicit)
 *
 * Other keys and every comment are kept as they are when vmgate-reg rewrites an entry: it changes
 * only the keys it is asked to.  A known key with a bad value makes the whole entry broken (the
 * gateway refuses the VM with a reason, never applies half an entry).
 */
#ifndef VG_VMENTRY_H
#define VG_VMENTRY_H

#include "vg_chan.h"
#include "vg_kvfile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VG_VMENTRY_MAX 16384 /* bytes in one entry file */
#define VG_VM_MAX_PORT_RANGES 32
#define VG_VM_MAX_OUT_RULES 16

/* ---- keys and values ---------------------------------------------------------------------- */

/* Is key one of the keys above? */
bool vg_vmentry_key_known(const char *key);
/* May an operator set key through vmgate-reg (--set KEY=VALUE, --ports, --allow-out)?  The keys
 * vmgate-reg manages itself (name, channel, qmp, owner) have their own options. */
bool vg_vmentry_key_settable(const char *key);
/* Check value for a known key (unknown keys: any value); false with a message naming the key. */
bool vg_vmentry_value_check(const char *key, const char *value, char *err, size_t errlen);
/* The canonical form of a checked value into out: lists joined by "," without blanks (so it
 * travels as one word); other values unchanged.  False when bad or when out is too small. */
bool vg_vmentry_value_canon(const char *key, const char *value, char *out, size_t outlen, char *err,
                            size_t errlen);
/* Every known key of f has a good value and channel is present. */
bool vg_vmentry_check(const struct vg_kvfile *f, char *err, size_t errlen);

/* ---- the gateway's compiled view ------------------------------------------------------------ */

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

/* A checked entry's values into vm. */
bool vg_vm_compile(const struct vg_kvfile *f, struct vg_vm *vm, char *err, size_t errlen);
/* Parse, check and compile the NUL-terminated text of one entry. */
bool vg_vm_parse(const char *text, struct vg_vm *vm, char *err, size_t errlen);

bool vg_vm_port_allowed(const struct vg_vm *vm, uint16_t port);
/* May a stream started inside `vm` reach `name` (normalized) : `port`? */
bool vg_vm_out_allowed(const struct vg_vm *vm, const char *name, uint16_t port);

/* ---- files ---------------------------------------------------------------------------------- */

/* Read and check dir/name.  NULL when it is missing (*missing = true, no message) or broken
 * (message in err). */
struct vg_kvfile *vg_vmentry_load(const char *dir, const char *name, bool *missing, char *err,
                                  size_t errlen);
/* Write entries files[i] as dir/names[i], atomically (vg_file.h), after checking each. */
bool vg_vmentry_store(const char *dir, const char *const *names,
                      const struct vg_kvfile *const *files, size_t n, char *err, size_t errlen);

#endif
