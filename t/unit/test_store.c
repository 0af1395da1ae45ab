/*
 * test_store.c: the shared-memory store, driven directly: sessions,
 * tokens taken exactly once, reclaiming, caps, consistency, snapshots,
 * and several processes racing for the same tokens.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "dt_store_shm.h"
#include "dt_test.h"

static apr_pool_t *pool;

#define SEC(n) apr_time_from_sec(n)
#define T0 (SEC(1000000))

typedef struct fixture {
    dt_shm_layout layout;
    void *base;
    dt_store *st;
} fixture;

/* A store in shared anonymous memory, so forked children share it. */
static void open_store(fixture *f, apr_uint32_t sessions, apr_uint32_t tokens,
                       apr_uint32_t calls, apr_global_mutex_t *mutex)
{
    apr_size_t size;

    f->layout.session_capacity = sessions;
    f->layout.token_capacity = tokens;
    f->layout.max_calls = calls;
    size = dt_shm_size(&f->layout);
    f->base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    dt_shm_format(f->base, &f->layout, 42);
    f->st = dt_shm_store_open(pool, f->base, mutex);
}

static void close_store(fixture *f)
{
    munmap(f->base, dt_shm_size(&f->layout));
}

static dt_session make_session(int n, apr_time_t now)
{
    dt_session s;

    memset(&s, 0, sizeof(s));
    apr_snprintf(s.id, sizeof(s.id), "%032X", n);
    apr_snprintf(s.user, sizeof(s.user), "user%d", n);
    s.created = s.last_used = now;
    s.idle_timeout = SEC(60);
    s.max_lifetime = SEC(600);
    return s;
}

static dt_token make_token(const char *session_id, int n, apr_time_t now)
{
    static apr_uint64_t ids[2] = {1165, 1166};
    dt_token t;

    memset(&t, 0, sizeof(t));
    apr_snprintf(t.token, sizeof(t.token), "tok%017d", n);
    memcpy(t.session_id, session_id, DT_ID_LEN + 1);
    t.created = now;
    t.expires = now + SEC(300);
    t.type = 1;
    apr_cpystrn(t.action, "download", sizeof(t.action));
    t.n_ids = 2;
    t.ids = ids;
    return t;
}

static int consistent(fixture *f, dt_store_stats *st)
{
    f->st->ops->stats(f->st, 1, st);
    if (!st->consistent) {
        printf("  store inconsistent: %s\n", st->problem);
    }
    return st->consistent;
}

DT_TEST(session_put_use_end)
{
    fixture f;
    dt_session s = make_session(1, T0), out;
    dt_store_stats st;

    open_store(&f, 4, 8, 4, NULL);
    DT_CHECK_INT(f.st->ops->session_put(f.st, &s, T0), APR_SUCCESS);
    DT_CHECK_INT(f.st->ops->session_put(f.st, &s, T0), DT_STORE_EXISTS);
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0 + SEC(1), &out),
                 APR_SUCCESS);
    DT_CHECK_STR(out.user, "user1");
    DT_CHECK_INT(out.last_used, T0 + SEC(1));
    DT_CHECK_INT(f.st->ops->session_use(
                     f.st, "00000000000000000000000000000002", T0, &out),
                 DT_STORE_NOTFOUND);
    DT_CHECK_INT(f.st->ops->session_use(f.st, "short", T0, &out),
                 DT_STORE_NOTFOUND);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.sessions_live, 1);

    DT_CHECK_INT(f.st->ops->session_end(f.st, s.id, T0), APR_SUCCESS);
    DT_CHECK_INT(f.st->ops->session_end(f.st, s.id, T0), DT_STORE_NOTFOUND);
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0, &out),
                 DT_STORE_NOTFOUND);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.sessions_live, 0);
    close_store(&f);
}

DT_TEST(session_idle_timeout_slides_and_lifetime_is_absolute)
{
    fixture f;
    dt_session s = make_session(1, T0), out;
    int i;

    open_store(&f, 4, 8, 4, NULL);
    f.st->ops->session_put(f.st, &s, T0);

    /* Used every 50 s, a 60 s idle timeout never strikes... */
    for (i = 1; i <= 11; i++) {
        DT_CHECK_INT(
            f.st->ops->session_use(f.st, s.id, T0 + SEC(50 * i), &out),
            APR_SUCCESS);
    }
    /* ...but the 600 s lifetime does. */
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0 + SEC(600), &out),
                 DT_STORE_NOTFOUND);

    s = make_session(2, T0);
    f.st->ops->session_put(f.st, &s, T0);
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0 + SEC(59), &out),
                 APR_SUCCESS);
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0 + SEC(119), &out),
                 DT_STORE_NOTFOUND);
    close_store(&f);
}

DT_TEST(full_session_table_reclaims_expired_never_live)
{
    fixture f;
    dt_session s;
    dt_store_stats st;
    int i;

    open_store(&f, 3, 8, 4, NULL);
    for (i = 1; i <= 3; i++) {
        s = make_session(i, T0);
        DT_CHECK_INT(f.st->ops->session_put(f.st, &s, T0), APR_SUCCESS);
    }
    s = make_session(4, T0);
    DT_CHECK_INT(f.st->ops->session_put(f.st, &s, T0 + SEC(1)), DT_STORE_FULL);

    /* A refusal before anything can expire does not sweep again. */
    f.st->ops->stats(f.st, 0, &st);
    i = (int)st.sweeps;
    DT_CHECK_INT(f.st->ops->session_put(f.st, &s, T0 + SEC(2)), DT_STORE_FULL);
    f.st->ops->stats(f.st, 0, &st);
    DT_CHECK_INT(st.sweeps, i);

    /* Once they are idle past their timeout, their slots are taken. */
    s = make_session(4, T0 + SEC(61));
    DT_CHECK_INT(f.st->ops->session_put(f.st, &s, T0 + SEC(61)), APR_SUCCESS);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.sessions_live, 1);
    close_store(&f);
}

DT_TEST(token_taken_exactly_once)
{
    fixture f;
    dt_session s = make_session(1, T0);
    dt_token t = make_token(s.id, 1, T0), out;
    dt_store_stats st;

    open_store(&f, 4, 8, 4, NULL);
    f.st->ops->session_put(f.st, &s, T0);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0, NULL), APR_SUCCESS);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0, NULL),
                 DT_STORE_EXISTS);

    /* Looking does not consume. */
    DT_CHECK_INT(f.st->ops->token_take(f.st, t.token, T0, 0, pool, &out),
                 APR_SUCCESS);
    DT_CHECK_INT(f.st->ops->token_take(f.st, t.token, T0, 1, pool, &out),
                 APR_SUCCESS);
    DT_CHECK_STR(out.user, "user1");
    DT_CHECK_STR(out.session_id, s.id);
    DT_CHECK_STR(out.action, "download");
    DT_CHECK_INT(out.type, 1);
    DT_CHECK_INT(out.n_ids, 2);
    DT_CHECK_INT(out.ids[0], 1165);
    DT_CHECK_INT(out.ids[1], 1166);

    DT_CHECK_INT(f.st->ops->token_take(f.st, t.token, T0, 1, pool, &out),
                 DT_STORE_NOTFOUND);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, "tok0000000000000000X", T0, 1, pool, &out),
        DT_STORE_NOTFOUND);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 0);
    DT_CHECK_INT(st.tokens_taken, 1);
    close_store(&f);
}

DT_TEST(token_put_is_a_use_of_the_session)
{
    fixture f;
    dt_session s = make_session(1, T0), owner, out;
    dt_token t = make_token(s.id, 1, T0 + SEC(50));

    open_store(&f, 4, 8, 4, NULL);
    f.st->ops->session_put(f.st, &s, T0);
    memset(&owner, 0, sizeof(owner));
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0 + SEC(50), &owner),
                 APR_SUCCESS);
    DT_CHECK_STR(owner.user, "user1");
    DT_CHECK_INT(owner.last_used, T0 + SEC(50));
    /* Idle since 50 s, not since 0 s: still live at 100 s. */
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0 + SEC(100), &out),
                 APR_SUCCESS);

    /* A refused token (the cap) still renews the session and names it. */
    memset(&owner, 0, sizeof(owner));
    t = make_token(s.id, 2, T0 + SEC(150));
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 1, T0 + SEC(150), &owner),
                 DT_STORE_CAP);
    DT_CHECK_STR(owner.user, "user1");
    DT_CHECK_INT(f.st->ops->session_use(f.st, s.id, T0 + SEC(200), &out),
                 APR_SUCCESS);
    close_store(&f);
}

DT_TEST(token_expiry_and_session_end)
{
    fixture f;
    dt_session s = make_session(1, T0);
    dt_token t1 = make_token(s.id, 1, T0), t2 = make_token(s.id, 2, T0);
    dt_token out;
    dt_session used;
    dt_store_stats st;

    open_store(&f, 4, 8, 4, NULL);
    f.st->ops->session_put(f.st, &s, T0);
    f.st->ops->token_put(f.st, &t1, 10, T0, NULL);
    f.st->ops->token_put(f.st, &t2, 10, T0, NULL);

    /* The session, used at 50 s, is still live at 55 s: so is t1. */
    f.st->ops->session_use(f.st, s.id, T0 + SEC(50), &used);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, t1.token, T0 + SEC(55), 0, pool, &out),
        APR_SUCCESS);

    /* Ending the session ends its tokens and frees their slots. */
    DT_CHECK_INT(f.st->ops->session_end(f.st, s.id, T0 + SEC(56)),
                 APR_SUCCESS);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, t1.token, T0 + SEC(56), 1, pool, &out),
        DT_STORE_NOTFOUND);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, t2.token, T0 + SEC(56), 1, pool, &out),
        DT_STORE_NOTFOUND);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 0);
    DT_CHECK_INT(st.sessions_live, 0);

    /* A token outlived by its own lifetime. */
    s = make_session(2, T0);
    s.idle_timeout = SEC(1000);
    f.st->ops->session_put(f.st, &s, T0);
    t1 = make_token(s.id, 3, T0);
    f.st->ops->token_put(f.st, &t1, 10, T0, NULL);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, t1.token, T0 + SEC(300), 1, pool, &out),
        DT_STORE_NOTFOUND);

    /* A token whose session idled out reports the session's end. */
    s = make_session(3, T0);
    f.st->ops->session_put(f.st, &s, T0);
    t1 = make_token(s.id, 4, T0);
    f.st->ops->token_put(f.st, &t1, 10, T0, NULL);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, t1.token, T0 + SEC(61), 1, pool, &out),
        DT_STORE_ENDED);
    DT_CHECK_INT(
        f.st->ops->token_take(f.st, t1.token, T0 + SEC(61), 1, pool, &out),
        DT_STORE_NOTFOUND);
    DT_CHECK(consistent(&f, &st));
    close_store(&f);
}

DT_TEST(token_caps_and_full_table)
{
    fixture f;
    dt_session a = make_session(1, T0), b = make_session(2, T0);
    dt_token t, out;
    dt_store_stats st;
    int i;

    open_store(&f, 4, 4, 4, NULL);
    f.st->ops->session_put(f.st, &a, T0);
    f.st->ops->session_put(f.st, &b, T0);

    for (i = 1; i <= 2; i++) {
        t = make_token(a.id, i, T0);
        DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 2, T0, NULL), APR_SUCCESS);
    }
    t = make_token(a.id, 3, T0);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 2, T0, NULL), DT_STORE_CAP);

    for (i = 4; i <= 5; i++) {
        t = make_token(b.id, i, T0);
        DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0, NULL),
                     APR_SUCCESS);
    }
    t = make_token(b.id, 6, T0);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0, NULL), DT_STORE_FULL);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 4);

    /* Every live token is still there: nothing was evicted. */
    for (i = 1; i <= 5; i++) {
        t = make_token(i <= 2 ? a.id : b.id, i, T0);
        if (i == 3) {
            continue;
        }
        DT_CHECK_INT(f.st->ops->token_take(f.st, t.token, T0, 0, pool, &out),
                     APR_SUCCESS);
    }

    /* A token for a session that does not exist is refused. */
    t = make_token("0000000000000000000000000000FFFF", 9, T0);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0, NULL),
                 DT_STORE_NOTFOUND);

    /* Logging a out frees room for b at once. */
    f.st->ops->session_end(f.st, a.id, T0);
    t = make_token(b.id, 6, T0);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0, NULL), APR_SUCCESS);
    DT_CHECK(consistent(&f, &st));
    close_store(&f);
}

DT_TEST(expired_tokens_do_not_count_against_the_cap)
{
    fixture f;
    dt_session a = make_session(1, T0);
    dt_token t;
    dt_store_stats st;

    open_store(&f, 4, 8, 4, NULL);
    a.idle_timeout = SEC(1000);
    f.st->ops->session_put(f.st, &a, T0);
    t = make_token(a.id, 1, T0);
    t.expires = T0 + SEC(10);
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 1, T0, NULL), APR_SUCCESS);
    t = make_token(a.id, 2, T0 + SEC(5));
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 1, T0 + SEC(5), NULL),
                 DT_STORE_CAP);
    t = make_token(a.id, 2, T0 + SEC(10));
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 1, T0 + SEC(10), NULL),
                 APR_SUCCESS);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 1);
    close_store(&f);
}

DT_TEST(full_token_table_reclaims_tokens_of_ended_sessions)
{
    fixture f;
    dt_session a = make_session(1, T0), b = make_session(2, T0);
    dt_token t;
    dt_store_stats st;
    int i;

    open_store(&f, 4, 3, 4, NULL);
    a.idle_timeout = SEC(10);
    f.st->ops->session_put(f.st, &a, T0);
    f.st->ops->session_put(f.st, &b, T0);
    for (i = 1; i <= 3; i++) {
        t = make_token(a.id, i, T0);
        f.st->ops->token_put(f.st, &t, 10, T0, NULL);
    }
    t = make_token(b.id, 4, T0 + SEC(11));
    DT_CHECK_INT(f.st->ops->token_put(f.st, &t, 10, T0 + SEC(11), NULL),
                 APR_SUCCESS);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 1);
    DT_CHECK_INT(st.sessions_live, 1);
    close_store(&f);
}

DT_TEST(many_tokens_in_one_store)
{
    fixture f;
    dt_session s = make_session(7, T0);
    dt_token t, out;
    dt_store_stats st;
    int i, found = 0;

    open_store(&f, 4, 20000, 2, NULL);
    f.st->ops->session_put(f.st, &s, T0);
    for (i = 0; i < 20000; i++) {
        t = make_token(s.id, i, T0);
        if (f.st->ops->token_put(f.st, &t, 20000, T0, NULL) != APR_SUCCESS) {
            break;
        }
    }
    DT_CHECK_INT(i, 20000);
    DT_CHECK(consistent(&f, &st));
    for (i = 0; i < 20000; i += 7) {
        t = make_token(s.id, i, T0);
        found += f.st->ops->token_take(f.st, t.token, T0, 1, pool, &out)
                 == APR_SUCCESS;
    }
    DT_CHECK_INT(found, (20000 + 6) / 7);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 20000 - found);
    DT_CHECK_INT(f.st->ops->session_end(f.st, s.id, T0), APR_SUCCESS);
    DT_CHECK(consistent(&f, &st));
    DT_CHECK_INT(st.tokens_live, 0);
    close_store(&f);
}

DT_TEST(layout_checks)
{
    fixture f;
    dt_shm_layout other;
    char junk[sizeof(apr_uint64_t) * 64];

    open_store(&f, 5, 6, 7, NULL);
    DT_CHECK(dt_shm_layout_matches(f.base, &f.layout));
    other = f.layout;
    other.max_calls = 8;
    DT_CHECK(!dt_shm_layout_matches(f.base, &other));
    DT_CHECK_INT(dt_shm_layout_of(f.base, &other), APR_SUCCESS);
    DT_CHECK_INT(other.token_capacity, 6);
    memset(junk, 0, sizeof(junk));
    DT_CHECK_INT(dt_shm_layout_of(junk, &other), APR_EGENERAL);
    DT_CHECK(dt_shm_size(&f.layout) > 5 * sizeof(dt_session));
    close_store(&f);
}

DT_TEST(snapshot_round_trip)
{
    fixture f, g;
    dt_session a = make_session(1, T0), b = make_session(2, T0), out;
    dt_token t1 = make_token(a.id, 1, T0), t2 = make_token(b.id, 2, T0);
    dt_token t3 = make_token(b.id, 3, T0), got;
    const char *path = apr_psprintf(pool, "/tmp/dt-test-snap.%d",
                                    (int)getpid());
    apr_uint32_t sessions, tokens;
    dt_store_stats st;

    open_store(&f, 4, 8, 4, NULL);
    f.st->ops->session_put(f.st, &a, T0);
    f.st->ops->session_put(f.st, &b, T0);
    f.st->ops->token_put(f.st, &t1, 10, T0, NULL);
    f.st->ops->token_put(f.st, &t2, 10, T0, NULL);
    t3.expires = T0 + SEC(5);
    f.st->ops->token_put(f.st, &t3, 10, T0, NULL);
    DT_CHECK_INT(dt_shm_store_save(f.st, path, T0, pool, &sessions, &tokens),
                 APR_SUCCESS);
    DT_CHECK_INT(sessions, 2);
    DT_CHECK_INT(tokens, 3);

    /* A new store, other capacities, read 10 s later: t3 has expired. */
    open_store(&g, 8, 16, 4, NULL);
    DT_CHECK_INT(
        dt_shm_store_load(g.st, path, T0 + SEC(10), pool, &sessions, &tokens),
        APR_SUCCESS);
    DT_CHECK_INT(sessions, 2);
    DT_CHECK_INT(tokens, 2);
    DT_CHECK_INT(g.st->ops->session_use(g.st, a.id, T0 + SEC(10), &out),
                 APR_SUCCESS);
    DT_CHECK_STR(out.user, "user1");
    DT_CHECK_INT(
        g.st->ops->token_take(g.st, t2.token, T0 + SEC(10), 1, pool, &got),
        APR_SUCCESS);
    DT_CHECK_STR(got.user, "user2");
    DT_CHECK_INT(got.ids[1], 1166);
    DT_CHECK_INT(
        g.st->ops->token_take(g.st, t3.token, T0 + SEC(10), 1, pool, &got),
        DT_STORE_NOTFOUND);
    DT_CHECK(consistent(&g, &st));

    /* The file is read once: a second start finds nothing. */
    DT_CHECK_INT(dt_shm_store_load(g.st, path, T0, pool, &sessions, &tokens),
                 APR_ENOENT);
    close_store(&f);
    close_store(&g);
}

DT_TEST(snapshot_rejects_a_damaged_file)
{
    fixture f;
    const char *path = apr_psprintf(pool, "/tmp/dt-test-bad.%d",
                                    (int)getpid());
    apr_uint32_t sessions, tokens;
    apr_file_t *file;
    dt_store_stats st;

    apr_file_open(&file, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE, 0600, pool);
    apr_file_puts("DTSNAP01 this is not what it claims", file);
    apr_file_close(file);
    open_store(&f, 4, 8, 4, NULL);
    DT_CHECK(dt_shm_store_load(f.st, path, T0, pool, &sessions, &tokens)
             != APR_SUCCESS);
    DT_CHECK_INT(sessions, 0);
    DT_CHECK(consistent(&f, &st));
    close_store(&f);
}

/* Eight processes race for each of 200 tokens: exactly one wins each. */
DT_TEST(processes_race_for_tokens)
{
    enum { RACERS = 8, TOKENS = 200 };
    apr_global_mutex_t *mutex;
    fixture f;
    dt_session s = make_session(1, T0);
    dt_token t;
    int *wins, i, r, total = 0, doubles = 0;

    DT_CHECK_INT(apr_global_mutex_create(&mutex, NULL, APR_LOCK_DEFAULT, pool),
                 APR_SUCCESS);
    open_store(&f, 4, TOKENS, 2, mutex);
    wins = mmap(NULL, sizeof(int) * TOKENS, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(wins, 0, sizeof(int) * TOKENS);
    f.st->ops->session_put(f.st, &s, T0);
    for (i = 0; i < TOKENS; i++) {
        t = make_token(s.id, i, T0);
        f.st->ops->token_put(f.st, &t, TOKENS, T0, NULL);
    }

    for (r = 0; r < RACERS; r++) {
        if (fork() == 0) {
            apr_pool_t *p;
            dt_token out;
            apr_pool_create(&p, NULL);
            for (i = 0; i < TOKENS; i++) {
                int k = (i + r * 25) % TOKENS;
                t = make_token(s.id, k, T0);
                if (f.st->ops->token_take(f.st, t.token, T0, 1, p, &out)
                    == APR_SUCCESS) {
                    __sync_fetch_and_add(&wins[k], 1);
                }
            }
            _exit(0);
        }
    }
    for (r = 0; r < RACERS; r++) {
        wait(NULL);
    }
    for (i = 0; i < TOKENS; i++) {
        total += wins[i];
        doubles += wins[i] > 1;
    }
    DT_CHECK_INT(total, TOKENS);
    DT_CHECK_INT(doubles, 0);
    munmap(wins, sizeof(int) * TOKENS);
    close_store(&f);
}

DT_TEST(equal_ct)
{
    DT_CHECK(dt_equal_ct("abcd", "abcd", 4));
    DT_CHECK(!dt_equal_ct("abcd", "abce", 4));
    DT_CHECK(!dt_equal_ct("xbcd", "abcd", 4));
    DT_CHECK(dt_equal_ct("", "", 0));
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);

    DT_RUN(session_put_use_end);
    DT_RUN(session_idle_timeout_slides_and_lifetime_is_absolute);
    DT_RUN(full_session_table_reclaims_expired_never_live);
    DT_RUN(token_taken_exactly_once);
    DT_RUN(token_put_is_a_use_of_the_session);
    DT_RUN(token_expiry_and_session_end);
    DT_RUN(token_caps_and_full_table);
    DT_RUN(expired_tokens_do_not_count_against_the_cap);
    DT_RUN(full_token_table_reclaims_tokens_of_ended_sessions);
    DT_RUN(many_tokens_in_one_store);
    DT_RUN(layout_checks);
    DT_RUN(snapshot_round_trip);
    DT_RUN(snapshot_rejects_a_damaged_file);
    DT_RUN(processes_race_for_tokens);
    DT_RUN(equal_ct);

    apr_terminate();
    return dt_test_summary();
}
