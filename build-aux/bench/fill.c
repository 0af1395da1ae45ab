/*
 * fill.c: writes a store snapshot that holds a given number of live
 * tokens, for `make bench`.
 *
 * The flatness benchmark needs a token table that is 90% full, 900,000
 * tokens at its capacity of 1,000,000.  Issuing them through HTTP would
 * take minutes on two cores for each MPM, so this program fills a private
 * copy of the store with the store's own code (src/dt_store_shm.c, no
 * mutex: nothing else sees that memory) and saves it with
 * dt_shm_store_save, exactly as a clean stop of the server would.  The
 * server reads the file at its next start through
 * DownloadTokenSnapshotFile and goes on from there: each token is put
 * into its table, its hash index and its session's list by the same
 * token_put as a token issued over HTTP.
 *
 * usage: fill OUTPUT SESSIONS TOKENS CALL_ID
 *   SESSIONS sessions of the user "bench" share TOKENS tokens, each for
 *   call CALL_ID, type 1, action download; sessions and tokens live for
 *   a day, so none expires during a run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "dt_store_shm.h"

#define DAY apr_time_from_sec(86400)

static unsigned long parse_count(const char *what, const char *arg)
{
    char *end;
    unsigned long n = strtoul(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || n == 0 || n > 100000000UL) {
        fprintf(stderr, "fill: %s must be a positive number, not '%s'\n", what,
                arg);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned long n_sessions, n_tokens, call, i;
    apr_uint32_t saved_sessions, saved_tokens;
    apr_uint64_t id;
    apr_time_t now;
    dt_shm_layout layout;
    apr_pool_t *pool;
    dt_store *store;
    apr_status_t rv;
    void *base;

    if (argc != 5) {
        fprintf(stderr, "usage: fill OUTPUT SESSIONS TOKENS CALL_ID\n");
        return 2;
    }
    n_sessions = parse_count("SESSIONS", argv[2]);
    n_tokens = parse_count("TOKENS", argv[3]);
    call = parse_count("CALL_ID", argv[4]);

    apr_initialize();
    apr_pool_create(&pool, NULL);
    now = apr_time_now();

    layout.session_capacity = (apr_uint32_t)n_sessions;
    layout.token_capacity = (apr_uint32_t)n_tokens;
    layout.max_calls = 1;
    base = malloc(dt_shm_size(&layout));
    if (base == NULL) {
        fprintf(stderr, "fill: out of memory\n");
        return 1;
    }
    dt_shm_format(base, &layout, 0);
    store = dt_shm_store_open(pool, base, NULL);

    for (i = 0; i < n_sessions; i++) {
        dt_session s;

        memset(&s, 0, sizeof(s));
        /* Upper-case hex like a real session id; "F1" marks ours. */
        apr_snprintf(s.id, sizeof(s.id), "F1%030lX", i);
        apr_cpystrn(s.user, "bench", sizeof(s.user));
        s.created = s.last_used = now;
        s.idle_timeout = s.max_lifetime = DAY;
        rv = store->ops->session_put(store, &s, now);
        if (rv != APR_SUCCESS) {
            fprintf(stderr, "fill: session_put failed (%d)\n", rv);
            return 1;
        }
    }

    id = call;
    for (i = 0; i < n_tokens; i++) {
        dt_token t;

        memset(&t, 0, sizeof(t));
        /* 20 characters of [A-Za-z0-9], never one that the CSPRNG
         * is likely to draw: "fill" and a counter. */
        apr_snprintf(t.token, sizeof(t.token), "fill%016lu", i);
        apr_snprintf(t.session_id, sizeof(t.session_id), "F1%030lX",
                     i % n_sessions);
        t.created = now;
        t.expires = now + DAY;
        t.type = 1;
        apr_cpystrn(t.action, "download", sizeof(t.action));
        t.n_ids = 1;
        t.ids = &id;
        rv = store->ops->token_put(store, &t, APR_UINT32_MAX, now, NULL);
        if (rv != APR_SUCCESS) {
            fprintf(stderr, "fill: token_put failed (%d)\n", rv);
            return 1;
        }
    }

    rv = dt_shm_store_save(store, argv[1], now, pool, &saved_sessions,
                           &saved_tokens);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "fill: cannot write %s (%d)\n", argv[1], rv);
        return 1;
    }
    printf("fill: %s: %u sessions, %u tokens\n", argv[1], saved_sessions,
           saved_tokens);
    free(base);
    apr_terminate();
    return 0;
}
