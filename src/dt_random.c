/*
 * dt_random.c: session ids, tokens and log labels from the CSPRNG.
 */

#include <string.h>

#include <apr_general.h>
#include <apr_sha1.h>

#include "dt_random.h"

#define DT_SESSION_ID_BYTES (DT_SESSION_ID_LEN / 2)

/* 62 symbols; 248 = 4 * 62 is the largest multiple of 62 a byte holds, so
 * byte % 62 is uniform over the bytes below it. */
static const char dt_token_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
#define DT_TOKEN_ALPHABET_LEN 62
#define DT_TOKEN_BYTE_LIMIT 248

/* Wipes a buffer that held secret material in a way the compiler may not
 * drop as a dead store (APR 1.7 has no apr_memzero_explicit). */
static void dt_wipe(void *buf, apr_size_t len)
{
    volatile unsigned char *v = buf;

    while (len--) {
        *v++ = 0;
    }
}

apr_status_t dt_random_session_id(char out[DT_SESSION_ID_LEN + 1])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char raw[DT_SESSION_ID_BYTES];
    apr_status_t rv;
    int i;

    rv = apr_generate_random_bytes(raw, sizeof(raw));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (i = 0; i < DT_SESSION_ID_BYTES; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 0x0F];
    }
    out[DT_SESSION_ID_LEN] = '\0';
    dt_wipe(raw, sizeof(raw));
    return APR_SUCCESS;
}

apr_status_t dt_random_token(char *out, apr_size_t len)
{
    /* A refill draws this many bytes; 3/256 of them are rejected, so one
     * draw of twice the longest token almost always suffices. */
    unsigned char raw[DT_TOKEN_MAX_LEN * 2];
    apr_size_t have = 0;
    apr_status_t rv = APR_SUCCESS;

    if (out == NULL || len < DT_TOKEN_MIN_LEN || len > DT_TOKEN_MAX_LEN) {
        return APR_EINVAL;
    }
    while (have < len) {
        apr_size_t i;

        rv = apr_generate_random_bytes(raw, sizeof(raw));
        if (rv != APR_SUCCESS) {
            break;
        }
        for (i = 0; i < sizeof(raw) && have < len; i++) {
            if (raw[i] < DT_TOKEN_BYTE_LIMIT) {
                out[have++] =
                    dt_token_alphabet[raw[i] % DT_TOKEN_ALPHABET_LEN];
            }
        }
    }
    dt_wipe(raw, sizeof(raw));
    if (rv != APR_SUCCESS) {
        /* Never leave a half-random token that a caller could use. */
        dt_wipe(out, have);
        out[0] = '\0';
        return rv;
    }
    out[len] = '\0';
    return APR_SUCCESS;
}

void dt_log_hash(const char *secret, char out[9])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t ctx;
    const char *s = secret ? secret : "";
    int i;

    apr_sha1_init(&ctx);
    apr_sha1_update(&ctx, s, (unsigned int)strlen(s));
    apr_sha1_final(digest, &ctx);
    for (i = 0; i < 4; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 0x0F];
    }
    out[8] = '\0';
    dt_wipe(&ctx, sizeof(ctx));
}
