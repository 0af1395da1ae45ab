/*
 * fuzz_params.c: libFuzzer target for dt_form_parse, dt_form_get_one and
 * dt_ids_parse.
 *
 * The first input byte picks the limits, the rest is the form.  Every
 * result is compared with a naive reference written here from the rules
 * in dt_params.h, so the target finds wrong answers, not only crashes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dt_params.h"
#include "dt_fuzz.h"

static int ref_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Reference decoder: returns the decoded length, or -1 for a bad escape
 * or a NUL.  out has room for n bytes. */
static long ref_decode(const char *s, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '\0') {
            return -1;
        }
        if (s[i] == '%') {
            int v;

            if (i + 2 >= n) {
                return -1;
            }
            if (ref_hex((unsigned char)s[i + 1]) < 0
                || ref_hex((unsigned char)s[i + 2]) < 0) {
                return -1;
            }
            v = ref_hex((unsigned char)s[i + 1]) * 16
                + ref_hex((unsigned char)s[i + 2]);
            if (v == 0) {
                return -1;
            }
            out[o++] = (char)v;
            i += 2;
        }
        else {
            out[o++] = (s[i] == '+') ? ' ' : s[i];
        }
    }
    return (long)o;
}

/* Checks that the decoded string got equals the reference decoding of
 * s[0..n); returns 0 when the reference finds the part bad. */
static int check_part(const char *s, size_t n, const char *got, char *tmp)
{
    long want = ref_decode(s, n, tmp);

    if (want < 0) {
        return 0;
    }
    if (got != NULL) {
        /* strlen stopping early would mean a NUL inside the value. */
        CHECK(strlen(got) == (size_t)want);
        CHECK(memcmp(got, tmp, (size_t)want) == 0);
    }
    return 1;
}

/* Reference id list parser over one value; returns the dt_ids_status it
 * expects for a fresh array with a limit of max_ids, and fills ids. */
static dt_ids_status ref_ids(const char *v, apr_uint64_t *ids, int *n,
                             int max_ids)
{
    const char *p = v;

    *n = 0;
    for (;;) {
        const char *e = strchr(p, ',');
        const char *a = p, *b = e ? e : p + strlen(p);
        apr_uint64_t id = 0;
        int k;

        while (a < b && (*a == ' ' || *a == '\t')) {
            a++;
        }
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
            b--;
        }
        if (a == b || b - a > 18) {
            return DT_IDS_BAD;
        }
        for (; a < b; a++) {
            if (*a < '0' || *a > '9') {
                return DT_IDS_BAD;
            }
            id = id * 10 + (apr_uint64_t)(*a - '0');
        }
        if (id == 0) {
            return DT_IDS_BAD;
        }
        for (k = 0; k < *n && ids[k] != id; k++) {
        }
        if (k == *n) {
            if (*n >= max_ids) {
                return DT_IDS_TOO_MANY;
            }
            ids[(*n)++] = id;
        }
        if (e == NULL) {
            return DT_IDS_OK;
        }
        p = e + 1;
    }
}

static void check_ids(apr_pool_t *p, const apr_array_header_t *pairs)
{
    apr_array_header_t *all = apr_array_make(p, 4, sizeof(apr_uint64_t));
    const int max_all = 8;
    int i, j, k;

    for (i = 0; i < pairs->nelts; i++) {
        const char *v = APR_ARRAY_IDX(pairs, i, dt_param).value;
        apr_array_header_t *one = apr_array_make(p, 4, sizeof(apr_uint64_t));
        apr_uint64_t *ref = apr_palloc(p, sizeof(apr_uint64_t)
                                              * (strlen(v) / 2 + 2));
        int ref_n;
        dt_ids_status want = ref_ids(v, ref, &ref_n, 1000);
        dt_ids_status got = dt_ids_parse(v, one, 1000);

        CHECK(got == want);
        if (got == DT_IDS_OK) {
            CHECK(one->nelts == ref_n);
            for (j = 0; j < ref_n; j++) {
                CHECK(APR_ARRAY_IDX(one, j, apr_uint64_t) == ref[j]);
            }
        }

        /* The shared array, as the module uses it, with a small limit. */
        got = dt_ids_parse(v, all, max_all);
        CHECK(all->nelts <= max_all);
        if (got == DT_IDS_BAD) {
            CHECK(want == DT_IDS_BAD);
        }
    }
    for (j = 0; j < all->nelts; j++) {
        apr_uint64_t id = APR_ARRAY_IDX(all, j, apr_uint64_t);

        CHECK(id != 0 && id < APR_UINT64_C(1000000000000000000));
        for (k = 0; k < j; k++) {
            CHECK(APR_ARRAY_IDX(all, k, apr_uint64_t) != id);
        }
    }
}

static void check_get_one(const apr_array_header_t *pairs)
{
    int i, j;

    for (i = 0; i < pairs->nelts; i++) {
        const dt_param *a = &APR_ARRAY_IDX(pairs, i, dt_param);
        const char *v = NULL;
        int want = 1;
        int got = dt_form_get_one(pairs, a->name, &v);

        for (j = 0; j < pairs->nelts; j++) {
            const dt_param *b = &APR_ARRAY_IDX(pairs, j, dt_param);

            if (strcmp(a->name, b->name) == 0
                && strcmp(a->value, b->value) != 0) {
                want = -1;
            }
        }
        CHECK(got == want);
        CHECK(v != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    apr_array_header_t *pairs;
    const char *form;
    size_t len, pos, segments = 0, decoded_total = 0;
    int max_pairs, ref_bad = 0, i, preset;
    dt_parse_status st;
    char *tmp;

    if (size == 0) {
        return 0;
    }
    apr_pool_create(&p, root);
    max_pairs = data[0] & 0x3F;
    preset = (data[0] >> 6) & 1;
    form = (const char *)data + 1;
    len = size - 1;
    tmp = apr_palloc(p, len + 1);

    pairs = apr_array_make(p, 4, sizeof(dt_param));
    if (preset) {
        /* Pairs already there (a query before a body) count too. */
        dt_param *q = apr_array_push(pairs);

        q->name = "q";
        q->value = "1";
    }

    /* One past the limit is refused whatever the content. */
    if (len > 0) {
        CHECK(dt_form_parse(p, form, len, len - 1, max_pairs, pairs)
              == DT_PARSE_TOO_LONG);
        CHECK(pairs->nelts == preset);
    }

    st = dt_form_parse(p, form, len, len, max_pairs, pairs);

    /* What the reference expects: scan the segments in order; the first
     * problem met decides, as in the parser. */
    if (memchr(form, '\0', len) != NULL) {
        ref_bad = 1;
    }
    for (pos = 0; pos < len && !ref_bad;) {
        const char *seg = form + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t n = amp ? (size_t)(amp - seg) : len - pos;
        const char *eq = memchr(seg, '=', n);
        size_t name_n = eq ? (size_t)(eq - seg) : n;

        pos += n + 1;
        if (n == 0) {
            continue;
        }
        if ((int)segments + preset >= max_pairs) {
            CHECK(st == DT_PARSE_TOO_MANY);
            CHECK(pairs->nelts == preset);
            goto done;
        }
        if (!check_part(seg, name_n, NULL, tmp)
            || (eq && !check_part(eq + 1, n - name_n - 1, NULL, tmp))) {
            ref_bad = 1;
            break;
        }
        if (st == DT_PARSE_OK) {
            const dt_param *got = &APR_ARRAY_IDX(pairs, preset + (int)segments,
                                                 dt_param);

            check_part(seg, name_n, got->name, tmp);
            if (eq) {
                check_part(eq + 1, n - name_n - 1, got->value, tmp);
            }
            else {
                CHECK(got->value[0] == '\0');
            }
            decoded_total += strlen(got->name) + strlen(got->value);
        }
        segments++;
    }
    if (ref_bad) {
        CHECK(st == DT_PARSE_BAD_ENCODING);
        CHECK(pairs->nelts == preset);
        goto done;
    }
    CHECK(st == DT_PARSE_OK);
    CHECK(pairs->nelts == preset + (int)segments);
    CHECK(pairs->nelts <= max_pairs || segments == 0);
    /* Decoding never lengthens. */
    CHECK(decoded_total <= len);

    check_get_one(pairs);
    check_ids(p, pairs);

done:
    for (i = 0; i < pairs->nelts; i++) {
        CHECK(APR_ARRAY_IDX(pairs, i, dt_param).name != NULL);
    }
    apr_pool_destroy(p);
    return 0;
}
