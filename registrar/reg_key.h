/* reg_key — the TSIG key, read from the file BIND's `tsig-keygen` writes:
 *
 *     key "reg-key" {
 *             algorithm hmac-sha256;
 *             secret "base64…";
 *     };
 *
 * Comments (#, //, / * * /) are allowed.  The first key block is used.  Only hmac-sha256 and
 * hmac-sha512 are accepted: ldns 1.8.3 mis-names hmac-sha384 and lacks hmac-sha224, and the older
 * md5/sha1 are not worth supporting in new deployments.
 */
#ifndef REG_KEY_H
#define REG_KEY_H

#include <stdbool.h>
#include <stddef.h>

struct reg_key {
    char name[256];     /* absolute, with trailing dot: "reg-key." */
    char algorithm[32]; /* ldns form, absolute: "hmac-sha256." */
    char secret[512];   /* base64 as in the file */
};

/* Parse the text of a key file.  On error false and a message naming the line. */
bool reg_key_parse(const char *text, struct reg_key *key, char *err, size_t errlen);
/* Read and parse `path`; the message names the file. */
bool reg_key_load(const char *path, struct reg_key *key, char *err, size_t errlen);

#endif
