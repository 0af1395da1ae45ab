/*
 * dt_reply.c: the XML bodies that every service answers with.
 */

#include <string.h>

#include <apr_strings.h>

#include "dt_reply.h"

/* The longest replacement for one input byte: "&quot;" and "&apos;". */
#define DT_ESCAPE_MAX 6

/* Length of the well-formed UTF-8 sequence at s that encodes a character
 * XML 1.0 allows, or 0 when the bytes there are not one.  The ranges are
 * those of RFC 3629's table, so overlong forms, surrogates and code points
 * past U+10FFFF are refused along with stray continuation bytes. */
static apr_size_t dt_xml_char_len(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    apr_size_t n, i;

    if (c < 0x80) {
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        }
        else if (c == 0xED) {
            hi = 0x9F;
        }
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        }
        else if (c == 0xF4) {
            hi = 0x8F;
        }
    }
    else {
        return 0;
    }

    /* The NUL terminator fails these tests, so we never read past it. */
    if (s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    /* U+FFFE and U+FFFF are valid UTF-8 but not XML characters. */
    if (c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF)) {
        return 0;
    }
    return n;
}

/* 1 when the text is printable ASCII with nothing to escape, as tokens,
 * session ids, codes and our own sentences are: it can go out as is. */
static int dt_plain_ascii(const unsigned char *s)
{
    for (; *s != '\0'; s++) {
        if (*s < 0x20 || *s > 0x7E || *s == '&' || *s == '<' || *s == '>'
            || *s == '"' || *s == '\'') {
            return 0;
        }
    }
    return 1;
}

const char *dt_reply_escape(apr_pool_t *p, const char *text)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    apr_size_t len;
    char *out, *o;

    if (dt_plain_ascii(s)) {
        return (const char *)s;
    }
    len = strlen((const char *)s);
    out = apr_palloc(p, len * DT_ESCAPE_MAX + 1);
    o = out;

    while (*s != '\0') {
        apr_size_t n = dt_xml_char_len(s);
        const char *rep = NULL;

        if (n == 0) {
            *o++ = '?';
            s++;
            continue;
        }
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        default:
            break;
        }
        if (rep != NULL) {
            apr_size_t rep_len = strlen(rep);

            memcpy(o, rep, rep_len);
            o += rep_len;
        }
        else {
            memcpy(o, s, n);
            o += n;
        }
        s += n;
    }
    *o = '\0';
    return out;
}

const char *dt_reply_login_ok(apr_pool_t *p, const char *session_id)
{
    return apr_pstrcat(p, DT_XML_PREFIX, "<ok sessionid=\"",
                       dt_reply_escape(p, session_id),
                       "\" number=\"1\">Access is authorized.</ok>\n", NULL);
}

const char *dt_reply_ok(apr_pool_t *p, const char *text)
{
    return apr_pstrcat(p, DT_XML_PREFIX, "<ok>", dt_reply_escape(p, text),
                       "</ok>\n", NULL);
}

const char *dt_reply_token(apr_pool_t *p, const char *token)
{
    return apr_pstrcat(p, DT_XML_PREFIX, "<reply>", dt_reply_escape(p, token),
                       "</reply>\n", NULL);
}

const char *dt_reply_error(apr_pool_t *p, const char *code,
                           const char *sentence)
{
    return apr_pstrcat(p, DT_XML_PREFIX, "<error code=\"",
                       dt_reply_escape(p, code), "\">",
                       dt_reply_escape(p, sentence), "</error>\n", NULL);
}
