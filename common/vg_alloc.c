#include "vg_alloc.h"

#include <stdint.h>

#include <stdlib.h>
#include <string.h>

static unsigned long fail_countdown;

static int should_fail(void)
{
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

void vg_alloc_fail_at(unsigned long n)
{
    fail_countdown = n;
}

void *vg_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *vg_calloc(size_t nmemb, size_t n)
{
    return should_fail() ? NULL : calloc(nmemb, n);
}

void *vg_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *vg_strdup(const char *s)
{
    return should_fail() ? NULL : strdup(s);
}

char *vg_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : strndup(s, n);
}

void vg_free(void *p)
{
    free(p);
}

bool vg_grow(void *arrayp, size_t *cap, size_t n, size_t elem, size_t first)
{
    void *v; /* the caller's T *, loaded and stored by bytes (no void ** aliasing of a T *) */
    if (n < *cap)
        return true;
    size_t slots = *cap ? *cap : first;
    if (*cap && slots > SIZE_MAX / 2 / elem)
        return false;
    if (*cap)
        slots *= 2;
    if (slots > SIZE_MAX / elem)
        return false;
    memcpy(&v, arrayp, sizeof v);
    void *g = vg_realloc(v, slots * elem);
    if (g == NULL)
        return false;
    memcpy(arrayp, &g, sizeof g);
    *cap = slots;
    return true;
}
