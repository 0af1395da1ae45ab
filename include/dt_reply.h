/*
 * dt_reply.h: the XML bodies that every service answers with.
 *
 * The bytes are part of the wire contract: known connectors cut the token
 * out of "<reply>" at offset 47 and the session id out of the login reply
 * at offset 55, so the 40-byte declaration below must never change.
 */
#ifndef DT_REPLY_H
#define DT_REPLY_H

#include <apr_pools.h>

#define DT_XML_PREFIX "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
#define DT_XML_PREFIX_LEN 40

/* Each returns a pool string: DT_XML_PREFIX + element + "\n".  Text and
 * attribute values are XML-escaped (& < > " ' and CR, which a parser
 * would otherwise fold into LF), and bytes that XML 1.0 forbids (controls
 * other than tab/CR/LF, invalid UTF-8, U+FFFE, U+FFFF) become '?'.  A NULL
 * text is written as the empty string. */

/* <ok sessionid="ID" number="1">Access is authorized.</ok> */
const char *dt_reply_login_ok(apr_pool_t *p, const char *session_id);

/* <ok>TEXT</ok> */
const char *dt_reply_ok(apr_pool_t *p, const char *text);

/* <reply>TOKEN</reply> */
const char *dt_reply_token(apr_pool_t *p, const char *token);

/* <error code="CODE">SENTENCE</error> */
const char *dt_reply_error(apr_pool_t *p, const char *code,
                           const char *sentence);

/* The escaping the functions above apply, for callers that build other
 * elements: a pool copy of text, safe as element text and inside a
 * double- or single-quoted attribute. */
const char *dt_reply_escape(apr_pool_t *p, const char *text);

#endif /* DT_REPLY_H */
