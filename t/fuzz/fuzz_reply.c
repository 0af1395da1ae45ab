/*
 * fuzz_reply.c: libFuzzer target for the dt_reply_* writers.
 *
 * Each reply is taken apart again: the fixed 40-byte prefix and the
 * element's fixed bytes must be intact, the escaped parts must hold no
 * markup, and unescaping them must give back the input, with '?' exactly
 * where the input was not XML 1.0 text (judged here by a decoder of our
 * own, written apart from the one in dt_reply.c).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dt_reply.h"
#include "dt_fuzz.h"

/* Length of the XML character encoded at s (which ends with a NUL), or
 * 0.  Decodes the code point, then judges it by value. */
static size_t ref_char_len(const unsigned char *s)
{
    unsigned long cp;
    size_t n, i;

    if (s[0] < 0x80) {
        n = 1;
        cp = s[0];
    }
    else if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    }
    else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    }
    else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* Overlong forms. */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
        || (n == 4 && cp < 0x10000)) {
        return 0;
    }
    if (cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF)
        || (cp >= 0xE000 && cp <= 0xFFFD)
        || (cp >= 0x10000 && cp <= 0x10FFFF)) {
        return n;
    }
    return 0;
}

/* What the escaped text must unescape to. */
static char *expected_text(apr_pool_t *p, const char *in)
{
    const unsigned char *s = (const unsigned char *)in;
    char *out = apr_palloc(p, strlen(in) + 1);
    char *o = out;

    while (*s != '\0') {
        size_t n = ref_char_len(s);

        if (n == 0) {
            *o++ = '?';
            s++;
        }
        else {
            memcpy(o, s, n);
            o += n;
            s += n;
        }
    }
    *o = '\0';
    return out;
}

/* Checks the escaped bytes esc[0..n) and that they unescape to the
 * expected form of in. */
static void check_escaped(apr_pool_t *p, const char *esc, size_t n,
                          const char *in)
{
    static const struct {
        const char *ref;
        char c;
    } refs[] = {{"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},
                {"&quot;", '"'}, {"&apos;", '\''}, {"&#13;", '\r'}};
    char *plain = apr_palloc(p, n + 1);
    size_t i = 0, o = 0, k;

    while (i < n) {
        unsigned char c = (unsigned char)esc[i];

        /* No markup and nothing a parser would rewrite inside. */
        CHECK(c != '<' && c != '>' && c != '"' && c != '\'' && c != '\r');
        CHECK(c >= 0x20 || c == '\t' || c == '\n');
        if (c == '&') {
            for (k = 0; k < sizeof(refs) / sizeof(refs[0]); k++) {
                size_t rl = strlen(refs[k].ref);

                if (n - i >= rl && memcmp(esc + i, refs[k].ref, rl) == 0) {
                    plain[o++] = refs[k].c;
                    i += rl;
                    break;
                }
            }
            CHECK(k < sizeof(refs) / sizeof(refs[0]));
            continue;
        }
        plain[o++] = (char)c;
        i++;
    }
    plain[o] = '\0';
    CHECK(strcmp(plain, expected_text(p, in)) == 0);
}

/* Checks that r is prefix + head + escaped(in) + tail, and returns the
 * position after the escaped part. */
static const char *check_around(apr_pool_t *p, const char *r, const char *head,
                                const char *in, const char *tail)
{
    size_t head_len = strlen(head);
    const char *start, *end;

    CHECK(r != NULL);
    CHECK(strncmp(r, DT_XML_PREFIX, DT_XML_PREFIX_LEN) == 0);
    start = r + DT_XML_PREFIX_LEN;
    CHECK(strncmp(start, head, head_len) == 0);
    start += head_len;
    /* The escaped part holds neither '<' nor '"', so the first of them
     * after it is where the fixed bytes resume. */
    end = start + strcspn(start, "<\"");
    CHECK(strncmp(end, tail, strlen(tail)) == 0);
    check_escaped(p, start, (size_t)(end - start), in);
    return end + strlen(tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *text, *code, *sentence, *r, *rest;

    apr_pool_create(&p, root);
    text = apr_pstrmemdup(p, (const char *)data, size);
    code = apr_pstrmemdup(p, (const char *)data, size / 2);
    sentence = text + size / 2;

    r = dt_reply_ok(p, text);
    rest = check_around(p, r, "<ok>", text, "</ok>\n");
    CHECK(*rest == '\0');

    r = dt_reply_token(p, text);
    rest = check_around(p, r, "<reply>", text, "</reply>\n");
    CHECK(*rest == '\0');

    r = dt_reply_login_ok(p, text);
    rest = check_around(p, r, "<ok sessionid=\"", text,
                        "\" number=\"1\">Access is authorized.</ok>\n");
    CHECK(*rest == '\0');

    r = dt_reply_error(p, code, sentence);
    rest = check_around(p, r, "<error code=\"", code, "\">");
    rest = check_around(p, apr_pstrcat(p, DT_XML_PREFIX, rest, NULL), "",
                        sentence, "</error>\n");
    CHECK(*rest == '\0');

    apr_pool_destroy(p);
    return 0;
}
