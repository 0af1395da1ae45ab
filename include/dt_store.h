/*
 * dt_store.h: the records mod_downloadtoken keeps and the small interface
 * through which the handlers reach them.
 *
 * A store holds sessions and one-time tokens.  The handlers never see how:
 * the shared-memory store (dt_store_shm.c) serves one server, and a
 * networked store can serve a cluster by implementing the same operations.
 * Every operation is atomic with respect to every process and thread that
 * shares the store; in particular token_take checks and consumes a token
 * in one step, which is what makes a token usable exactly once.
 */
#ifndef DT_STORE_H
#define DT_STORE_H

#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_time.h>

#define DT_ID_LEN 32         /* session id: upper-case hex characters */
#define DT_TOKEN_LEN_MAX 64  /* tokens are 16 to 64 characters */
#define DT_USER_MAX 255      /* longest user name a session can hold */
#define DT_ACTION_MAX 31     /* longest accepted `action` value */
#define DT_SID_MAX 64        /* longest call SID */
#define DT_CALLS_LIMIT 10000 /* the most call ids a token slot may hold */

/* Outcomes beyond APR's own, returned by the operations below. */
#define DT_STORE_FULL (APR_OS_START_USERERR + 1)     /* no free slot left */
#define DT_STORE_CAP (APR_OS_START_USERERR + 2)      /* session's cap hit */
#define DT_STORE_NOTFOUND (APR_OS_START_USERERR + 3) /* no live entry */
#define DT_STORE_ENDED (APR_OS_START_USERERR + 4)    /* session has ended */
#define DT_STORE_EXISTS (APR_OS_START_USERERR + 5)   /* id already taken */

typedef struct dt_session {
    char id[DT_ID_LEN + 1];
    char user[DT_USER_MAX + 1];
    apr_time_t created;
    apr_time_t last_used;
    apr_interval_time_t idle_timeout; /* sliding: renewed on each use */
    apr_interval_time_t max_lifetime; /* absolute: counted from created */
    apr_uint32_t tokens_live;         /* filled in by lookups */
} dt_session;

typedef struct dt_token {
    char token[DT_TOKEN_LEN_MAX + 1];
    char session_id[DT_ID_LEN + 1];
    char user[DT_USER_MAX + 1]; /* filled in from the session */
    apr_time_t created;
    apr_time_t expires; /* its own lifetime's end */
    int type;           /* 1 call audio, 16 video */
    char action[DT_ACTION_MAX + 1];
    char sid[DT_SID_MAX + 1]; /* empty when ids name the calls */
    apr_uint32_t n_ids;
    const apr_uint64_t *ids;
} dt_token;

typedef struct dt_store_stats {
    apr_uint32_t sessions_live;
    apr_uint32_t sessions_capacity;
    apr_uint32_t tokens_live;
    apr_uint32_t tokens_capacity;
    apr_uint32_t max_calls;
    apr_uint64_t sessions_created;
    apr_uint64_t tokens_issued;
    apr_uint64_t tokens_taken;
    apr_uint64_t sweeps;
    apr_uint64_t full_refusals;
    apr_size_t bytes_total;
    apr_size_t session_slot_bytes;
    apr_size_t token_slot_bytes;
    int consistent;    /* 1: index, lists, counts agree */
                       /* (or not checked) */
    char problem[160]; /* the first inconsistency found */
} dt_store_stats;

typedef struct dt_store dt_store;

typedef struct dt_store_ops {
    const char *name;

    /* Adds a session whose record the caller has filled in completely.
     * DT_STORE_FULL when every slot holds a live session,
     * DT_STORE_EXISTS when the id is already in use. */
    apr_status_t (*session_put)(dt_store *st, const dt_session *s,
                                apr_time_t now);

    /* Finds a live session, renews its idle time and copies it out.
     * DT_STORE_NOTFOUND for an unknown, expired or ended session. */
    apr_status_t (*session_use)(dt_store *st, const char *id, apr_time_t now,
                                dt_session *out);

    /* Ends a session and every token it issued.
     * DT_STORE_NOTFOUND when no live session has that id. */
    apr_status_t (*session_end)(dt_store *st, const char *id, apr_time_t now);

    /* Adds a token for the live session t->session_id, unless that
     * session already holds max_per_session live tokens (DT_STORE_CAP).
     * DT_STORE_NOTFOUND when the session is not live, DT_STORE_FULL when
     * the table is full of live tokens, DT_STORE_EXISTS on a collision.
     * Asking for a token is a use of the session: whenever it is live,
     * its idle time is renewed and, if owner is not NULL, it is copied
     * there, so that the caller needs no session_use of its own (one
     * critical section per issued token, not two). */
    apr_status_t (*token_put)(dt_store *st, const dt_token *t,
                              apr_uint32_t max_per_session, apr_time_t now,
                              dt_session *owner);

    /* Looks a token up and, when `consume` is set, removes it in the same
     * critical section, so that of any number of concurrent callers only
     * one receives it.  DT_STORE_NOTFOUND for an unknown, used or expired
     * token; DT_STORE_ENDED when the token was found but its session has
     * ended (the token is consumed all the same).  On success the record,
     * with the session's user, is copied into *out, ids from pool p. */
    apr_status_t (*token_take)(dt_store *st, const char *token, apr_time_t now,
                               int consume, apr_pool_t *p, dt_token *out);

    /* Counts and, when `check` is set and the store can, checks its own
     * consistency (out->consistent; this may walk every entry). */
    apr_status_t (*stats)(dt_store *st, int check, dt_store_stats *out);
} dt_store_ops;

struct dt_store {
    const dt_store_ops *ops;
    void *impl;
};

/* When a session stops being usable: the earlier of its idle deadline
 * and its absolute deadline. */
apr_time_t dt_session_deadline(const dt_session *s);

/* Compares n bytes in time that does not depend on where they differ. */
int dt_equal_ct(const void *a, const void *b, apr_size_t n);

#endif /* DT_STORE_H */
