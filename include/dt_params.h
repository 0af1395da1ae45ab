/*
 * dt_params.h: request parameter parsers and value validators.
 *
 * Everything here depends on APR alone, so the unit tests and the fuzz
 * targets link it without a server.  The parsers are strict on purpose:
 * a request that the legacy clients never send (a broken %-escape, a NUL
 * byte, a parameter given twice with two values) is refused rather than
 * guessed at, because a guess can turn into a different token's criteria.
 */
#ifndef DT_PARAMS_H
#define DT_PARAMS_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct dt_param {
    const char *name;  /* decoded, NUL-terminated */
    const char *value; /* decoded, NUL-terminated */
} dt_param;

typedef enum {
    DT_PARSE_OK = 0,
    DT_PARSE_BAD_ENCODING, /* malformed %-escape (not %XX hex), or a NUL
                              * byte raw or decoded (%00) */
    DT_PARSE_TOO_MANY,     /* more than max_pairs pairs */
    DT_PARSE_TOO_LONG      /* len > max_len */
} dt_parse_status;

/* Strict application/x-www-form-urlencoded parser for query strings and
 * bodies alike.  Appends dt_param to `pairs` (created by the caller with
 * apr_array_make(p, n, sizeof(dt_param))), in order, keeping repeats.
 * '+' decodes to space, "%XX" to the byte, anything else after '%' is an
 * error.  Empty segments ("a=1&&b=2", trailing '&') are skipped; a segment
 * without '=' is a name with an empty value.  Only '&' separates pairs.
 * max_pairs counts pairs across the whole `pairs` array (so a caller can
 * parse the query then the body into one array with one limit).  data may
 * be NULL when len == 0.  On any status but DT_PARSE_OK, `pairs` is given
 * back with the elements it had on entry. */
dt_parse_status dt_form_parse(apr_pool_t *p, const char *data, apr_size_t len,
                              apr_size_t max_len, int max_pairs,
                              apr_array_header_t *pairs);

/* Singular parameter lookup: returns 0 and sets *value to NULL when
 * absent, 1 when present (all occurrences have the same value; *value is
 * that value), -1 when it occurs with different values (*value is the
 * first one; the caller answers bad-parameter). */
int dt_form_get_one(const apr_array_header_t *pairs, const char *name,
                    const char **value);

typedef enum {
    DT_IDS_OK = 0,
    DT_IDS_BAD,     /* an element is not a decimal id: empty element,
                       * sign, non digit, > 18 digits, or zero */
    DT_IDS_TOO_MANY /* more than max_ids distinct ids */
} dt_ids_status;

/* The longest id accepted, in digits (leading zeros count): 18 digits
 * always fit an apr_uint64_t, and so a signed 64-bit column too. */
#define DT_ID_MAX_DIGITS 18

/* Parses one id_call[] value, a comma-separated list of decimal ids with
 * optional spaces/tabs around each element ("1165, 1166"), appending each
 * new id (apr_uint64_t) to `ids` (elt size sizeof(apr_uint64_t)) and
 * folding duplicates (first-seen order kept).  Called once per id_call[]
 * occurrence with the same array, so repeats and lists mix.  Stops early
 * (returns DT_IDS_TOO_MANY) as soon as a (max_ids+1)th distinct id shows;
 * `ids` never holds more than max_ids entries.  On an error `ids` keeps
 * what was appended before it; callers discard it. */
dt_ids_status dt_ids_parse(const char *value, apr_array_header_t *ids,
                           int max_ids);

/* Validators, each returns 1 when valid, 0 otherwise (NULL is invalid). */
int dt_session_id_valid(const char *s); /* exactly 32 chars [0-9A-F] */
int dt_token_valid(const char *s, apr_size_t len);
/* exactly len chars [A-Za-z0-9], len > 0 */
int dt_sid_valid(const char *s);
/* 1..64 chars of [A-Za-z0-9._-], not starting with '.' */

/* Path parameter: finds every ";jsessionid=VALUE" path parameter in the
 * path (name matched case-insensitively, VALUE runs to the next ';', '/',
 * '?' or the end), removes each one from `path` IN PLACE (other path
 * parameters such as ";foo=bar" stay), and sets *id to a pool copy of the
 * first VALUE (may be the empty string).  The scan ends at the first '?',
 * so a query string left on the path is never touched.  Returns the number
 * of parameters removed (0: path untouched, *id = NULL). */
int dt_path_session_strip(apr_pool_t *p, char *path, const char **id);

/* Cookie header: all values of cookies named `name` (exact, case
 * sensitive) in one Cookie header value, in order, appended to `values`
 * (array of const char *).  Handles "a=1; JSESSIONID=X;b=2", optional
 * spaces, quoted values ("\"X\"" -> X), and ',' between cookies, as in
 * the value httpd makes of several Cookie headers.  Stops after
 * max_values.  Returns the count appended.  (The module tries each, since
 * a browser can send a stale and a fresh JSESSIONID with different paths;
 * httpd's ap_cookie_read keeps only one of them.) */
int dt_cookie_values(apr_pool_t *p, const char *header, const char *name,
                     apr_array_header_t *values, int max_values);

#endif /* DT_PARAMS_H */
