/* Fuzz target: the VM table entry (common/vg_vmentry over common/vg_kvfile, channel specs in
 * common/vg_chan) — what the gateway reads from a file anyone with write access to the table
 * may have written, and what vmgate-reg rewrites.
 *
 * Checked on every input that lexes:
 *   - the printed text lexes again to the same keys and values, and prints the same (a rewrite
 *     by vmgate-reg never changes what it does not manage);
 *   - the entry checks and compiles the same way before and after the round trip;
 *   - a compiled channel prints canonically and parses back to the same channel;
 *   - setting a key keeps every other key;
 *   - port ranges are ordered and within 1..65535, the rule counts within their bounds.
 */
#include "fuzz.h"
#include "vg_alloc.h"
#include "vg_chan.h"
#include "vg_kvfile.h"
#include "vg_vmentry.h"

#include <string.h>

static void same_keys(const struct vg_kvfile *a, const struct vg_kvfile *b)
{
    const char *ka, *va, *kb, *vb;
    size_t i = 0;
    for (; vg_kvfile_key(a, i, &ka, &va); i++) {
        FUZZ_CHECK(vg_kvfile_key(b, i, &kb, &vb));
        FUZZ_CHECK(strcmp(ka, kb) == 0 && strcmp(va, vb) == 0);
    }
    FUZZ_CHECK(!vg_kvfile_key(b, i, &kb, &vb));
}

static void check_vm(const struct vg_vm *vm)
{
    char buf[200], err[300];
    struct vg_chan back;
    FUZZ_CHECK(vm->nranges <= VG_VM_MAX_PORT_RANGES && vm->nout <= VG_VM_MAX_OUT_RULES);
    for (unsigned i = 0; i < vm->nranges; i++)
        FUZZ_CHECK(vm->ranges[i].lo >= 1 && vm->ranges[i].lo <= vm->ranges[i].hi);
    for (unsigned i = 0; i < vm->nout; i++)
        FUZZ_CHECK(vm->out[i].lo >= 1 && vm->out[i].lo <= vm->out[i].hi);
    FUZZ_CHECK(vg_chan_format(&vm->chan, buf, sizeof buf) != NULL);
    FUZZ_CHECK(vg_chan_parse(buf, &back, err, sizeof err));
    FUZZ_CHECK(back.kind == vm->chan.kind && back.cid == vm->chan.cid &&
               strcmp(back.path, vm->chan.path) == 0 &&
               memcmp(&back.addr, &vm->chan.addr, sizeof back.addr) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[300];
    if (size > VG_VMENTRY_MAX)
        return 0;
    struct vg_kvfile *f1 = vg_kvfile_parse((const char *)data, size, err, sizeof err);
    if (f1 == NULL)
        return 0;
    size_t len1, len2;
    char *out1 = vg_kvfile_format(f1, &len1);
    FUZZ_CHECK(out1 != NULL && strlen(out1) == len1);
    struct vg_kvfile *f2 = vg_kvfile_parse(out1, len1, err, sizeof err);
    FUZZ_CHECK(f2 != NULL);
    same_keys(f1, f2);
    char *out2 = vg_kvfile_format(f2, &len2);
    FUZZ_CHECK(out2 != NULL && len1 == len2 && memcmp(out1, out2, len1) == 0);

    struct vg_vm *vm1 = vg_malloc(sizeof *vm1), *vm2 = vg_malloc(sizeof *vm2);
    FUZZ_CHECK(vm1 && vm2);
    bool ok1 = vg_vm_compile(f1, vm1, err, sizeof err);
    bool ok2 = vg_vm_parse(out1, vm2, err, sizeof err);
    FUZZ_CHECK(ok1 == ok2);
    FUZZ_CHECK(ok1 == vg_vmentry_check(f1, err, sizeof err));
    if (ok1) {
        check_vm(vm1);
        FUZZ_CHECK(vm1->nranges == vm2->nranges && vm1->nout == vm2->nout);
    }

    /* a set keeps every other key */
    if (vg_kvfile_set(f1, "owner", "hv1")) {
        const char *k, *v;
        for (size_t i = 0; vg_kvfile_key(f2, i, &k, &v); i++)
            if (strcmp(k, "owner") != 0)
                FUZZ_CHECK(vg_kvfile_get(f1, k) && strcmp(vg_kvfile_get(f1, k), v) == 0);
        FUZZ_CHECK(strcmp(vg_kvfile_get(f1, "owner"), "hv1") == 0);
    }
    vg_free(vm1);
    vg_free(vm2);
    vg_free(out1);
    vg_free(out2);
    vg_kvfile_free(f1);
    vg_kvfile_free(f2);
    return 0;
}
