/* reg — types shared by the registrar's modules: per-VM results and the exit codes they map to.
 *
 * Every operation on one VM (add, del, a gc withdrawal) ends in one enum reg_result.  A command's
 * exit code is derived from the results of all the VMs it handled (reg_exit_code_of): 0 when all
 * are done, otherwise the code of the first hard failure, else 75 when something was queued.
 */
#ifndef REG_H
#define REG_H

#include <stdbool.h>
#include <stddef.h>

enum reg_result {
    REG_OK = 0,   /* done: the zone says what we asked for */
    REG_QUEUED,   /* no server answered: journaled, the daemon retries */
    REG_INUSE,    /* YXDOMAIN: the name is used by another host or by records not ours */
    REG_NOTOWNER, /* NXRRSET: the name is not owned by this host; nothing was changed */
    REG_BADSIG,   /* NOTAUTH + TSIG BADSIG: the server has the key with another secret */
    REG_BADKEY,   /* NOTAUTH + TSIG BADKEY: the server does not know the key name */
    REG_NOTAUTH,  /* NOTAUTH otherwise (BADTIME, not authoritative for the zone) */
    REG_REFUSED,  /* REFUSED: the server's policy does not allow this update */
    REG_NOTZONE,  /* NOTZONE: a name is outside the zone the server holds */
    REG_SERVFAIL, /* SERVFAIL, FORMERR, NOTIMP or another unexpected RCODE */
    REG_TIMEOUT,  /* no server answered (commands that do not journal) */
    REG_BADREPLY, /* the reply was not believed: unsigned, TSIG not verified, wrong id or
                   * question, malformed; transient like a lost reply (an add/del is journaled) */
    REG_BADNAME,  /* the name or an argument is invalid (never sent) */
    REG_ERROR,    /* local failure: memory, file system */
};
#define REG_NRESULTS (REG_ERROR + 1)

/* Exit codes (documented in --help and docs/registrar.md). */
enum {
    REG_EXIT_OK = 0,
    REG_EXIT_ERROR = 1,
    REG_EXIT_INUSE = 10,
    REG_EXIT_NOTOWNER = 11,
    REG_EXIT_BADSIG = 12,
    REG_EXIT_BADKEY = 13,
    REG_EXIT_NOTAUTH = 14,
    REG_EXIT_REFUSED = 15,
    REG_EXIT_NOTZONE = 16,
    REG_EXIT_SERVFAIL = 17,
    REG_EXIT_TIMEOUT = 18,
    REG_EXIT_BADREPLY = 19,
    REG_EXIT_USAGE = 64,   /* EX_USAGE */
    REG_EXIT_DATAERR = 65, /* EX_DATAERR: bad name, bad channel, bad XML */
    REG_EXIT_QUEUED = 75,  /* EX_TEMPFAIL: journaled, will be retried by the daemon */
    REG_EXIT_CONFIG = 78,  /* EX_CONFIG */
};

/* Short fixed text ("in use", "BADSIG", ...) for logs and the daemon protocol. */
const char *reg_result_str(enum reg_result r);
/* Parse what reg_result_str printed; false if unknown. */
bool reg_result_parse(const char *s, enum reg_result *out);
int reg_result_exit(enum reg_result r);
/* The exit code for a set of results: first hard failure wins over queued, queued over done. */
int reg_exit_code_of(const enum reg_result *r, size_t n);
/* Transient results (no answer, SERVFAIL, a reply not believed) are journaled and retried; the
 * others are final. */
bool reg_result_transient(enum reg_result r);

#endif
