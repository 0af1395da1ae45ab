/*
 * test_params.c: the form parser, id lists, validators, the ;jsessionid=
 * path parameter and Cookie values.
 */

#include <stdlib.h>
#include <time.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dt_params.h"
#include "dt_test.h"

static apr_pool_t *pool;

/* Parses a NUL-terminated string with generous limits. */
static dt_parse_status parse(const char *s, apr_array_header_t **pairs)
{
    *pairs = apr_array_make(pool, 4, sizeof(dt_param));
    return dt_form_parse(pool, s, strlen(s), 8192, 256, *pairs);
}

static const dt_param *pair_at(apr_array_header_t *pairs, int i)
{
    return &APR_ARRAY_IDX(pairs, i, dt_param);
}

static apr_array_header_t *new_ids(void)
{
    return apr_array_make(pool, 4, sizeof(apr_uint64_t));
}

static apr_uint64_t id_at(apr_array_header_t *ids, int i)
{
    return APR_ARRAY_IDX(ids, i, apr_uint64_t);
}

/* ---- dt_form_parse ---- */

DT_TEST(form_simple_pairs)
{
    apr_array_header_t *pairs;

    DT_CHECK_INT(parse("loginname=alice&password=s3cret", &pairs),
                 DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 2);
    DT_CHECK_STR(pair_at(pairs, 0)->name, "loginname");
    DT_CHECK_STR(pair_at(pairs, 0)->value, "alice");
    DT_CHECK_STR(pair_at(pairs, 1)->name, "password");
    DT_CHECK_STR(pair_at(pairs, 1)->value, "s3cret");
}

DT_TEST(form_decoding)
{
    apr_array_header_t *pairs;

    DT_CHECK_INT(
        parse("id_call%5B%5D=1165%2C1166&a+b=c+d%2b%41%7e%7E", &pairs),
        DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 2);
    DT_CHECK_STR(pair_at(pairs, 0)->name, "id_call[]");
    DT_CHECK_STR(pair_at(pairs, 0)->value, "1165,1166");
    DT_CHECK_STR(pair_at(pairs, 1)->name, "a b");
    DT_CHECK_STR(pair_at(pairs, 1)->value, "c d+A~~");

    /* A high byte decodes as itself; UTF-8 is the caller's business. */
    DT_CHECK_INT(parse("n=%C3%A9%ff", &pairs), DT_PARSE_OK);
    DT_CHECK_STR(pair_at(pairs, 0)->value, "\xC3\xA9\xFF");

    /* Only the first '=' splits; later ones belong to the value. */
    DT_CHECK_INT(parse("a==b=c", &pairs), DT_PARSE_OK);
    DT_CHECK_STR(pair_at(pairs, 0)->name, "a");
    DT_CHECK_STR(pair_at(pairs, 0)->value, "=b=c");

    /* ';' is not a separator. */
    DT_CHECK_INT(parse("a=1;b=2", &pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 1);
    DT_CHECK_STR(pair_at(pairs, 0)->value, "1;b=2");
}

DT_TEST(form_bad_escapes)
{
    static const char *const bad[] = {
        "a=%",  "a=%4",   "a=%zz",   "a=%4z",     "a=%z4",  "a=%00", "%=1",
        "%4=1", "a%00=1", "a=1&b=%", "a=1&b=%G0", "a=%%41", "a=% 1", "a=1%"};
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        apr_array_header_t *pairs;
        dt_parse_status st = parse(bad[i], &pairs);

        if (st != DT_PARSE_BAD_ENCODING) {
            printf("  case \"%s\" gave %d\n", bad[i], (int)st);
        }
        DT_CHECK_INT(st, DT_PARSE_BAD_ENCODING);
        DT_CHECK_INT(pairs->nelts, 0);
    }
}

DT_TEST(form_raw_nul)
{
    static const char body[] = "a=1\0&b=2";
    static const char nul_sep[] = "a=1&\0&b=2";
    apr_array_header_t *pairs = apr_array_make(pool, 4, sizeof(dt_param));

    DT_CHECK_INT(dt_form_parse(pool, body, sizeof(body) - 1, 8192, 256, pairs),
                 DT_PARSE_BAD_ENCODING);
    DT_CHECK_INT(
        dt_form_parse(pool, nul_sep, sizeof(nul_sep) - 1, 8192, 256, pairs),
        DT_PARSE_BAD_ENCODING);
    DT_CHECK_INT(pairs->nelts, 0);
    /* Without the NUL, the same bytes are fine. */
    DT_CHECK_INT(dt_form_parse(pool, body, 3, 8192, 256, pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 1);
}

DT_TEST(form_repeats_kept_in_order)
{
    apr_array_header_t *pairs;

    DT_CHECK_INT(parse("id_call[]=1&x=y&id_call[]=2&id_call[]=1", &pairs),
                 DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 4);
    DT_CHECK_STR(pair_at(pairs, 0)->value, "1");
    DT_CHECK_STR(pair_at(pairs, 2)->value, "2");
    DT_CHECK_STR(pair_at(pairs, 3)->value, "1");
}

DT_TEST(form_empty_segments)
{
    apr_array_header_t *pairs;

    DT_CHECK_INT(parse("a=1&&b=2&", &pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 2);
    DT_CHECK_STR(pair_at(pairs, 1)->name, "b");

    DT_CHECK_INT(parse("&&&", &pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 0);

    DT_CHECK_INT(parse("&a", &pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 1);
    DT_CHECK_STR(pair_at(pairs, 0)->name, "a");
    DT_CHECK_STR(pair_at(pairs, 0)->value, "");

    /* "=" is not an empty segment: an empty name with an empty value. */
    DT_CHECK_INT(parse("=&=v&k=", &pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 3);
    DT_CHECK_STR(pair_at(pairs, 0)->name, "");
    DT_CHECK_STR(pair_at(pairs, 0)->value, "");
    DT_CHECK_STR(pair_at(pairs, 1)->name, "");
    DT_CHECK_STR(pair_at(pairs, 1)->value, "v");
    DT_CHECK_STR(pair_at(pairs, 2)->name, "k");
    DT_CHECK_STR(pair_at(pairs, 2)->value, "");
}

DT_TEST(form_empty_input)
{
    apr_array_header_t *pairs = apr_array_make(pool, 4, sizeof(dt_param));

    DT_CHECK_INT(dt_form_parse(pool, NULL, 0, 0, 0, pairs), DT_PARSE_OK);
    DT_CHECK_INT(dt_form_parse(pool, "", 0, 8192, 256, pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 0);
}

DT_TEST(form_max_len_boundary)
{
    apr_array_header_t *pairs = apr_array_make(pool, 4, sizeof(dt_param));
    const char *s = "abc=12345"; /* 9 bytes */

    DT_CHECK_INT(dt_form_parse(pool, s, 9, 9, 256, pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 1);
    DT_CHECK_INT(dt_form_parse(pool, s, 9, 8, 256, pairs), DT_PARSE_TOO_LONG);
    DT_CHECK_INT(pairs->nelts, 1);
    /* The length check comes first, before any other complaint. */
    DT_CHECK_INT(dt_form_parse(pool, "a=%", 3, 2, 256, pairs),
                 DT_PARSE_TOO_LONG);
}

DT_TEST(form_max_pairs_boundary)
{
    apr_array_header_t *pairs = apr_array_make(pool, 4, sizeof(dt_param));
    const char *three = "a=1&b=2&c=3";

    DT_CHECK_INT(dt_form_parse(pool, three, strlen(three), 8192, 3, pairs),
                 DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 3);

    pairs = apr_array_make(pool, 4, sizeof(dt_param));
    DT_CHECK_INT(dt_form_parse(pool, three, strlen(three), 8192, 2, pairs),
                 DT_PARSE_TOO_MANY);
    DT_CHECK_INT(pairs->nelts, 0);

    /* Empty segments are not pairs and do not count. */
    pairs = apr_array_make(pool, 4, sizeof(dt_param));
    DT_CHECK_INT(dt_form_parse(pool, "a=1&&&b=2&", 10, 8192, 2, pairs),
                 DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 2);

    pairs = apr_array_make(pool, 4, sizeof(dt_param));
    DT_CHECK_INT(dt_form_parse(pool, "a", 1, 8192, 0, pairs),
                 DT_PARSE_TOO_MANY);
}

DT_TEST(form_max_pairs_across_calls)
{
    apr_array_header_t *pairs = apr_array_make(pool, 4, sizeof(dt_param));
    const char *query = "a=1&b=2";
    const char *body = "c=3&d=4";

    /* Query then body into one array, one limit of 4: exactly fits. */
    DT_CHECK_INT(dt_form_parse(pool, query, 7, 8192, 4, pairs), DT_PARSE_OK);
    DT_CHECK_INT(dt_form_parse(pool, body, 7, 8192, 4, pairs), DT_PARSE_OK);
    DT_CHECK_INT(pairs->nelts, 4);

    /* Limit of 3: the body's second pair is one too many, and the failed
     * call leaves the query's pairs as they were. */
    pairs = apr_array_make(pool, 4, sizeof(dt_param));
    DT_CHECK_INT(dt_form_parse(pool, query, 7, 8192, 3, pairs), DT_PARSE_OK);
    DT_CHECK_INT(dt_form_parse(pool, body, 7, 8192, 3, pairs),
                 DT_PARSE_TOO_MANY);
    DT_CHECK_INT(pairs->nelts, 2);
    DT_CHECK_STR(pair_at(pairs, 1)->name, "b");
}

DT_TEST(form_error_restores_array)
{
    apr_array_header_t *pairs = apr_array_make(pool, 4, sizeof(dt_param));

    DT_CHECK_INT(dt_form_parse(pool, "x=1", 3, 8192, 256, pairs), DT_PARSE_OK);
    DT_CHECK_INT(dt_form_parse(pool, "a=1&b=2&c=%zz", 13, 8192, 256, pairs),
                 DT_PARSE_BAD_ENCODING);
    DT_CHECK_INT(pairs->nelts, 1);
    DT_CHECK_STR(pair_at(pairs, 0)->name, "x");
}

/* ---- dt_form_get_one ---- */

DT_TEST(form_get_one)
{
    apr_array_header_t *pairs;
    const char *v = "unset";

    DT_CHECK_INT(parse("type=1&action=download&type=1&sid=a&sid=b&e=", &pairs),
                 DT_PARSE_OK);
    DT_CHECK_INT(dt_form_get_one(pairs, "type", &v), 1);
    DT_CHECK_STR(v, "1");
    DT_CHECK_INT(dt_form_get_one(pairs, "action", &v), 1);
    DT_CHECK_STR(v, "download");
    DT_CHECK_INT(dt_form_get_one(pairs, "sid", &v), -1);
    DT_CHECK_INT(dt_form_get_one(pairs, "e", &v), 1);
    DT_CHECK_STR(v, "");
    v = "unset";
    DT_CHECK_INT(dt_form_get_one(pairs, "token", &v), 0);
    DT_CHECK(v == NULL);
    /* Names match exactly. */
    DT_CHECK_INT(dt_form_get_one(pairs, "Type", &v), 0);
    DT_CHECK_INT(dt_form_get_one(pairs, "typ", &v), 0);

    /* An empty value next to a non-empty one is a conflict too. */
    DT_CHECK_INT(parse("a=&a=x", &pairs), DT_PARSE_OK);
    DT_CHECK_INT(dt_form_get_one(pairs, "a", &v), -1);

    pairs = apr_array_make(pool, 1, sizeof(dt_param));
    DT_CHECK_INT(dt_form_get_one(pairs, "a", &v), 0);
}

/* ---- dt_ids_parse ---- */

DT_TEST(ids_lists_and_spaces)
{
    apr_array_header_t *ids = new_ids();

    DT_CHECK_INT(dt_ids_parse("1165,1166", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 2);
    DT_CHECK(id_at(ids, 0) == 1165 && id_at(ids, 1) == 1166);

    ids = new_ids();
    DT_CHECK_INT(dt_ids_parse(" 1165 ,\t1166\t, 7 ", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 3);
    DT_CHECK(id_at(ids, 2) == 7);

    ids = new_ids();
    DT_CHECK_INT(dt_ids_parse("42", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 1);
    DT_CHECK(id_at(ids, 0) == 42);

    /* Leading zeros are the same id. */
    DT_CHECK_INT(dt_ids_parse("0042", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 1);
}

DT_TEST(ids_duplicates_folded)
{
    apr_array_header_t *ids = new_ids();

    DT_CHECK_INT(dt_ids_parse("3,1,3,2,1", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 3);
    DT_CHECK(id_at(ids, 0) == 3 && id_at(ids, 1) == 1 && id_at(ids, 2) == 2);

    /* Repeated parameters and lists mix into one array. */
    DT_CHECK_INT(dt_ids_parse("2", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(dt_ids_parse("4,3", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 4);
    DT_CHECK(id_at(ids, 3) == 4);
}

DT_TEST(ids_bad_elements)
{
    static const char *const bad[] = {
        "",
        " ",
        "0",
        "00",
        "1,0",
        "-1",
        "+1",
        "1,,2",
        ",1",
        "1,",
        "1, ,2",
        "1 2",
        "12a",
        "a",
        "0x10",
        "1.5",
        "1;2",
        "\xEF\xBC\x91",
        "1234567890123456789",  /* 19 digits */
        "0000000000000000001",  /* 19 digits, leading zeros */
        "18446744073709551616", /* 2^64 */
        "99999999999999999999999999999999"};
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        apr_array_header_t *ids = new_ids();
        dt_ids_status st = dt_ids_parse(bad[i], ids, 100);

        if (st != DT_IDS_BAD) {
            printf("  case \"%s\" gave %d\n", bad[i], (int)st);
        }
        DT_CHECK_INT(st, DT_IDS_BAD);
    }
    DT_CHECK_INT(dt_ids_parse(NULL, new_ids(), 100), DT_IDS_BAD);
}

DT_TEST(ids_eighteen_digits)
{
    apr_array_header_t *ids = new_ids();

    DT_CHECK_INT(dt_ids_parse("999999999999999999", ids, 100), DT_IDS_OK);
    DT_CHECK(id_at(ids, 0) == APR_UINT64_C(999999999999999999));
    DT_CHECK_INT(dt_ids_parse("000000000000000001", ids, 100), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 2);
    DT_CHECK(id_at(ids, 1) == 1);
}

DT_TEST(ids_max_boundary)
{
    apr_array_header_t *ids = new_ids();

    DT_CHECK_INT(dt_ids_parse("1,2,3", ids, 3), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 3);
    /* Duplicates do not count against the limit. */
    DT_CHECK_INT(dt_ids_parse("3,2,1,1", ids, 3), DT_IDS_OK);
    DT_CHECK_INT(ids->nelts, 3);
    /* The fourth distinct id is one too many, in a later call too. */
    DT_CHECK_INT(dt_ids_parse("4", ids, 3), DT_IDS_TOO_MANY);
    DT_CHECK_INT(ids->nelts, 3);

    ids = new_ids();
    DT_CHECK_INT(dt_ids_parse("1,2,3,4", ids, 3), DT_IDS_TOO_MANY);
    DT_CHECK_INT(ids->nelts, 3);

    /* Too many is found before a later bad element: it stops early. */
    ids = new_ids();
    DT_CHECK_INT(dt_ids_parse("1,2,x", ids, 1), DT_IDS_TOO_MANY);
}

DT_TEST(ids_long_repeated_list_fast)
{
    const int n = 100000;
    char *list = malloc((apr_size_t)n * 5 + 1);
    char *distinct = malloc((apr_size_t)n * 7 + 1);
    apr_array_header_t *ids = new_ids();
    clock_t start, took;
    char *w;
    int i;

    w = list;
    for (i = 0; i < n; i++) {
        memcpy(w, "1165,", 5);
        w += 5;
    }
    w[-1] = '\0';

    start = clock();
    DT_CHECK_INT(dt_ids_parse(list, ids, 100), DT_IDS_OK);
    took = clock() - start;
    DT_CHECK_INT(ids->nelts, 1);
    DT_CHECK(id_at(ids, 0) == 1165);
    /* Linear work finishes in a few milliseconds; allow a slow CI. */
    DT_CHECK(took < CLOCKS_PER_SEC / 4);

    /* 100,000 distinct ids stop at the 101st. */
    w = distinct;
    for (i = 0; i < n; i++) {
        w += sprintf(w, "%d,", 100000 + i);
    }
    w[-1] = '\0';
    ids = new_ids();
    start = clock();
    DT_CHECK_INT(dt_ids_parse(distinct, ids, 100), DT_IDS_TOO_MANY);
    took = clock() - start;
    DT_CHECK_INT(ids->nelts, 100);
    DT_CHECK(took < CLOCKS_PER_SEC / 4);

    /* Two ids alternating: still cheap with a limit of 100. */
    w = list;
    for (i = 0; i < n; i++) {
        memcpy(w, (i % 2) ? "1166," : "1165,", 5);
        w += 5;
    }
    w[-1] = '\0';
    ids = new_ids();
    start = clock();
    DT_CHECK_INT(dt_ids_parse(list, ids, 100), DT_IDS_OK);
    took = clock() - start;
    DT_CHECK_INT(ids->nelts, 2);
    DT_CHECK(took < CLOCKS_PER_SEC / 4);

    free(list);
    free(distinct);
}

/* ---- validators ---- */

DT_TEST(session_id_validator)
{
    DT_CHECK_INT(dt_session_id_valid("E3D794FEE4638143C1C89C18F693EB6B"), 1);
    DT_CHECK_INT(dt_session_id_valid("0123456789ABCDEF0123456789ABCDEF"), 1);
    DT_CHECK_INT(dt_session_id_valid("e3d794fee4638143c1c89c18f693eb6b"), 0);
    DT_CHECK_INT(dt_session_id_valid("E3D794FEE4638143C1C89C18F693EB6"), 0);
    DT_CHECK_INT(dt_session_id_valid("E3D794FEE4638143C1C89C18F693EB6B0"), 0);
    DT_CHECK_INT(dt_session_id_valid("G3D794FEE4638143C1C89C18F693EB6B"), 0);
    DT_CHECK_INT(dt_session_id_valid("E3D794FEE4638143C1C89C18F693EB6 "), 0);
    DT_CHECK_INT(dt_session_id_valid(""), 0);
    DT_CHECK_INT(dt_session_id_valid(NULL), 0);
}

DT_TEST(token_validator)
{
    DT_CHECK_INT(dt_token_valid("NWnMJ4iKhVLOY0sUlGDX", 20), 1);
    DT_CHECK_INT(dt_token_valid("NWnMJ4iKhVLOY0sUlGDX", 19), 0);
    DT_CHECK_INT(dt_token_valid("NWnMJ4iKhVLOY0sUlGDX", 21), 0);
    DT_CHECK_INT(dt_token_valid("NWnMJ4iKhVLOY0sUlGD-", 20), 0);
    DT_CHECK_INT(dt_token_valid("NWnMJ4iKhVLOY0sUlGD ", 20), 0);
    DT_CHECK_INT(dt_token_valid("NWnMJ4iKhVLOY0sUlG\xC3\xA9", 20), 0);
    DT_CHECK_INT(dt_token_valid("azAZ09", 6), 1);
    DT_CHECK_INT(dt_token_valid("", 0), 0);
    DT_CHECK_INT(dt_token_valid(NULL, 20), 0);
}

DT_TEST(sid_validator)
{
    char s65[66];

    DT_CHECK_INT(dt_sid_valid("a"), 1);
    DT_CHECK_INT(dt_sid_valid("20240101.123-ab_CD"), 1);
    DT_CHECK_INT(dt_sid_valid("a.."), 1);
    DT_CHECK_INT(dt_sid_valid("-x"), 1);
    DT_CHECK_INT(dt_sid_valid(".hidden"), 0);
    DT_CHECK_INT(dt_sid_valid(".."), 0);
    DT_CHECK_INT(dt_sid_valid("a/b"), 0);
    DT_CHECK_INT(dt_sid_valid("a b"), 0);
    DT_CHECK_INT(dt_sid_valid("a%2f"), 0);
    DT_CHECK_INT(dt_sid_valid(""), 0);
    DT_CHECK_INT(dt_sid_valid(NULL), 0);

    memset(s65, 'x', 65);
    s65[64] = '\0';
    DT_CHECK_INT(dt_sid_valid(s65), 1);
    s65[64] = 'x';
    s65[65] = '\0';
    DT_CHECK_INT(dt_sid_valid(s65), 0);
}

/* ---- dt_path_session_strip ---- */

/* Strips a pool copy of in; checks the path, the count and the id. */
static void check_strip(const char *in, const char *want_path, int want_count,
                        const char *want_id)
{
    char *path = apr_pstrdup(pool, in);
    const char *id = "unset";
    int n = dt_path_session_strip(pool, path, &id);

    DT_CHECK_INT(n, want_count);
    DT_CHECK_STR(path, want_path);
    if (want_id == NULL) {
        DT_CHECK(id == NULL);
    }
    else {
        DT_CHECK_STR(id, want_id);
    }
    if (dt_test_case_failed) {
        printf("  case \"%s\"\n", in);
    }
}

DT_TEST(path_strip_at_end)
{
    check_strip("/callrec/downloadtoken;jsessionid=ABC",
                "/callrec/downloadtoken", 1, "ABC");
}

DT_TEST(path_strip_middle)
{
    check_strip("/callrec;jsessionid=ABC/downloadtoken",
                "/callrec/downloadtoken", 1, "ABC");
    check_strip("/a;jsessionid=X;foo=bar/b", "/a;foo=bar/b", 1, "X");
}

DT_TEST(path_strip_upper_case)
{
    check_strip("/callrec/downloadtoken;JSESSIONID=ABC",
                "/callrec/downloadtoken", 1, "ABC");
    check_strip("/x;JSessionId=abc", "/x", 1, "abc");
}

DT_TEST(path_strip_two)
{
    check_strip("/a;jsessionid=ONE/b;jsessionid=TWO", "/a/b", 2, "ONE");
    check_strip("/a;jsessionid=ONE;jsessionid=TWO", "/a", 2, "ONE");
}

DT_TEST(path_strip_others_kept)
{
    check_strip("/a;foo=bar", "/a;foo=bar", 0, NULL);
    check_strip("/a;foo=bar;jsessionid=X;baz", "/a;foo=bar;baz", 1, "X");
    /* Near misses are not our parameter. */
    check_strip("/a;jsessionid", "/a;jsessionid", 0, NULL);
    check_strip("/a;xjsessionid=1", "/a;xjsessionid=1", 0, NULL);
    check_strip("/a;jsessionidx=1", "/a;jsessionidx=1", 0, NULL);
    check_strip("/a/jsessionid=1", "/a/jsessionid=1", 0, NULL);
    check_strip("", "", 0, NULL);
}

DT_TEST(path_strip_empty_value)
{
    check_strip("/a;jsessionid=", "/a", 1, "");
    check_strip("/a;jsessionid=/b", "/a/b", 1, "");
    check_strip("/a;jsessionid=;jsessionid=X", "/a", 2, "");
}

DT_TEST(path_strip_query_untouched)
{
    check_strip("/a;jsessionid=X?b=1;jsessionid=Y", "/a?b=1;jsessionid=Y", 1,
                "X");
    check_strip("/a?;jsessionid=Y", "/a?;jsessionid=Y", 0, NULL);
}

DT_TEST(path_strip_null)
{
    const char *id = "unset";

    DT_CHECK_INT(dt_path_session_strip(pool, NULL, &id), 0);
    DT_CHECK(id == NULL);
}

/* ---- dt_cookie_values ---- */

static apr_array_header_t *cookies(const char *header, const char *name,
                                   int max, int *count)
{
    apr_array_header_t *values = apr_array_make(pool, 2, sizeof(const char *));

    *count = dt_cookie_values(pool, header, name, values, max);
    return values;
}

#define COOKIE_AT(values, i) APR_ARRAY_IDX(values, i, const char *)

DT_TEST(cookie_basic)
{
    apr_array_header_t *v;
    int n;

    v = cookies("a=1; JSESSIONID=X;b=2", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_INT(v->nelts, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "X");

    v = cookies("JSESSIONID=ABC", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "ABC");
}

DT_TEST(cookie_several)
{
    apr_array_header_t *v;
    int n;

    v = cookies("JSESSIONID=OLD; x=y; JSESSIONID=NEW", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 2);
    DT_CHECK_STR(COOKIE_AT(v, 0), "OLD");
    DT_CHECK_STR(COOKIE_AT(v, 1), "NEW");

    /* max_values caps the count. */
    v = cookies("JSESSIONID=1; JSESSIONID=2; JSESSIONID=3", "JSESSIONID", 2,
                &n);
    DT_CHECK_INT(n, 2);
    DT_CHECK_INT(v->nelts, 2);
    DT_CHECK_STR(COOKIE_AT(v, 1), "2");
    v = cookies("JSESSIONID=1", "JSESSIONID", 0, &n);
    DT_CHECK_INT(n, 0);
}

/* httpd joins two Cookie headers into one value with ", ". */
DT_TEST(cookie_headers_joined_by_httpd)
{
    apr_array_header_t *v;
    int n;

    v = cookies("JSESSIONID=STALE, JSESSIONID=LIVE", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 2);
    DT_CHECK_STR(APR_ARRAY_IDX(v, 0, const char *), "STALE");
    DT_CHECK_STR(APR_ARRAY_IDX(v, 1, const char *), "LIVE");
    v = cookies("a=1; b=2, JSESSIONID=Z", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(APR_ARRAY_IDX(v, 0, const char *), "Z");
}

DT_TEST(cookie_quoted_and_spaces)
{
    apr_array_header_t *v;
    int n;

    v = cookies("JSESSIONID=\"X\"", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "X");

    v = cookies("  a=1 ;\tJSESSIONID = ABC \t;b=2", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "ABC");

    v = cookies("a=1;JSESSIONID= \"Q\" ", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "Q");

    /* A lone quote is not a quoted value. */
    v = cookies("JSESSIONID=\"", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "\"");

    v = cookies("JSESSIONID=;JSESSIONID=\"\"", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 2);
    DT_CHECK_STR(COOKIE_AT(v, 0), "");
    DT_CHECK_STR(COOKIE_AT(v, 1), "");
}

DT_TEST(cookie_no_match)
{
    int n;

    cookies("a=1; b=2", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 0);
    cookies("XJSESSIONID=1; JSESSIONIDX=2; jsessionid=3; JSESSIONID",
            "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 0);
    cookies("a=JSESSIONID=1", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 0);
    cookies("", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 0);
    cookies(";;; ;", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 0);
    cookies(NULL, "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 0);
}

DT_TEST(cookie_value_with_equals)
{
    apr_array_header_t *v;
    int n;

    v = cookies("JSESSIONID=a=b; XJSESSIONID=c", "JSESSIONID", 8, &n);
    DT_CHECK_INT(n, 1);
    DT_CHECK_STR(COOKIE_AT(v, 0), "a=b");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    DT_RUN(form_simple_pairs);
    DT_RUN(form_decoding);
    DT_RUN(form_bad_escapes);
    DT_RUN(form_raw_nul);
    DT_RUN(form_repeats_kept_in_order);
    DT_RUN(form_empty_segments);
    DT_RUN(form_empty_input);
    DT_RUN(form_max_len_boundary);
    DT_RUN(form_max_pairs_boundary);
    DT_RUN(form_max_pairs_across_calls);
    DT_RUN(form_error_restores_array);
    DT_RUN(form_get_one);
    DT_RUN(ids_lists_and_spaces);
    DT_RUN(ids_duplicates_folded);
    DT_RUN(ids_bad_elements);
    DT_RUN(ids_eighteen_digits);
    DT_RUN(ids_max_boundary);
    DT_RUN(ids_long_repeated_list_fast);
    DT_RUN(session_id_validator);
    DT_RUN(token_validator);
    DT_RUN(sid_validator);
    DT_RUN(path_strip_at_end);
    DT_RUN(path_strip_middle);
    DT_RUN(path_strip_upper_case);
    DT_RUN(path_strip_two);
    DT_RUN(path_strip_others_kept);
    DT_RUN(path_strip_empty_value);
    DT_RUN(path_strip_query_untouched);
    DT_RUN(path_strip_null);
    DT_RUN(cookie_basic);
    DT_RUN(cookie_several);
    DT_RUN(cookie_headers_joined_by_httpd);
    DT_RUN(cookie_quoted_and_spaces);
    DT_RUN(cookie_no_match);
    DT_RUN(cookie_value_with_equals);

    apr_pool_destroy(pool);
    return dt_test_summary();
}
