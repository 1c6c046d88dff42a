/* vg_alloc — the one allocation path of vmgate.
 *
 * Every allocation goes through these wrappers so a test can make the Nth one fail
 * (vg_alloc_fail_at) and check that the caller reports the failure instead of crashing.
 * They return NULL on failure like the libc functions; they never abort.
 */
#ifndef VG_ALLOC_H
#define VG_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *vg_malloc(size_t n);
void *vg_calloc(size_t nmemb, size_t n);
void *vg_realloc(void *p, size_t n);
char *vg_strdup(const char *s);
char *vg_strndup(const char *s, size_t n);
void vg_free(void *p);

/* Make room for one more element in a growing array: *(void **)arrayp holds n elements of elem
 * bytes in *cap slots; when it is full, the slots double (first: the slots of an empty array).
 * False, array unchanged, when memory runs out or the size would overflow. */
bool vg_grow(void *arrayp, size_t *cap, size_t n, size_t elem, size_t first);

/* Testing: the n-th allocation from now on (1 = the next) fails; 0 disables. */
void vg_alloc_fail_at(unsigned long n);

#endif
