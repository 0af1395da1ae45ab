/*
 * test_reply.c: the reply bodies, byte for byte, and their escaping.
 */

#include <stdlib.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "dt_reply.h"
#include "dt_test.h"

static apr_pool_t *pool;

DT_TEST(prefix_is_forty_bytes)
{
    DT_CHECK_INT(strlen(DT_XML_PREFIX), 40);
    DT_CHECK_INT(DT_XML_PREFIX_LEN, 40);
    DT_CHECK(memcmp(&DT_XML_PREFIX[38], "\r\n", 2) == 0);
}

DT_TEST(login_ok_bytes)
{
    const char *id = "BA803B97624F0880A4C58B78C733EB5B";
    const char *r = dt_reply_login_ok(pool, id);

    DT_CHECK_STR(r, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                    "<ok sessionid=\"BA803B97624F0880A4C58B78C733EB5B\""
                    " number=\"1\">Access is authorized.</ok>\n");
    /* Connectors cut the session id out at offset 55. */
    DT_CHECK(strncmp(r + 55, id, 32) == 0);
    DT_CHECK(r[55 + 32] == '"');
}

DT_TEST(token_bytes)
{
    const char *token = "NWnMJ4iKhVLOY0sUlGDX";
    const char *r = dt_reply_token(pool, token);

    DT_CHECK_STR(r, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                    "<reply>NWnMJ4iKhVLOY0sUlGDX</reply>\n");
    /* Connectors cut the token out at offset 47. */
    DT_CHECK(strncmp(r + 47, token, 20) == 0);
    DT_CHECK(r[47 + 20] == '<');
    DT_CHECK_INT(strlen(r), 40 + 7 + 20 + 8 + 1);
}

DT_TEST(ok_bytes)
{
    DT_CHECK_STR(dt_reply_ok(pool, "Session closed."),
                 DT_XML_PREFIX "<ok>Session closed.</ok>\n");
    DT_CHECK_STR(dt_reply_ok(pool, ""), DT_XML_PREFIX "<ok></ok>\n");
    DT_CHECK_STR(dt_reply_ok(pool, NULL), DT_XML_PREFIX "<ok></ok>\n");
}

DT_TEST(error_bytes)
{
    DT_CHECK_STR(
        dt_reply_error(pool, "no-session", "No valid session was presented."),
        DT_XML_PREFIX "<error code=\"no-session\">No valid session"
                      " was presented.</error>\n");
    DT_CHECK_STR(dt_reply_error(pool, NULL, NULL),
                 DT_XML_PREFIX "<error code=\"\"></error>\n");
}

DT_TEST(escaping_markup)
{
    DT_CHECK_STR(dt_reply_escape(pool, "a&b<c>d\"e'f"),
                 "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    DT_CHECK_STR(dt_reply_escape(pool, "&amp;"), "&amp;amp;");
    DT_CHECK_STR(dt_reply_ok(pool, "</ok><x>"),
                 DT_XML_PREFIX "<ok>&lt;/ok&gt;&lt;x&gt;</ok>\n");
    DT_CHECK_STR(dt_reply_error(pool, "a\"b", "<&>"),
                 DT_XML_PREFIX "<error code=\"a&quot;b\">&lt;&amp;&gt;"
                               "</error>\n");
    DT_CHECK_STR(dt_reply_login_ok(pool, "\" x=\"y"),
                 DT_XML_PREFIX "<ok sessionid=\"&quot; x=&quot;y\""
                               " number=\"1\">Access is authorized.</ok>\n");
    DT_CHECK_STR(dt_reply_token(pool, "'"),
                 DT_XML_PREFIX "<reply>&apos;</reply>\n");
}

DT_TEST(escaping_controls)
{
    /* Tab and LF pass, CR is kept as a reference, other controls go. */
    DT_CHECK_STR(dt_reply_escape(pool, "a\tb\nc\rd"), "a\tb\nc&#13;d");
    DT_CHECK_STR(dt_reply_escape(pool, "\x01\x08\x0b\x0c\x1f|\x7f"),
                 "?????|\x7f");
}

DT_TEST(escaping_utf8)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {{"caf\xC3\xA9", "caf\xC3\xA9"},           /* U+00E9 */
                 {"\xE2\x82\xAC", "\xE2\x82\xAC"},         /* U+20AC */
                 {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"}, /* U+1F600 */
                 {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"}, /* U+10FFFF */
                 {"\xEF\xBF\xBD", "\xEF\xBF\xBD"},         /* U+FFFD */
                 {"\xED\x9F\xBF", "\xED\x9F\xBF"},         /* U+D7FF */
                 {"\xEE\x80\x80", "\xEE\x80\x80"},         /* U+E000 */
                 {"\xC2\x80", "\xC2\x80"},                 /* U+0080 */
                 {"\xEF\xBF\xBE", "???"},                  /* U+FFFE */
                 {"\xEF\xBF\xBF", "???"},                  /* U+FFFF */
                 {"\xC0\x80", "??"},                       /* overlong NUL */
                 {"\xC1\xBF", "??"},                       /* overlong */
                 {"\xE0\x80\xAF", "???"},                  /* overlong '/' */
                 {"\xF0\x8F\xBF\xBF", "????"},             /* overlong */
                 {"\xED\xA0\x80", "???"},                  /* surrogate */
                 {"\xF4\x90\x80\x80", "????"},             /* > U+10FFFF */
                 {"\xF5\x80\x80\x80", "????"},
                 {"\xFF\xFE", "??"},
                 {"\x80x", "?x"},    /* stray */
                 {"\xE2\x82", "??"}, /* truncated */
                 {"\xE2\x82x", "??x"},
                 {"\xC3", "?"},
                 {"\xC3\xA9\xC3", "\xC3\xA9?"}};
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = dt_reply_escape(pool, cases[i].in);

        if (strcmp(got, cases[i].out) != 0) {
            printf("  case %d\n", (int)i);
        }
        DT_CHECK_STR(got, cases[i].out);
    }
}

DT_TEST(escaping_long_input)
{
    /* Every byte at its longest replacement: the buffer must hold it. */
    char in[1001];
    const char *out;

    memset(in, '"', 1000);
    in[1000] = '\0';
    out = dt_reply_escape(pool, in);
    DT_CHECK_INT(strlen(out), 6000);
    DT_CHECK(strncmp(out + 5994, "&quot;", 6) == 0);
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    DT_RUN(prefix_is_forty_bytes);
    DT_RUN(login_ok_bytes);
    DT_RUN(token_bytes);
    DT_RUN(ok_bytes);
    DT_RUN(error_bytes);
    DT_RUN(escaping_markup);
    DT_RUN(escaping_controls);
    DT_RUN(escaping_utf8);
    DT_RUN(escaping_long_input);

    apr_pool_destroy(pool);
    return dt_test_summary();
}
