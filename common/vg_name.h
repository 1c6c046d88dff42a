/* vg_name — DNS name checks shared by the gateway, the registrar and the resolver.
 *
 * vmgate accepts host names only: LDH labels (letters, digits, hyphen; no leading or trailing
 * hyphen), 1..63 octets a label, at most 253 octets in all without the trailing dot.  Labels that
 * begin with '_' are reserved for vmgate's own records and are never VM names.  Names are compared
 * and stored in lower case without the trailing dot.
 */
#ifndef VG_NAME_H
#define VG_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define VG_NAME_MAX 253 /* presentation form, no trailing dot */

enum vg_name_status {
    VG_NAME_OK = 0,
    VG_NAME_EMPTY,       /* "" or "." */
    VG_NAME_TOO_LONG,    /* > 253 octets */
    VG_NAME_LABEL_EMPTY, /* "a..b", ".a" */
    VG_NAME_LABEL_LONG,  /* a label > 63 octets */
    VG_NAME_BAD_CHAR,    /* not letter / digit / hyphen */
    VG_NAME_HYPHEN,      /* label starts or ends with '-' */
    VG_NAME_RESERVED,    /* a label starts with '_' */
    VG_NAME_NUMERIC,     /* the last label is all digits: an address, not a name */
};

const char *vg_name_strerror(enum vg_name_status st);

/* Check `len` octets of `in` (need not be NUL-terminated; one trailing dot allowed) and write the
 * lower-case form without the trailing dot into out[VG_NAME_MAX + 1]. */
enum vg_name_status vg_name_normalize(const char *in, size_t len, char out[VG_NAME_MAX + 1]);

/* True if `name` (normalized) is strictly below `zone` (normalized): "web1.vm.test" under
 * "vm.test"; "vm.test" itself is not. */
bool vg_name_under(const char *name, const char *zone);

/* True if the text is an IPv4 or IPv6 literal (with or without brackets). */
bool vg_name_is_ip_literal(const char *s, size_t len);

/* Qualify a name given short ("web1") or fully ("web1.vm.test.") against `zone`, checking it:
 * the result is normalized and under the zone.  A name with dots that is not under the zone
 * gets VG_NAME_OUTSIDE. */
#define VG_NAME_OUTSIDE 100
int vg_name_qualify(const char *in, const char *zone, char out[VG_NAME_MAX + 1]);

#endif
