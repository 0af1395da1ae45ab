/*
 * fuzz_session.c: libFuzzer target for the ways a session id arrives:
 * dt_path_session_strip, dt_cookie_values and the validators.
 *
 * The input, cut at its first NUL as a C string would be, serves as a
 * path, a Cookie header and a candidate id alike.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dt_params.h"
#include "dt_fuzz.h"

#define MAX_COOKIES 4

static int ref_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* Does s hold ";jsessionid=" (any case) before its first '?'? */
static int has_param(const char *s)
{
    static const char lit[] = ";jsessionid=";
    size_t i, k;

    for (i = 0; s[i] != '\0' && s[i] != '?'; i++) {
        for (k = 0;
             lit[k] != '\0' && ref_lower((unsigned char)s[i + k]) == lit[k];
             k++) {
        }
        if (lit[k] == '\0') {
            return 1;
        }
    }
    return 0;
}

/* Is a a subsequence of b? */
static int subsequence(const char *a, const char *b)
{
    while (*a != '\0') {
        b = strchr(b, *a);
        if (b == NULL) {
            return 0;
        }
        a++;
        b++;
    }
    return 1;
}

static void check_strip(apr_pool_t *p, const char *s)
{
    char *path = apr_pstrdup(p, s);
    size_t old_len = strlen(s);
    const char *q = strchr(s, '?');
    const char *id = "unset";
    const char *id2 = "unset";
    int n = dt_path_session_strip(p, path, &id);
    size_t new_len = strlen(path);

    CHECK(n >= 0);
    /* Stripping never lengthens the path, and takes 12 bytes at least
     * for each parameter. */
    CHECK(new_len <= old_len);
    CHECK(old_len - new_len >= (size_t)n * 12);
    if (n == 0) {
        CHECK(id == NULL);
        CHECK(strcmp(path, s) == 0);
    }
    else {
        CHECK(id != NULL);
        CHECK(strcspn(id, ";/?") == strlen(id));
        CHECK(strlen(id) <= old_len - 12);
        CHECK(has_param(s));
    }
    CHECK(subsequence(path, s));
    /* The query is never touched. */
    if (q != NULL) {
        size_t q_len = strlen(q);

        CHECK(new_len >= q_len);
        CHECK(strcmp(path + new_len - q_len, q) == 0);
    }
    /* Every parameter went in one pass, and none was formed anew. */
    CHECK(!has_param(path));
    CHECK(dt_path_session_strip(p, path, &id2) == 0);
    CHECK(id2 == NULL);
}

static void check_cookies(apr_pool_t *p, const char *s)
{
    apr_array_header_t *values = apr_array_make(p, 2, sizeof(const char *));
    size_t len = strlen(s);
    int n, i;

    n = dt_cookie_values(p, s, "JSESSIONID", values, MAX_COOKIES);
    CHECK(n >= 0 && n <= MAX_COOKIES);
    CHECK(values->nelts == n);
    for (i = 0; i < n; i++) {
        const char *v = APR_ARRAY_IDX(values, i, const char *);

        CHECK(v != NULL);
        CHECK(strchr(v, ';') == NULL && strchr(v, ',') == NULL);
        CHECK(strlen(v) + strlen("JSESSIONID=") <= len);
        /* A value is a piece of the header. */
        CHECK(strstr(s, v) != NULL);
    }
    if (n > 0) {
        CHECK(strstr(s, "JSESSIONID") != NULL);
    }
    CHECK(dt_cookie_values(p, s, "JSESSIONID", values, 0) == 0);
    CHECK(values->nelts == n);
}

static int ref_class(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = strlen(s);

    return n >= min && n <= max && strspn(s, set) == n;
}

static void check_validators(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "abcdefghijklmnopqrstuvwxyz0123456789";
    static const char sid[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "abcdefghijklmnopqrstuvwxyz0123456789._-";
    size_t len = strlen(s);

    CHECK(dt_session_id_valid(s) == ref_class(s, hex, 32, 32));
    CHECK(dt_token_valid(s, 20) == ref_class(s, alnum, 20, 20));
    CHECK(dt_token_valid(s, len) == ref_class(s, alnum, 1, (size_t)-1));
    if (len > 0) {
        CHECK(dt_token_valid(s, len - 1) == 0);
    }
    CHECK(dt_sid_valid(s) == (ref_class(s, sid, 1, 64) && s[0] != '.'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *s;

    apr_pool_create(&p, root);
    s = apr_pstrmemdup(p, (const char *)data, size);

    check_strip(p, s);
    check_cookies(p, s);
    check_validators(s);

    apr_pool_destroy(p);
    return 0;
}
