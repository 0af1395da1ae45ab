/*
 * dt_store_shm.h: the store that keeps sessions and tokens in one block of
 * shared memory, guarded by one global mutex.
 *
 * The block holds no pointers, only offsets and slot numbers, so every
 * process may map it at its own address, and it can outlive a generation
 * of the server (see mod_downloadtoken.c for who creates it and when).
 */
#ifndef DT_STORE_SHM_H
#define DT_STORE_SHM_H

#include <apr_global_mutex.h>

#include "dt_store.h"

typedef struct dt_shm_layout {
    apr_uint32_t session_capacity;
    apr_uint32_t token_capacity;
    apr_uint32_t max_calls; /* call ids one token slot holds */
} dt_shm_layout;

/* Bytes a block with this layout needs. */
apr_size_t dt_shm_size(const dt_shm_layout *layout);

/* Lays out an empty store in a zero-filled block of dt_shm_size() bytes.
 * The seed keys the hash index. */
void dt_shm_format(void *base, const dt_shm_layout *layout, apr_uint64_t seed);

/* 1 when the block was formatted by this code with this very layout. */
int dt_shm_layout_matches(const void *base, const dt_shm_layout *layout);

/* Reads the layout a formatted block was made with; APR_EGENERAL when
 * the block does not hold a store of this version. */
apr_status_t dt_shm_layout_of(const void *base, dt_shm_layout *layout);

/* A store handle over a formatted block, locking with `mutex`. */
dt_store *dt_shm_store_open(apr_pool_t *p, void *base,
                            apr_global_mutex_t *mutex);

/* Maps every page of the block into this process.  Each process of a
 * prefork server has its own page tables and would otherwise take its
 * first touch of each page as a fault, often inside the critical section,
 * where every other process waits for it. */
void dt_shm_prefault(const void *base, apr_size_t size);

/* A child process re-opens the mutex and hands the new handle here. */
void dt_shm_store_set_mutex(dt_store *st, apr_global_mutex_t *mutex);

/* Writes every live session and its live tokens to `path` (through a
 * temporary file renamed into place), for the next start to read. */
apr_status_t dt_shm_store_save(dt_store *st, const char *path, apr_time_t now,
                               apr_pool_t *p, apr_uint32_t *sessions,
                               apr_uint32_t *tokens);

/* Reads a file written by dt_shm_store_save into the store and removes
 * the file, so that a crash later cannot bring back tokens that were
 * consumed since.  Entries that expired meanwhile are dropped.
 * APR_ENOENT when there is no file. */
apr_status_t dt_shm_store_load(dt_store *st, const char *path, apr_time_t now,
                               apr_pool_t *p, apr_uint32_t *sessions,
                               apr_uint32_t *tokens);

#endif /* DT_STORE_SHM_H */
