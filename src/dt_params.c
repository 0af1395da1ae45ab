/*
 * dt_params.c: request parameter parsers and value validators.
 *
 * The character classes are spelled out as ASCII ranges instead of
 * <ctype.h> calls: those depend on the process locale, and a server's
 * locale must not change which request is valid.
 */

#include <string.h>

#include <apr_strings.h>

#include "dt_params.h"

#define DT_SESSION_ID_CHARS 32
#define DT_SID_MAX_LEN 64

static int dt_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int dt_is_alnum(char c)
{
    return dt_is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int dt_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of one hex digit, or -1. */
static int dt_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

static char dt_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive (ASCII) test that s starts with the lower-case lit. */
static int dt_starts_with_nocase(const char *s, const char *lit)
{
    while (*lit) {
        if (dt_ascii_lower(*s) != *lit) {
            return 0;
        }
        s++;
        lit++;
    }
    return 1;
}

/* Decodes src[0..len) into a new pool string.  The output is never longer
 * than the input, so one allocation of len + 1 bytes is enough. */
static dt_parse_status dt_form_decode(apr_pool_t *p, const char *src,
                                      apr_size_t len, const char **out)
{
    char *buf = apr_palloc(p, len + 1);
    apr_size_t i = 0;
    apr_size_t o = 0;

    while (i < len) {
        char c = src[i];

        if (c == '%') {
            int hi, lo;

            if (len - i < 3) {
                return DT_PARSE_BAD_ENCODING;
            }
            hi = dt_hex_value(src[i + 1]);
            lo = dt_hex_value(src[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return DT_PARSE_BAD_ENCODING;
            }
            buf[o++] = (char)(hi * 16 + lo);
            i += 3;
        }
        else if (c == '+') {
            buf[o++] = ' ';
            i++;
        }
        else {
            /* Raw NULs are refused by the caller before we get here. */
            buf[o++] = c;
            i++;
        }
    }
    buf[o] = '\0';
    *out = buf;
    return DT_PARSE_OK;
}

dt_parse_status dt_form_parse(apr_pool_t *p, const char *data, apr_size_t len,
                              apr_size_t max_len, int max_pairs,
                              apr_array_header_t *pairs)
{
    int entry_nelts = pairs->nelts;
    dt_parse_status rv = DT_PARSE_OK;
    apr_size_t pos = 0;

    if (len > max_len) {
        return DT_PARSE_TOO_LONG;
    }
    if (len == 0) {
        return DT_PARSE_OK;
    }
    /* One check up front covers raw NULs in names, values and separators
     * alike, and lets the decoder treat the input as text. */
    if (memchr(data, '\0', len) != NULL) {
        return DT_PARSE_BAD_ENCODING;
    }

    while (pos < len) {
        const char *seg = data + pos;
        const char *amp = memchr(seg, '&', len - pos);
        apr_size_t seg_len = amp ? (apr_size_t)(amp - seg) : len - pos;
        const char *eq;
        apr_size_t name_len;
        dt_param *param;
        const char *name;
        const char *value;

        pos += seg_len + 1;
        if (seg_len == 0) {
            continue;
        }
        if (pairs->nelts >= max_pairs) {
            rv = DT_PARSE_TOO_MANY;
            break;
        }

        eq = memchr(seg, '=', seg_len);
        name_len = eq ? (apr_size_t)(eq - seg) : seg_len;
        rv = dt_form_decode(p, seg, name_len, &name);
        if (rv != DT_PARSE_OK) {
            break;
        }
        if (eq) {
            rv = dt_form_decode(p, eq + 1, seg_len - name_len - 1, &value);
            if (rv != DT_PARSE_OK) {
                break;
            }
        }
        else {
            value = "";
        }

        param = apr_array_push(pairs);
        param->name = name;
        param->value = value;
    }

    if (rv != DT_PARSE_OK) {
        /* A half-parsed request must not look like a smaller valid one. */
        pairs->nelts = entry_nelts;
    }
    return rv;
}

int dt_form_get_one(const apr_array_header_t *pairs, const char *name,
                    const char **value)
{
    const dt_param *elts = (const dt_param *)pairs->elts;
    const char *found = NULL;
    int i;

    for (i = 0; i < pairs->nelts; i++) {
        if (strcmp(elts[i].name, name) != 0) {
            continue;
        }
        if (found == NULL) {
            found = elts[i].value;
        }
        else if (strcmp(found, elts[i].value) != 0) {
            *value = found;
            return -1;
        }
    }
    *value = found;
    return found ? 1 : 0;
}

dt_ids_status dt_ids_parse(const char *value, apr_array_header_t *ids,
                           int max_ids)
{
    const char *s = value;

    if (value == NULL) {
        return DT_IDS_BAD;
    }

    for (;;) {
        apr_uint64_t id = 0;
        const apr_uint64_t *elts;
        int digits = 0;
        int i;

        while (dt_is_blank(*s)) {
            s++;
        }
        while (dt_is_digit(*s)) {
            if (++digits > DT_ID_MAX_DIGITS) {
                return DT_IDS_BAD;
            }
            id = id * 10 + (apr_uint64_t)(*s - '0');
            s++;
        }
        while (dt_is_blank(*s)) {
            s++;
        }
        /* Anything but a separator or the end here (a sign, a letter, a
         * blank inside the number) makes the element something else than
         * a decimal id; so does an empty element. */
        if (digits == 0 || id == 0 || (*s != ',' && *s != '\0')) {
            return DT_IDS_BAD;
        }

        /* A linear scan is enough: the array never grows past max_ids,
         * and the last id is checked first, so a long list repeating one
         * id costs one comparison per element. */
        elts = (const apr_uint64_t *)ids->elts;
        if (ids->nelts == 0 || elts[ids->nelts - 1] != id) {
            for (i = 0; i < ids->nelts; i++) {
                if (elts[i] == id) {
                    break;
                }
            }
            if (i == ids->nelts) {
                if (ids->nelts >= max_ids) {
                    return DT_IDS_TOO_MANY;
                }
                *(apr_uint64_t *)apr_array_push(ids) = id;
            }
        }

        if (*s == '\0') {
            return DT_IDS_OK;
        }
        s++;
    }
}

int dt_session_id_valid(const char *s)
{
    int i;

    if (s == NULL) {
        return 0;
    }
    for (i = 0; i < DT_SESSION_ID_CHARS; i++) {
        if (!dt_is_digit(s[i]) && !(s[i] >= 'A' && s[i] <= 'F')) {
            return 0;
        }
    }
    return s[i] == '\0';
}

int dt_token_valid(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (s == NULL || len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!dt_is_alnum(s[i])) {
            return 0;
        }
    }
    return s[i] == '\0';
}

int dt_sid_valid(const char *s)
{
    int i;

    if (s == NULL || s[0] == '\0' || s[0] == '.') {
        return 0;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if (i >= DT_SID_MAX_LEN) {
            return 0;
        }
        if (!dt_is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') {
            return 0;
        }
    }
    return 1;
}

int dt_path_session_strip(apr_pool_t *p, char *path, const char **id)
{
    static const char param[] = ";jsessionid=";
    const apr_size_t param_len = sizeof(param) - 1;
    char *rd = path;
    char *wr = path;
    int removed = 0;

    *id = NULL;
    if (path == NULL) {
        return 0;
    }

    /* One pass with a read and a write cursor, so a path stuffed with
     * parameters costs linear time. */
    while (*rd != '\0' && *rd != '?') {
        if (*rd == ';' && dt_starts_with_nocase(rd, param)) {
            const char *val = rd + param_len;
            apr_size_t val_len = strcspn(val, ";/?");

            if (removed == 0) {
                *id = apr_pstrmemdup(p, val, val_len);
            }
            removed++;
            rd += param_len + val_len;
            continue;
        }
        *wr++ = *rd++;
    }
    if (removed > 0) {
        /* Move the rest (the query, if any) and the NUL down too. */
        memmove(wr, rd, strlen(rd) + 1);
    }
    return removed;
}

int dt_cookie_values(apr_pool_t *p, const char *header, const char *name,
                     apr_array_header_t *values, int max_values)
{
    apr_size_t name_len;
    const char *s = header;
    int count = 0;

    if (header == NULL || name == NULL || max_values <= 0) {
        return 0;
    }
    name_len = strlen(name);

    while (*s != '\0' && count < max_values) {
        /* ',' too: httpd joins repeated Cookie headers with ", ", and
         * no cookie value may hold a comma. */
        apr_size_t item_len = strcspn(s, ";,");
        const char *end = s + item_len;
        const char *n = s;
        const char *n_end;
        const char *v;
        const char *v_end;

        while (n < end && dt_is_blank(*n)) {
            n++;
        }
        n_end = memchr(n, '=', (apr_size_t)(end - n));
        if (n_end != NULL) {
            v = n_end + 1;
            while (n_end > n && dt_is_blank(n_end[-1])) {
                n_end--;
            }
            if ((apr_size_t)(n_end - n) == name_len
                && memcmp(n, name, name_len) == 0) {
                v_end = end;
                while (v < v_end && dt_is_blank(*v)) {
                    v++;
                }
                while (v_end > v && dt_is_blank(v_end[-1])) {
                    v_end--;
                }
                if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"') {
                    v++;
                    v_end--;
                }
                *(const char **)apr_array_push(values) = apr_pstrmemdup(
                    p, v, (apr_size_t)(v_end - v));
                count++;
            }
        }
        s = (*end == ';' || *end == ',') ? end + 1 : end;
    }
    return count;
}
