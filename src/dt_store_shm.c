/*
 * dt_store_shm.c: sessions and one-time tokens in one block of shared
 * memory, divided into fixed-size slots, under one global mutex.
 *
 * The block, from offset 0:
 *
 *   +--------------------------------------+ 0
 *   | shm_header                           |  magic, layout, free-list
 *   |                                      |  heads, counts, sweep hints
 *   +--------------------------------------+ h->session_bucket_off
 *   | apr_uint32_t session_bucket[SB]      |  SB = power of two >= NS;
 *   |                                      |  1-based slot number, 0 empty
 *   +--------------------------------------+ h->session_slot_off
 *   | shm_session slot[NS]                 |  one session each
 *   +--------------------------------------+ h->token_bucket_off
 *   | apr_uint32_t token_bucket[TB]        |  as for sessions
 *   +--------------------------------------+ h->token_slot_off
 *   | token slot[NT], each:                |  stride h->token_slot_size
 *   |   shm_token                          |
 *   |   apr_uint64_t ids[max_calls]        |
 *   +--------------------------------------+ h->total_size
 *
 * Slots are numbered from 1 so that 0 can mean "none" in every link: a
 * number, unlike a pointer, means the same in each process whatever
 * address it mapped the block at.  A live slot is on the chain of its
 * hash bucket (`next`); a free slot is on its table's free list (the same
 * `next`).  A session also heads a doubly linked list of its own tokens,
 * so that ending a session ends its tokens without a scan of the token
 * table.
 *
 * The mutex guards every byte of the block: each operation below takes it
 * once, does all its reading and writing, and releases it.  A record is
 * written whole into a slot before the slot becomes reachable from the
 * index, so no reader ever sees half a record.
 *
 * A lookup hashes the id (FNV-1a keyed with a random seed) to a bucket
 * and walks that bucket's chain, comparing ids in constant time: O(1)
 * expected.  Expired entries are reclaimed when a lookup meets them, and
 * by a sweep of the whole table when it is full; a hint (the earliest
 * moment any survivor of the last sweep can expire) keeps a table full of
 * live entries from being swept again on every refused request.
 */
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "dt_store_shm.h"

#define DT_SHM_MAGIC APR_UINT64_C(0x3130484b54534454) /* "DTSTKH01" */
#define DT_SHM_VERSION 1

#define DT_SNAP_MAGIC "DTSNAP01"
#define DT_SNAP_SESSION 'S'
#define DT_SNAP_TOKEN 'T'
#define DT_SNAP_END 'E'

#define SLOT_FREE 0
#define SLOT_LIVE 1

typedef struct shm_header {
    apr_uint64_t magic;
    apr_uint32_t version;
    apr_uint32_t session_capacity;
    apr_uint32_t token_capacity;
    apr_uint32_t max_calls;
    apr_uint32_t session_buckets;
    apr_uint32_t token_buckets;
    apr_uint64_t session_slot_size;
    apr_uint64_t token_slot_size;
    apr_uint64_t session_bucket_off;
    apr_uint64_t session_slot_off;
    apr_uint64_t token_bucket_off;
    apr_uint64_t token_slot_off;
    apr_uint64_t total_size;
    apr_uint64_t seed;

    apr_uint32_t session_free; /* head of the free list */
    apr_uint32_t token_free;
    apr_uint32_t sessions_live;
    apr_uint32_t tokens_live;
    apr_time_t session_sweep_after; /* no session can expire before */
    apr_time_t token_sweep_after;   /* no token can expire before */

    apr_uint64_t sessions_created;
    apr_uint64_t tokens_issued;
    apr_uint64_t tokens_taken;
    apr_uint64_t sweeps;
    apr_uint64_t full_refusals;
} shm_header;

typedef struct shm_session {
    apr_uint32_t state;
    apr_uint32_t next;        /* bucket chain, or free list */
    apr_uint32_t tokens_head; /* first token of this session */
    apr_uint32_t pad;
    dt_session rec; /* rec.tokens_live is kept here */
} shm_session;

typedef struct shm_token {
    apr_uint32_t state;
    apr_uint32_t next;      /* bucket chain, or free list */
    apr_uint32_t session;   /* owning session's slot */
    apr_uint32_t sess_prev; /* neighbours in that session's */
    apr_uint32_t sess_next; /* list of tokens */
    apr_uint32_t n_ids;
    apr_int32_t type;
    apr_uint32_t token_len;
    apr_time_t created;
    apr_time_t expires;
    char token[DT_TOKEN_LEN_MAX + 1];
    char session_id[DT_ID_LEN + 1];
    char action[DT_ACTION_MAX + 1];
    char sid[DT_SID_MAX + 1];
} shm_token;

typedef struct shm_store {
    shm_header *h;
    apr_global_mutex_t *mutex;
} shm_store;

/* The fixed part of a token in a snapshot file; its ids follow. */
typedef struct snap_token {
    apr_time_t created;
    apr_time_t expires;
    apr_int32_t type;
    apr_uint32_t n_ids;
    char token[DT_TOKEN_LEN_MAX + 1];
    char action[DT_ACTION_MAX + 1];
    char sid[DT_SID_MAX + 1];
} snap_token;

typedef struct snap_header {
    char magic[8];
    apr_uint32_t session_size;
    apr_uint32_t token_size;
} snap_header;

/* ------------------------------------------------------------------ */
/* Shared helpers of the interface                                     */

apr_time_t dt_session_deadline(const dt_session *s)
{
    apr_time_t idle_end = s->last_used + s->idle_timeout;
    apr_time_t life_end = s->created + s->max_lifetime;

    return idle_end < life_end ? idle_end : life_end;
}

int dt_equal_ct(const void *a, const void *b, apr_size_t n)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char diff = 0;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        diff |= x[i] ^ y[i];
    }
    return diff == 0;
}

/* ------------------------------------------------------------------ */
/* Layout                                                              */

static apr_uint64_t align8(apr_uint64_t n)
{
    return (n + 7) & ~(apr_uint64_t)7;
}

static apr_uint32_t buckets_for(apr_uint32_t capacity)
{
    apr_uint32_t n = 1;

    while (n < capacity && n < 0x80000000u) {
        n <<= 1;
    }
    return n;
}

/* Fills in every size and offset of a header for a layout. */
static void plan_layout(shm_header *h, const dt_shm_layout *layout)
{
    apr_uint64_t off;

    h->session_capacity = layout->session_capacity;
    h->token_capacity = layout->token_capacity;
    h->max_calls = layout->max_calls;
    h->session_buckets = buckets_for(layout->session_capacity);
    h->token_buckets = buckets_for(layout->token_capacity);
    h->session_slot_size = align8(sizeof(shm_session));
    h->token_slot_size = align8(sizeof(shm_token))
                         + (apr_uint64_t)layout->max_calls
                               * sizeof(apr_uint64_t);

    off = align8(sizeof(shm_header));
    h->session_bucket_off = off;
    off += align8((apr_uint64_t)h->session_buckets * sizeof(apr_uint32_t));
    h->session_slot_off = off;
    off += h->session_slot_size * h->session_capacity;
    h->token_bucket_off = off;
    off += align8((apr_uint64_t)h->token_buckets * sizeof(apr_uint32_t));
    h->token_slot_off = off;
    off += h->token_slot_size * h->token_capacity;
    h->total_size = off;
}

apr_size_t dt_shm_size(const dt_shm_layout *layout)
{
    shm_header h;

    memset(&h, 0, sizeof(h));
    plan_layout(&h, layout);
    return (apr_size_t)h.total_size;
}

static apr_uint32_t *session_buckets(shm_header *h)
{
    return (apr_uint32_t *)((char *)h + h->session_bucket_off);
}

static apr_uint32_t *token_buckets(shm_header *h)
{
    return (apr_uint32_t *)((char *)h + h->token_bucket_off);
}

static shm_session *session_slot(shm_header *h, apr_uint32_t n)
{
    return (shm_session *)((char *)h + h->session_slot_off
                           + (n - 1) * h->session_slot_size);
}

static shm_token *token_slot(shm_header *h, apr_uint32_t n)
{
    return (shm_token *)((char *)h + h->token_slot_off
                         + (n - 1) * h->token_slot_size);
}

static apr_uint64_t *token_ids(shm_token *t)
{
    return (apr_uint64_t *)((char *)t + align8(sizeof(shm_token)));
}

/* Threads every slot of both tables onto its free list, in order. */
static void rebuild_free_lists(shm_header *h)
{
    apr_uint32_t n;

    h->session_free = 0;
    for (n = h->session_capacity; n >= 1; n--) {
        shm_session *s = session_slot(h, n);
        if (s->state != SLOT_LIVE) {
            s->state = SLOT_FREE;
            s->next = h->session_free;
            h->session_free = n;
        }
    }

    h->token_free = 0;
    for (n = h->token_capacity; n >= 1; n--) {
        shm_token *t = token_slot(h, n);
        if (t->state != SLOT_LIVE) {
            t->state = SLOT_FREE;
            t->next = h->token_free;
            h->token_free = n;
        }
    }
}

void dt_shm_format(void *base, const dt_shm_layout *layout, apr_uint64_t seed)
{
    shm_header *h = base;

    memset(h, 0, sizeof(*h));
    plan_layout(h, layout);
    memset((char *)h + sizeof(*h), 0, h->total_size - sizeof(*h));
    h->seed = seed;
    rebuild_free_lists(h);
    h->version = DT_SHM_VERSION;
    h->magic = DT_SHM_MAGIC;
}

apr_status_t dt_shm_layout_of(const void *base, dt_shm_layout *layout)
{
    const shm_header *h = base;

    if (h->magic != DT_SHM_MAGIC || h->version != DT_SHM_VERSION) {
        return APR_EGENERAL;
    }
    layout->session_capacity = h->session_capacity;
    layout->token_capacity = h->token_capacity;
    layout->max_calls = h->max_calls;
    return APR_SUCCESS;
}

void dt_shm_prefault(const void *base, apr_size_t size)
{
    const volatile char *p = base;
    apr_size_t off;
    char sink = 0;

    /* One read a page; 4096 is the smallest page size in use. */
    for (off = 0; off < size; off += 4096) {
        sink ^= p[off];
    }
    (void)sink;
}

int dt_shm_layout_matches(const void *base, const dt_shm_layout *layout)
{
    dt_shm_layout found;

    return dt_shm_layout_of(base, &found) == APR_SUCCESS
           && found.session_capacity == layout->session_capacity
           && found.token_capacity == layout->token_capacity
           && found.max_calls == layout->max_calls;
}

/* ------------------------------------------------------------------ */
/* The hash index                                                      */

static apr_uint32_t hash_id(const shm_header *h, const char *id,
                            apr_size_t len, apr_uint32_t buckets)
{
    apr_uint64_t hash = APR_UINT64_C(0xcbf29ce484222325) ^ h->seed;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        hash ^= (unsigned char)id[i];
        hash *= APR_UINT64_C(0x100000001b3);
    }
    return (apr_uint32_t)(hash ^ (hash >> 32)) & (buckets - 1);
}

static apr_uint32_t find_session(shm_header *h, const char *id)
{
    apr_uint32_t n;

    if (strlen(id) != DT_ID_LEN) {
        return 0;
    }
    n = session_buckets(h)[hash_id(h, id, DT_ID_LEN, h->session_buckets)];
    while (n != 0) {
        shm_session *s = session_slot(h, n);
        if (dt_equal_ct(s->rec.id, id, DT_ID_LEN)) {
            return n;
        }
        n = s->next;
    }
    return 0;
}

static apr_uint32_t find_token(shm_header *h, const char *token)
{
    apr_size_t len = strlen(token);
    apr_uint32_t n;

    if (len == 0 || len > DT_TOKEN_LEN_MAX) {
        return 0;
    }
    n = token_buckets(h)[hash_id(h, token, len, h->token_buckets)];
    while (n != 0) {
        shm_token *t = token_slot(h, n);
        if (t->token_len == len && dt_equal_ct(t->token, token, len)) {
            return n;
        }
        n = t->next;
    }
    return 0;
}

/* Takes slot n off the chain that starts at *head. */
static void unchain(apr_uint32_t *head, apr_uint32_t n,
                    apr_uint32_t *(*next_of)(shm_header *, apr_uint32_t),
                    shm_header *h)
{
    apr_uint32_t *link = head;

    while (*link != 0 && *link != n) {
        link = next_of(h, *link);
    }
    if (*link == n) {
        *link = *next_of(h, n);
    }
}

static apr_uint32_t *session_next(shm_header *h, apr_uint32_t n)
{
    return &session_slot(h, n)->next;
}

static apr_uint32_t *token_next(shm_header *h, apr_uint32_t n)
{
    return &token_slot(h, n)->next;
}

/* ------------------------------------------------------------------ */
/* Freeing                                                             */

static void free_token(shm_header *h, apr_uint32_t n)
{
    shm_token *t = token_slot(h, n);
    shm_session *owner = session_slot(h, t->session);
    apr_uint32_t bucket = hash_id(h, t->token, t->token_len, h->token_buckets);

    unchain(&token_buckets(h)[bucket], n, token_next, h);

    if (t->sess_prev != 0) {
        token_slot(h, t->sess_prev)->sess_next = t->sess_next;
    }
    else {
        owner->tokens_head = t->sess_next;
    }
    if (t->sess_next != 0) {
        token_slot(h, t->sess_next)->sess_prev = t->sess_prev;
    }
    owner->rec.tokens_live--;

    memset(t, 0, h->token_slot_size);
    t->state = SLOT_FREE;
    t->next = h->token_free;
    h->token_free = n;
    h->tokens_live--;
}

/* Frees a session and, walking its own list, each of its tokens. */
static void free_session(shm_header *h, apr_uint32_t n)
{
    shm_session *s = session_slot(h, n);
    apr_uint32_t bucket = hash_id(h, s->rec.id, DT_ID_LEN, h->session_buckets);

    while (s->tokens_head != 0) {
        free_token(h, s->tokens_head);
    }
    unchain(&session_buckets(h)[bucket], n, session_next, h);

    memset(s, 0, h->session_slot_size);
    s->state = SLOT_FREE;
    s->next = h->session_free;
    h->session_free = n;
    h->sessions_live--;
}

static int session_expired(const shm_session *s, apr_time_t now)
{
    return dt_session_deadline(&s->rec) <= now;
}

static apr_time_t min_time(apr_time_t a, apr_time_t b)
{
    return a < b ? a : b;
}

/* Reclaims every expired session (and its tokens) and notes when the
 * next one can expire.  Runs only when the table is full. */
static void sweep_sessions(shm_header *h, apr_time_t now)
{
    apr_time_t earliest = APR_INT64_MAX;
    apr_uint32_t n;

    for (n = 1; n <= h->session_capacity; n++) {
        shm_session *s = session_slot(h, n);
        if (s->state != SLOT_LIVE) {
            continue;
        }
        if (session_expired(s, now)) {
            free_session(h, n);
        }
        else {
            earliest = min_time(earliest, dt_session_deadline(&s->rec));
        }
    }
    h->session_sweep_after = earliest;
    h->sweeps++;
}

/* Reclaims every token that expired or whose session did. */
static void sweep_tokens(shm_header *h, apr_time_t now)
{
    apr_time_t earliest = APR_INT64_MAX;
    apr_uint32_t n;

    for (n = 1; n <= h->token_capacity; n++) {
        shm_token *t = token_slot(h, n);
        shm_session *owner;
        if (t->state != SLOT_LIVE) {
            continue;
        }
        owner = session_slot(h, t->session);
        if (session_expired(owner, now)) {
            free_session(h, t->session);
        }
        else if (t->expires <= now) {
            free_token(h, n);
        }
        else {
            earliest = min_time(
                earliest,
                min_time(t->expires, dt_session_deadline(&owner->rec)));
        }
    }
    h->token_sweep_after = earliest;
    h->sweeps++;
}

/* ------------------------------------------------------------------ */
/* Operations, each called with the mutex held                        */

static apr_status_t session_put_locked(shm_header *h, const dt_session *rec,
                                       apr_time_t now)
{
    apr_uint32_t n, bucket;
    shm_session *s;

    if (find_session(h, rec->id) != 0) {
        return DT_STORE_EXISTS;
    }
    if (h->session_free == 0 && now >= h->session_sweep_after) {
        sweep_sessions(h, now);
    }
    if (h->session_free == 0) {
        h->full_refusals++;
        return DT_STORE_FULL;
    }

    n = h->session_free;
    s = session_slot(h, n);
    h->session_free = s->next;

    memset(s, 0, h->session_slot_size);
    s->rec = *rec;
    s->rec.tokens_live = 0;
    s->state = SLOT_LIVE;
    bucket = hash_id(h, rec->id, DT_ID_LEN, h->session_buckets);
    s->next = session_buckets(h)[bucket];
    session_buckets(h)[bucket] = n;

    h->sessions_live++;
    h->sessions_created++;
    h->session_sweep_after = min_time(h->session_sweep_after,
                                      dt_session_deadline(rec));
    return APR_SUCCESS;
}

/* The live session with this id, reclaiming it if it has expired. */
static apr_uint32_t live_session(shm_header *h, const char *id, apr_time_t now)
{
    apr_uint32_t n = find_session(h, id);

    if (n != 0 && session_expired(session_slot(h, n), now)) {
        free_session(h, n);
        return 0;
    }
    return n;
}

/* Frees a session's tokens that outlived their own lifetime, so that
 * tokens left unused do not count against the session's cap. */
static void reclaim_expired_tokens_of(shm_header *h, shm_session *owner,
                                      apr_time_t now)
{
    apr_uint32_t n = owner->tokens_head;

    while (n != 0) {
        shm_token *t = token_slot(h, n);
        apr_uint32_t next = t->sess_next;
        if (t->expires <= now) {
            free_token(h, n);
        }
        n = next;
    }
}

/* Adds a token for its live session.  A token issued to a client is a
 * use of the session (`use_session`: its idle time is renewed and it is
 * copied to *owner_out); one restored from a snapshot is not. */
static apr_status_t token_put_locked(shm_header *h, const dt_token *rec,
                                     apr_uint32_t max_per_session,
                                     apr_time_t now, int use_session,
                                     dt_session *owner_out)
{
    apr_uint32_t owner_n, n, bucket;
    apr_size_t len = strlen(rec->token);
    shm_session *owner;
    shm_token *t;

    if (len == 0 || len > DT_TOKEN_LEN_MAX || rec->n_ids > h->max_calls) {
        return APR_EINVAL;
    }
    owner_n = live_session(h, rec->session_id, now);
    if (owner_n == 0) {
        return DT_STORE_NOTFOUND;
    }
    owner = session_slot(h, owner_n);
    if (use_session) {
        if (owner->rec.last_used < now) {
            owner->rec.last_used = now;
        }
        if (owner_out) {
            *owner_out = owner->rec;
        }
    }
    if (owner->rec.tokens_live >= max_per_session) {
        reclaim_expired_tokens_of(h, owner, now);
        if (owner->rec.tokens_live >= max_per_session) {
            return DT_STORE_CAP;
        }
    }
    if (find_token(h, rec->token) != 0) {
        return DT_STORE_EXISTS;
    }
    if (h->token_free == 0 && now >= h->token_sweep_after) {
        sweep_tokens(h, now);
        if (owner->state != SLOT_LIVE) {
            return DT_STORE_NOTFOUND;
        }
    }
    if (h->token_free == 0) {
        h->full_refusals++;
        return DT_STORE_FULL;
    }

    n = h->token_free;
    t = token_slot(h, n);
    h->token_free = t->next;

    memset(t, 0, h->token_slot_size);
    t->session = owner_n;
    t->n_ids = rec->n_ids;
    t->type = rec->type;
    t->token_len = (apr_uint32_t)len;
    t->created = rec->created;
    t->expires = rec->expires;
    memcpy(t->token, rec->token, len);
    memcpy(t->session_id, owner->rec.id, DT_ID_LEN);
    apr_cpystrn(t->action, rec->action, sizeof(t->action));
    apr_cpystrn(t->sid, rec->sid, sizeof(t->sid));
    if (rec->n_ids > 0) {
        memcpy(token_ids(t), rec->ids, rec->n_ids * sizeof(apr_uint64_t));
    }

    /* Whole record written: now make it reachable. */
    t->state = SLOT_LIVE;
    t->sess_next = owner->tokens_head;
    if (owner->tokens_head != 0) {
        token_slot(h, owner->tokens_head)->sess_prev = n;
    }
    owner->tokens_head = n;
    owner->rec.tokens_live++;
    bucket = hash_id(h, rec->token, len, h->token_buckets);
    t->next = token_buckets(h)[bucket];
    token_buckets(h)[bucket] = n;

    h->tokens_live++;
    h->tokens_issued++;
    h->token_sweep_after = min_time(
        h->token_sweep_after,
        min_time(rec->expires, dt_session_deadline(&owner->rec)));
    return APR_SUCCESS;
}

static void copy_token_out(shm_header *h, shm_token *t, apr_pool_t *p,
                           dt_token *out)
{
    shm_session *owner = session_slot(h, t->session);

    memset(out, 0, sizeof(*out));
    memcpy(out->token, t->token, t->token_len);
    memcpy(out->session_id, t->session_id, DT_ID_LEN);
    apr_cpystrn(out->user, owner->rec.user, sizeof(out->user));
    out->created = t->created;
    out->expires = t->expires;
    out->type = t->type;
    apr_cpystrn(out->action, t->action, sizeof(out->action));
    apr_cpystrn(out->sid, t->sid, sizeof(out->sid));
    out->n_ids = t->n_ids;
    out->ids = NULL;
    if (t->n_ids > 0) {
        out->ids = apr_pmemdup(p, token_ids(t),
                               t->n_ids * sizeof(apr_uint64_t));
    }
}

static apr_status_t token_take_locked(shm_header *h, const char *token,
                                      apr_time_t now, int consume,
                                      apr_pool_t *p, dt_token *out)
{
    apr_uint32_t n = find_token(h, token);
    shm_token *t;

    if (n == 0) {
        return DT_STORE_NOTFOUND;
    }
    t = token_slot(h, n);
    if (session_expired(session_slot(h, t->session), now)) {
        copy_token_out(h, t, p, out);
        free_session(h, t->session);
        return DT_STORE_ENDED;
    }
    if (t->expires <= now) {
        free_token(h, n);
        return DT_STORE_NOTFOUND;
    }

    copy_token_out(h, t, p, out);
    if (consume) {
        free_token(h, n);
        h->tokens_taken++;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Consistency check                                                   */

#define PROBLEM(...)                                                          \
    do {                                                                      \
        apr_snprintf(out->problem, sizeof(out->problem), __VA_ARGS__);        \
        return;                                                               \
    } while (0)

/* Counts a free list, and fails on a loop or a live slot in it. */
static apr_uint32_t free_list_length(shm_header *h, int sessions, int *ok)
{
    apr_uint32_t cap = sessions ? h->session_capacity : h->token_capacity;
    apr_uint32_t n = sessions ? h->session_free : h->token_free;
    apr_uint32_t count = 0;

    *ok = 1;
    while (n != 0) {
        apr_uint32_t state, next;
        if (n > cap || count > cap) {
            *ok = 0;
            return count;
        }
        state = sessions ? session_slot(h, n)->state : token_slot(h, n)->state;
        next = sessions ? session_slot(h, n)->next : token_slot(h, n)->next;
        if (state != SLOT_FREE) {
            *ok = 0;
            return count;
        }
        count++;
        n = next;
    }
    return count;
}

static void check_sessions(shm_header *h, dt_store_stats *out,
                           apr_uint64_t *tokens_counted)
{
    apr_uint32_t n, live = 0, free_count;
    int ok;

    *tokens_counted = 0;
    for (n = 1; n <= h->session_capacity; n++) {
        shm_session *s = session_slot(h, n);
        apr_uint32_t t, walked = 0, prev = 0;
        if (s->state != SLOT_LIVE) {
            continue;
        }
        live++;
        if (find_session(h, s->rec.id) != n) {
            PROBLEM("session slot %u is not reachable from the index", n);
        }
        for (t = s->tokens_head; t != 0; t = token_slot(h, t)->sess_next) {
            shm_token *tok;
            if (t > h->token_capacity || walked > h->token_capacity) {
                PROBLEM("session slot %u has a broken token list", n);
            }
            tok = token_slot(h, t);
            if (tok->state != SLOT_LIVE || tok->session != n
                || tok->sess_prev != prev) {
                PROBLEM("token slot %u is misplaced in session %u", t, n);
            }
            prev = t;
            walked++;
        }
        if (walked != s->rec.tokens_live) {
            PROBLEM("session slot %u counts %u tokens, holds %u", n,
                    s->rec.tokens_live, walked);
        }
        *tokens_counted += walked;
    }
    if (live != h->sessions_live) {
        PROBLEM("%u live session slots, header says %u", live,
                h->sessions_live);
    }
    free_count = free_list_length(h, 1, &ok);
    if (!ok || free_count + live != h->session_capacity) {
        PROBLEM("session free list holds %u of %u free slots", free_count,
                h->session_capacity - live);
    }
    out->consistent = 1;
}

static void check_tokens(shm_header *h, dt_store_stats *out,
                         apr_uint64_t tokens_in_lists)
{
    apr_uint32_t n, live = 0, free_count;
    int ok;

    out->consistent = 0;
    for (n = 1; n <= h->token_capacity; n++) {
        shm_token *t = token_slot(h, n);
        if (t->state != SLOT_LIVE) {
            continue;
        }
        live++;
        if (find_token(h, t->token) != n) {
            PROBLEM("token slot %u is not reachable from the index", n);
        }
        if (t->session == 0 || t->session > h->session_capacity
            || session_slot(h, t->session)->state != SLOT_LIVE) {
            PROBLEM("token slot %u belongs to no live session", n);
        }
    }
    if (live != h->tokens_live || live != tokens_in_lists) {
        PROBLEM("%u live token slots, header says %u, sessions hold "
                "%" APR_UINT64_T_FMT,
                live, h->tokens_live, tokens_in_lists);
    }
    free_count = free_list_length(h, 0, &ok);
    if (!ok || free_count + live != h->token_capacity) {
        PROBLEM("token free list holds %u of %u free slots", free_count,
                h->token_capacity - live);
    }
    out->consistent = 1;
}

static apr_status_t stats_locked(shm_header *h, int check, dt_store_stats *out)
{
    apr_uint64_t tokens_in_lists;

    memset(out, 0, sizeof(*out));
    out->sessions_live = h->sessions_live;
    out->sessions_capacity = h->session_capacity;
    out->tokens_live = h->tokens_live;
    out->tokens_capacity = h->token_capacity;
    out->max_calls = h->max_calls;
    out->sessions_created = h->sessions_created;
    out->tokens_issued = h->tokens_issued;
    out->tokens_taken = h->tokens_taken;
    out->sweeps = h->sweeps;
    out->full_refusals = h->full_refusals;
    out->bytes_total = (apr_size_t)h->total_size;
    out->session_slot_bytes = (apr_size_t)h->session_slot_size;
    out->token_slot_bytes = (apr_size_t)h->token_slot_size;

    if (!check) {
        out->consistent = 1;
        return APR_SUCCESS;
    }
    check_sessions(h, out, &tokens_in_lists);
    if (out->consistent) {
        check_tokens(h, out, tokens_in_lists);
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* The interface: lock, operate, unlock                                */

static apr_status_t lock(shm_store *ss)
{
    return ss->mutex ? apr_global_mutex_lock(ss->mutex) : APR_SUCCESS;
}

static void unlock(shm_store *ss)
{
    if (ss->mutex) {
        apr_global_mutex_unlock(ss->mutex);
    }
}

/* Each operation of the interface is one of the *_locked functions above,
 * run between taking and releasing the mutex: one critical section. */
#define UNDER_LOCK(st, call)                                                  \
    do {                                                                      \
        shm_store *ss_ = (st)->impl;                                          \
        apr_status_t rv_ = lock(ss_);                                         \
        shm_header *h = ss_->h;                                               \
        if (rv_ != APR_SUCCESS) {                                             \
            return rv_;                                                       \
        }                                                                     \
        rv_ = (call);                                                         \
        unlock(ss_);                                                          \
        return rv_;                                                           \
    } while (0)

static apr_status_t session_use_locked(shm_header *h, const char *id,
                                       apr_time_t now, dt_session *out)
{
    apr_uint32_t n = live_session(h, id, now);
    shm_session *s;

    if (n == 0) {
        return DT_STORE_NOTFOUND;
    }
    s = session_slot(h, n);
    if (s->rec.last_used < now) {
        s->rec.last_used = now;
    }
    *out = s->rec;
    return APR_SUCCESS;
}

static apr_status_t session_end_locked(shm_header *h, const char *id,
                                       apr_time_t now)
{
    apr_uint32_t n = live_session(h, id, now);

    if (n == 0) {
        return DT_STORE_NOTFOUND;
    }
    free_session(h, n);
    return APR_SUCCESS;
}

static apr_status_t shm_session_put(dt_store *st, const dt_session *s,
                                    apr_time_t now)
{
    UNDER_LOCK(st, session_put_locked(h, s, now));
}

static apr_status_t shm_session_use(dt_store *st, const char *id,
                                    apr_time_t now, dt_session *out)
{
    UNDER_LOCK(st, session_use_locked(h, id, now, out));
}

static apr_status_t shm_session_end(dt_store *st, const char *id,
                                    apr_time_t now)
{
    UNDER_LOCK(st, session_end_locked(h, id, now));
}

static apr_status_t shm_token_put(dt_store *st, const dt_token *t,
                                  apr_uint32_t max_per_session, apr_time_t now,
                                  dt_session *owner)
{
    UNDER_LOCK(st, token_put_locked(h, t, max_per_session, now, 1, owner));
}

static apr_status_t shm_token_take(dt_store *st, const char *token,
                                   apr_time_t now, int consume, apr_pool_t *p,
                                   dt_token *out)
{
    UNDER_LOCK(st, token_take_locked(h, token, now, consume, p, out));
}

static apr_status_t shm_stats(dt_store *st, int check, dt_store_stats *out)
{
    UNDER_LOCK(st, stats_locked(h, check, out));
}

static const dt_store_ops shm_ops = {
    "shm",         shm_session_put, shm_session_use, shm_session_end,
    shm_token_put, shm_token_take,  shm_stats};

dt_store *dt_shm_store_open(apr_pool_t *p, void *base,
                            apr_global_mutex_t *mutex)
{
    dt_store *st = apr_pcalloc(p, sizeof(*st));
    shm_store *ss = apr_pcalloc(p, sizeof(*ss));

    ss->h = base;
    ss->mutex = mutex;
    st->ops = &shm_ops;
    st->impl = ss;
    return st;
}

void dt_shm_store_set_mutex(dt_store *st, apr_global_mutex_t *mutex)
{
    ((shm_store *)st->impl)->mutex = mutex;
}

/* ------------------------------------------------------------------ */
/* Snapshots: live sessions, each followed by its live tokens          */

static apr_status_t write_session(apr_file_t *f, shm_header *h, shm_session *s,
                                  apr_uint32_t *tokens)
{
    char kind = DT_SNAP_SESSION;
    apr_uint32_t n;
    apr_status_t rv;

    if ((rv = apr_file_write_full(f, &kind, 1, NULL)) != APR_SUCCESS
        || (rv = apr_file_write_full(f, &s->rec, sizeof(s->rec), NULL))
               != APR_SUCCESS) {
        return rv;
    }
    for (n = s->tokens_head; n != 0; n = token_slot(h, n)->sess_next) {
        shm_token *t = token_slot(h, n);
        snap_token st;

        memset(&st, 0, sizeof(st));
        st.created = t->created;
        st.expires = t->expires;
        st.type = t->type;
        st.n_ids = t->n_ids;
        memcpy(st.token, t->token, sizeof(st.token));
        memcpy(st.action, t->action, sizeof(st.action));
        memcpy(st.sid, t->sid, sizeof(st.sid));
        kind = DT_SNAP_TOKEN;
        if ((rv = apr_file_write_full(f, &kind, 1, NULL)) != APR_SUCCESS
            || (rv = apr_file_write_full(f, &st, sizeof(st), NULL))
                   != APR_SUCCESS
            || (rv = apr_file_write_full(
                    f, token_ids(t), t->n_ids * sizeof(apr_uint64_t), NULL))
                   != APR_SUCCESS) {
            return rv;
        }
        (*tokens)++;
    }
    return APR_SUCCESS;
}

static apr_status_t write_snapshot(apr_file_t *f, shm_header *h,
                                   apr_time_t now, apr_uint32_t *sessions,
                                   apr_uint32_t *tokens)
{
    snap_header head;
    char kind = DT_SNAP_END;
    apr_uint32_t n;
    apr_status_t rv;

    memcpy(head.magic, DT_SNAP_MAGIC, sizeof(head.magic));
    head.session_size = sizeof(dt_session);
    head.token_size = sizeof(snap_token);
    if ((rv = apr_file_write_full(f, &head, sizeof(head), NULL))
        != APR_SUCCESS) {
        return rv;
    }
    for (n = 1; n <= h->session_capacity; n++) {
        shm_session *s = session_slot(h, n);
        if (s->state != SLOT_LIVE || session_expired(s, now)) {
            continue;
        }
        if ((rv = write_session(f, h, s, tokens)) != APR_SUCCESS) {
            return rv;
        }
        (*sessions)++;
    }
    return apr_file_write_full(f, &kind, 1, NULL);
}

apr_status_t dt_shm_store_save(dt_store *st, const char *path, apr_time_t now,
                               apr_pool_t *p, apr_uint32_t *sessions,
                               apr_uint32_t *tokens)
{
    shm_store *ss = st->impl;
    const char *tmp = apr_pstrcat(p, path, ".tmp", NULL);
    apr_file_t *f;
    apr_status_t rv;

    *sessions = *tokens = 0;
    rv = apr_file_open(&f, tmp,
                       APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE
                           | APR_FOPEN_BUFFERED,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if ((rv = lock(ss)) == APR_SUCCESS) {
        rv = write_snapshot(f, ss->h, now, sessions, tokens);
        unlock(ss);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_flush(f);
    }
    apr_file_close(f);
    if (rv == APR_SUCCESS) {
        rv = apr_file_rename(tmp, path, p);
    }
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
    }
    return rv;
}

static apr_status_t read_token(apr_file_t *f, shm_header *h,
                               const dt_session *owner, apr_time_t now,
                               apr_pool_t *p, apr_uint32_t *tokens)
{
    snap_token st;
    dt_token rec;
    apr_uint64_t *ids = NULL;
    apr_status_t rv;

    if ((rv = apr_file_read_full(f, &st, sizeof(st), NULL)) != APR_SUCCESS) {
        return rv;
    }
    if (st.n_ids > DT_CALLS_LIMIT) {
        return APR_EGENERAL;
    }
    if (st.n_ids > 0) {
        ids = apr_palloc(p, st.n_ids * sizeof(apr_uint64_t));
        rv = apr_file_read_full(f, ids, st.n_ids * sizeof(apr_uint64_t), NULL);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    if (owner == NULL || st.expires <= now) {
        return APR_SUCCESS; /* its session was dropped, or it expired */
    }

    memset(&rec, 0, sizeof(rec));
    st.token[DT_TOKEN_LEN_MAX] = st.action[DT_ACTION_MAX] = '\0';
    st.sid[DT_SID_MAX] = '\0';
    memcpy(rec.token, st.token, sizeof(rec.token));
    memcpy(rec.session_id, owner->id, sizeof(rec.session_id));
    memcpy(rec.action, st.action, sizeof(rec.action));
    memcpy(rec.sid, st.sid, sizeof(rec.sid));
    rec.created = st.created;
    rec.expires = st.expires;
    rec.type = st.type;
    rec.n_ids = st.n_ids;
    rec.ids = ids;
    if (token_put_locked(h, &rec, APR_UINT32_MAX, now, 0, NULL)
        == APR_SUCCESS) {
        (*tokens)++;
    }
    return APR_SUCCESS;
}

static apr_status_t read_snapshot(apr_file_t *f, shm_header *h, apr_time_t now,
                                  apr_pool_t *p, apr_uint32_t *sessions,
                                  apr_uint32_t *tokens)
{
    snap_header head;
    dt_session owner;
    int have_owner = 0;
    apr_status_t rv;

    rv = apr_file_read_full(f, &head, sizeof(head), NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (memcmp(head.magic, DT_SNAP_MAGIC, sizeof(head.magic)) != 0
        || head.session_size != sizeof(dt_session)
        || head.token_size != sizeof(snap_token)) {
        return APR_EGENERAL;
    }
    for (;;) {
        char kind;
        if ((rv = apr_file_read_full(f, &kind, 1, NULL)) != APR_SUCCESS) {
            return rv;
        }
        if (kind == DT_SNAP_END) {
            return APR_SUCCESS;
        }
        if (kind == DT_SNAP_TOKEN) {
            rv = read_token(f, h, have_owner ? &owner : NULL, now, p, tokens);
        }
        else if (kind == DT_SNAP_SESSION) {
            rv = apr_file_read_full(f, &owner, sizeof(owner), NULL);
            owner.id[DT_ID_LEN] = owner.user[DT_USER_MAX] = '\0';
            have_owner = rv == APR_SUCCESS && dt_session_deadline(&owner) > now
                         && session_put_locked(h, &owner, now) == APR_SUCCESS;
            *sessions += have_owner;
        }
        else {
            return APR_EGENERAL;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
}

apr_status_t dt_shm_store_load(dt_store *st, const char *path, apr_time_t now,
                               apr_pool_t *p, apr_uint32_t *sessions,
                               apr_uint32_t *tokens)
{
    shm_store *ss = st->impl;
    apr_file_t *f;
    apr_status_t rv;

    *sessions = *tokens = 0;
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BUFFERED, 0, p);
    if (rv != APR_SUCCESS) {
        return APR_STATUS_IS_ENOENT(rv) ? APR_ENOENT : rv;
    }
    if ((rv = lock(ss)) == APR_SUCCESS) {
        rv = read_snapshot(f, ss->h, now, p, sessions, tokens);
        unlock(ss);
    }
    apr_file_close(f);

    /* Read once, never again: after this start, the memory is the truth. */
    apr_file_remove(path, p);
    return rv;
}
