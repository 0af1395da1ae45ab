/*
 * dt_random.h: session ids, tokens and log labels from the CSPRNG.
 *
 * Session ids and tokens are bearer secrets: anyone holding one acts as
 * its owner, so they come from apr_generate_random_bytes (the system's
 * CSPRNG), never from rand() or the time.
 */
#ifndef DT_RANDOM_H
#define DT_RANDOM_H

#include <apr.h>
#include <apr_errno.h>

#define DT_SESSION_ID_LEN 32
#define DT_TOKEN_MIN_LEN 16
#define DT_TOKEN_MAX_LEN 64

/* 16 bytes from apr_generate_random_bytes -> 32 upper-case hex + NUL. */
apr_status_t dt_random_session_id(char out[DT_SESSION_ID_LEN + 1]);

/* len (16..64) chars of [A-Za-z0-9] + NUL into out (len+1 bytes), from
 * apr_generate_random_bytes, without modulo bias (rejection sampling:
 * reject bytes >= 248, use byte % 62).  APR_EINVAL for a bad len (out
 * is then left untouched). */
apr_status_t dt_random_token(char *out, apr_size_t len);

/* Short, non-reversible label for logs: first 8 hex chars (lower case)
 * of SHA-1 of the secret (apr_sha1 from APR-util), NUL-terminated, in
 * out[9].  A NULL secret is hashed as the empty string. */
void dt_log_hash(const char *secret, char out[9]);

#endif /* DT_RANDOM_H */
