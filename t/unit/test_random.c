/*
 * test_random.c: session ids, tokens and log labels.
 */

#include <stdlib.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "dt_random.h"
#include "dt_test.h"

static apr_pool_t *pool;

static int in_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9');
}

DT_TEST(session_id_format)
{
    char id[DT_SESSION_ID_LEN + 2];
    apr_hash_t *seen = apr_hash_make(pool);
    int i, j;

    for (i = 0; i < 10000; i++) {
        memset(id, 'Z', sizeof(id));
        DT_CHECK_INT(dt_random_session_id(id), APR_SUCCESS);
        DT_CHECK_INT(strlen(id), 32);
        DT_CHECK(id[DT_SESSION_ID_LEN + 1] == 'Z');
        for (j = 0; j < DT_SESSION_ID_LEN; j++) {
            DT_CHECK((id[j] >= '0' && id[j] <= '9')
                     || (id[j] >= 'A' && id[j] <= 'F'));
        }
        DT_CHECK(apr_hash_get(seen, id, APR_HASH_KEY_STRING) == NULL);
        apr_hash_set(seen, apr_pstrdup(pool, id), APR_HASH_KEY_STRING, "");
        if (dt_test_case_failed) {
            break;
        }
    }
    DT_CHECK_INT(apr_hash_count(seen), 10000);
}

DT_TEST(token_every_length)
{
    char buf[DT_TOKEN_MAX_LEN + 2];
    apr_size_t len, i;

    for (len = DT_TOKEN_MIN_LEN; len <= DT_TOKEN_MAX_LEN; len++) {
        memset(buf, '#', sizeof(buf));
        DT_CHECK_INT(dt_random_token(buf, len), APR_SUCCESS);
        DT_CHECK_INT(strlen(buf), len);
        for (i = 0; i < len; i++) {
            DT_CHECK(in_alphabet(buf[i]));
        }
        /* Nothing is written past out[len]. */
        for (i = len + 1; i < sizeof(buf); i++) {
            DT_CHECK(buf[i] == '#');
        }
    }
}

DT_TEST(token_bad_lengths)
{
    static const apr_size_t bad[] = {0, 1, 15, 65, 100, (apr_size_t)-1};
    char buf[128];
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(buf, '#', sizeof(buf));
        DT_CHECK_INT(dt_random_token(buf, bad[i]), APR_EINVAL);
        DT_CHECK(buf[0] == '#');
    }
    DT_CHECK_INT(dt_random_token(NULL, 20), APR_EINVAL);
}

DT_TEST(tokens_unique_and_unbiased)
{
    const int n = 100000;
    apr_hash_t *seen = apr_hash_make(pool);
    long counts[256];
    long expected, total = 0;
    int i, j, c;

    memset(counts, 0, sizeof(counts));
    for (i = 0; i < n; i++) {
        char *token = apr_palloc(pool, 21);

        if (dt_random_token(token, 20) != APR_SUCCESS) {
            DT_CHECK(!"dt_random_token failed");
            return;
        }
        for (j = 0; j < 20; j++) {
            counts[(unsigned char)token[j]]++;
        }
        if (apr_hash_get(seen, token, 20) != NULL) {
            DT_CHECK(!"duplicate token");
        }
        apr_hash_set(seen, token, 20, "");
    }
    DT_CHECK_INT(apr_hash_count(seen), n);

    /* 2,000,000 symbols over 62: about 32,258 each, sigma about 180.
     * Plain byte % 62 would give the first 8 symbols 25% more; a 4% band
     * catches that and never trips on chance. */
    expected = (long)n * 20 / 62;
    for (c = 0; c < 256; c++) {
        if (!in_alphabet((char)c)) {
            DT_CHECK(counts[c] == 0);
            continue;
        }
        total += counts[c];
        if (counts[c] < expected * 96 / 100
            || counts[c] > expected * 104 / 100) {
            printf("  '%c' seen %ld times, expected about %ld\n", c, counts[c],
                   expected);
            DT_CHECK(!"symbol frequency out of band");
        }
    }
    DT_CHECK_INT(total, (long)n * 20);
}

DT_TEST(log_hash_values)
{
    char out[10];

    memset(out, '#', sizeof(out));
    /* SHA-1("") = da39a3ee..., SHA-1("abc") = a9993e36... */
    dt_log_hash("", out);
    DT_CHECK_STR(out, "da39a3ee");
    DT_CHECK(out[9] == '#');
    dt_log_hash(NULL, out);
    DT_CHECK_STR(out, "da39a3ee");
    dt_log_hash("abc", out);
    DT_CHECK_STR(out, "a9993e36");
    dt_log_hash("E3D794FEE4638143C1C89C18F693EB6B", out);
    DT_CHECK_INT(strlen(out), 8);
    DT_CHECK(strstr("E3D794FEE4638143C1C89C18F693EB6B", out) == NULL);
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    DT_RUN(session_id_format);
    DT_RUN(token_every_length);
    DT_RUN(token_bad_lengths);
    DT_RUN(tokens_unique_and_unbiased);
    DT_RUN(log_hash_values);

    apr_pool_destroy(pool);
    return dt_test_summary();
}
