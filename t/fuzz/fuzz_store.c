/*
 * fuzz_store.c: drives the shared-memory store with random operations
 * (session put, use, end; token put, take, look; time passing) and checks
 * each answer against a plain model of what the store promises, and the
 * store's own consistency check after every step.
 *
 * Ids are never reused, so the model needs no notion of an entry that is
 * expired but not yet reclaimed, except where the store may answer
 * either way (a token of an expired session: ENDED or NOTFOUND).
 */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dt_fuzz.h"
#include "dt_store_shm.h"

#define SESSIONS 4
#define TOKENS 8
#define CALLS 3
#define MAX_MODEL 512

typedef struct model_session {
    dt_session rec;
    int ended;
} model_session;

typedef struct model_token {
    dt_token rec;
    apr_uint64_t ids[CALLS];
    int session; /* index into sessions */
    int taken;
} model_token;

static model_session sessions[MAX_MODEL];
static model_token tokens[MAX_MODEL];
static int n_sessions, n_tokens;
static apr_time_t now;

static int session_live(const model_session *s)
{
    return !s->ended && dt_session_deadline(&s->rec) > now;
}

static int token_live(const model_token *t)
{
    return !t->taken && t->rec.expires > now
           && session_live(&sessions[t->session]);
}

static int live_sessions(void)
{
    int i, n = 0;

    for (i = 0; i < n_sessions; i++) {
        n += session_live(&sessions[i]);
    }
    return n;
}

static int live_tokens(int of_session)
{
    int i, n = 0;

    for (i = 0; i < n_tokens; i++) {
        n += token_live(&tokens[i])
             && (of_session < 0 || tokens[i].session == of_session);
    }
    return n;
}

static void op_session_put(dt_store *st, unsigned char arg)
{
    model_session *s;
    apr_status_t rv;

    if (n_sessions == MAX_MODEL) {
        return;
    }
    s = &sessions[n_sessions];
    memset(s, 0, sizeof(*s));
    apr_snprintf(s->rec.id, sizeof(s->rec.id), "%032X", n_sessions + 1);
    apr_snprintf(s->rec.user, sizeof(s->rec.user), "u%d", n_sessions);
    s->rec.created = s->rec.last_used = now;
    s->rec.idle_timeout = 1 + (arg & 15);
    s->rec.max_lifetime = 1 + (arg >> 3);

    rv = st->ops->session_put(st, &s->rec, now);
    if (live_sessions() == SESSIONS) {
        CHECK(rv == DT_STORE_FULL);
        return;
    }
    CHECK(rv == APR_SUCCESS);
    n_sessions++;
}

static void op_session_use(dt_store *st, unsigned char arg)
{
    model_session *s;
    dt_session out;
    apr_status_t rv;

    if (n_sessions == 0) {
        return;
    }
    s = &sessions[arg % n_sessions];
    rv = st->ops->session_use(st, s->rec.id, now, &out);
    if (!session_live(s)) {
        CHECK(rv == DT_STORE_NOTFOUND);
        return;
    }
    CHECK(rv == APR_SUCCESS);
    CHECK(strcmp(out.user, s->rec.user) == 0);
    s->rec.last_used = now;
}

static void op_session_end(dt_store *st, unsigned char arg)
{
    model_session *s;
    apr_status_t rv;

    if (n_sessions == 0) {
        return;
    }
    s = &sessions[arg % n_sessions];
    rv = st->ops->session_end(st, s->rec.id, now);
    CHECK(rv == (session_live(s) ? APR_SUCCESS : DT_STORE_NOTFOUND));
    s->ended = 1;
}

static void op_token_put(dt_store *st, unsigned char arg, unsigned char arg2)
{
    model_token *t;
    int owner, cap = 1 + (arg2 & 3);
    apr_status_t rv;

    if (n_sessions == 0 || n_tokens == MAX_MODEL) {
        return;
    }
    owner = arg % n_sessions;
    t = &tokens[n_tokens];
    memset(t, 0, sizeof(*t));
    apr_snprintf(t->rec.token, sizeof(t->rec.token), "T%019d", n_tokens);
    memcpy(t->rec.session_id, sessions[owner].rec.id, DT_ID_LEN + 1);
    t->rec.created = now;
    t->rec.expires = now + 1 + (arg2 >> 4);
    t->rec.type = 1;
    apr_cpystrn(t->rec.action, "download", sizeof(t->rec.action));
    t->rec.n_ids = (arg2 >> 2) % (CALLS + 1);
    t->ids[0] = n_tokens;
    t->ids[1] = 7;
    t->ids[2] = arg;
    t->rec.ids = t->ids;
    t->session = owner;

    rv = st->ops->token_put(st, &t->rec, (apr_uint32_t)cap, now, NULL);
    if (!session_live(&sessions[owner])) {
        CHECK(rv == DT_STORE_NOTFOUND);
        return;
    }
    sessions[owner].rec.last_used = now; /* asking for a token is a use */
    if (live_tokens(owner) >= cap) {
        CHECK(rv == DT_STORE_CAP);
        return;
    }
    if (live_tokens(-1) == TOKENS) {
        CHECK(rv == DT_STORE_FULL);
        return;
    }
    CHECK(rv == APR_SUCCESS);
    n_tokens++;
}

static void op_token_take(dt_store *st, apr_pool_t *p, unsigned char arg,
                          int consume)
{
    model_token *t;
    dt_token out;
    apr_status_t rv;

    if (n_tokens == 0) {
        return;
    }
    t = &tokens[arg % n_tokens];
    rv = st->ops->token_take(st, t->rec.token, now, consume, p, &out);
    if (token_live(t)) {
        CHECK(rv == APR_SUCCESS);
        CHECK(strcmp(out.session_id, t->rec.session_id) == 0);
        CHECK(strcmp(out.user, sessions[t->session].rec.user) == 0);
        CHECK(out.n_ids == t->rec.n_ids);
        CHECK(out.n_ids == 0
              || memcmp(out.ids, t->ids, out.n_ids * sizeof(out.ids[0])) == 0);
        t->taken |= consume;
        return;
    }
    if (rv == DT_STORE_ENDED) {
        /* Only a token never taken, whose session ran out of time. */
        CHECK(!t->taken && !sessions[t->session].ended
              && !session_live(&sessions[t->session]));
        t->taken = 1;
        return;
    }
    CHECK(rv == DT_STORE_NOTFOUND);
}

static void check_store(dt_store *st)
{
    dt_store_stats stats;

    CHECK(st->ops->stats(st, 1, &stats) == APR_SUCCESS);
    CHECK(stats.consistent);
    CHECK(stats.sessions_live <= SESSIONS && stats.tokens_live <= TOKENS);
    CHECK(stats.tokens_live >= (apr_uint32_t)live_tokens(-1));
    CHECK(stats.sessions_live >= (apr_uint32_t)live_sessions());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void *block;
    dt_shm_layout layout = {SESSIONS, TOKENS, CALLS};
    apr_pool_t *p;
    dt_store *st;
    size_t i;

    if (block == NULL) {
        block = malloc(dt_shm_size(&layout));
    }
    dt_shm_format(block, &layout, 7);
    apr_pool_create(&p, root);
    st = dt_shm_store_open(p, block, NULL);
    n_sessions = n_tokens = 0;
    now = 1000;

    for (i = 0; i + 2 < size; i += 3) {
        unsigned char arg = data[i + 1], arg2 = data[i + 2];
        switch (data[i] % 7) {
        case 0:
            op_session_put(st, arg);
            break;
        case 1:
            op_session_use(st, arg);
            break;
        case 2:
            op_session_end(st, arg);
            break;
        case 3:
            op_token_put(st, arg, arg2);
            break;
        case 4:
            op_token_take(st, p, arg, 1);
            break;
        case 5:
            op_token_take(st, p, arg, 0);
            break;
        default:
            now += arg % 8;
            break;
        }
        check_store(st);
    }
    apr_pool_destroy(p);
    return 0;
}
