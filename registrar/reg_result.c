#include "reg.h"

#include <string.h>

static const struct {
    const char *str;
    int exit;
} results[REG_NRESULTS] = {
    [REG_OK] = {"ok", REG_EXIT_OK},
    [REG_QUEUED] = {"queued", REG_EXIT_QUEUED},
    [REG_INUSE] = {"in-use", REG_EXIT_INUSE},
    [REG_NOTOWNER] = {"not-owner", REG_EXIT_NOTOWNER},
    [REG_BADSIG] = {"badsig", REG_EXIT_BADSIG},
    [REG_BADKEY] = {"badkey", REG_EXIT_BADKEY},
    [REG_NOTAUTH] = {"notauth", REG_EXIT_NOTAUTH},
    [REG_REFUSED] = {"refused", REG_EXIT_REFUSED},
    [REG_NOTZONE] = {"notzone", REG_EXIT_NOTZONE},
    [REG_SERVFAIL] = {"servfail", REG_EXIT_SERVFAIL},
    [REG_TIMEOUT] = {"timeout", REG_EXIT_TIMEOUT},
    [REG_BADREPLY] = {"bad-reply", REG_EXIT_BADREPLY},
    [REG_BADNAME] = {"bad-name", REG_EXIT_DATAERR},
    [REG_ERROR] = {"error", REG_EXIT_ERROR},
};

const char *reg_result_str(enum reg_result r)
{
    if ((unsigned)r >= REG_NRESULTS)
        return "unknown";
    return results[r].str;
}

bool reg_result_parse(const char *s, enum reg_result *out)
{
    for (unsigned i = 0; i < REG_NRESULTS; i++) {
        if (strcmp(results[i].str, s) == 0) {
            *out = (enum reg_result)i;
            return true;
        }
    }
    return false;
}

int reg_result_exit(enum reg_result r)
{
    if ((unsigned)r >= REG_NRESULTS)
        return REG_EXIT_ERROR;
    return results[r].exit;
}

bool reg_result_transient(enum reg_result r)
{
    /* a reply that was not believed is a lost reply */
    return r == REG_QUEUED || r == REG_TIMEOUT || r == REG_SERVFAIL || r == REG_BADREPLY;
}

int reg_exit_code_of(const enum reg_result *r, size_t n)
{
    bool queued = false;
    for (size_t i = 0; i < n; i++) {
        if (r[i] == REG_OK)
            continue;
        if (r[i] == REG_QUEUED) {
            queued = true;
            continue;
        }
        return reg_result_exit(r[i]);
    }
    return queued ? REG_EXIT_QUEUED : REG_EXIT_OK;
}
