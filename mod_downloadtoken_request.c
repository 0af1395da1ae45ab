/*
 * mod_downloadtoken_request.c: what every service does with a request:
 * the XML reply, the parameters of the query and the form body, and the
 * session the request presents.
 */
#include "apr_strings.h"

#include "httpd.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"

#include "dt_params.h"
#include "dt_random.h"
#include "dt_reply.h"

#include "mod_downloadtoken.h"

/* Log lines from this file are tagged [downloadtoken:...] as well. */
APLOG_USE_MODULE(downloadtoken);

/* ------------------------------------------------------------------ */
/* Per request: replies                                                */

/* The reply and its end in one brigade, straight to the filters:
 * ap_rwrite would add a buffering filter for a body that is whole. */
int dt_send_xml(request_rec *r, const char *body)
{
    apr_size_t len = strlen(body);
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    apr_bucket_brigade *bb;
    apr_status_t rv;

    ap_set_content_type(r, "text/xml; charset=UTF-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, ba);
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_pool_create(body, len, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    rv = ap_pass_brigade(r->output_filters, bb);
    return (rv == APR_SUCCESS || r->connection->aborted) ? OK
                                                         : AP_FILTER_ERROR;
}

/* A client's mistake: HTTP 200 with an <error>, a line at debug level. */
int dt_send_error(request_rec *r, const char *code, const char *sentence)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, DT_LOG "%s: %s", code,
                  sentence);
    return dt_send_xml(r, dt_reply_error(r->pool, code, sentence));
}

int dt_send_server_error(request_rec *r, apr_status_t rv, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, DT_LOG "%s", what);
    return dt_send_xml(r, dt_reply_error(r->pool, "server-error",
                                         "The server could not complete the "
                                         "request."));
}

const char *dt_log_label(request_rec *r, const char *prefix,
                         const char *secret)
{
    char hash[9];

    dt_log_hash(secret, hash);
    return apr_pstrcat(r->pool, prefix, "#", hash, NULL);
}

/* ------------------------------------------------------------------ */
/* Per request: parameters                                             */

int dt_refuse(dt_request *req, const char *code, const char *text)
{
    req->error_code = code;
    req->error_text = text;
    return REFUSED;
}

/* An internal failure: logged with its cause, refused as server-error. */
int dt_refuse_server(request_rec *r, dt_request *req, apr_status_t rv,
                     const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, DT_LOG "%s", what);
    return dt_refuse(req, "server-error",
                     "The server could not complete the "
                     "request.");
}

int dt_send_refusal(request_rec *r, const dt_request *req)
{
    return dt_send_error(r, req->error_code, req->error_text);
}

static int has_form_type(request_rec *r)
{
    const char *type = apr_table_get(r->headers_in, "Content-Type");
    apr_size_t n = sizeof("application/x-www-form-urlencoded") - 1;

    if (type == NULL) {
        return 0;
    }
    while (*type == ' ' || *type == '\t') {
        type++;
    }
    return strncasecmp(type, "application/x-www-form-urlencoded", n) == 0
           && (type[n] == '\0' || type[n] == ';' || type[n] == ' '
               || type[n] == '\t');
}

static int refuse_parse(dt_request *req, dt_parse_status st)
{
    if (st == DT_PARSE_BAD_ENCODING) {
        return dt_refuse(req, "bad-parameter",
                         "A parameter is not properly "
                         "percent-encoded.");
    }
    return dt_refuse(req, "too-large",
                     "The request carries too many or "
                     "too large parameters.");
}

/* Reads at most `limit` bytes of body; a longer body is refused as soon
 * as it shows, without buffering it, and the connection is closed so
 * that httpd does not read the rest either. */
static int read_body(request_rec *r, dt_request *req, apr_off_t limit,
                     char **data, apr_size_t *len)
{
    apr_size_t got = 0;
    char *buf;
    int rc;

    *data = NULL;
    *len = 0;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        /* Over LimitRequestBody, httpd's own limit: still our answer. */
        r->connection->keepalive = AP_CONN_CLOSE;
        if (rc == HTTP_REQUEST_ENTITY_TOO_LARGE) {
            return dt_refuse(req, "too-large",
                             "The request body is too large.");
        }
        return dt_refuse(req, "bad-parameter",
                         "The request body could not be read.");
    }
    if (!ap_should_client_block(r)) {
        return OK;
    }
    if (r->remaining > limit) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return dt_refuse(req, "too-large", "The request body is too large.");
    }

    buf = apr_palloc(r->pool, (apr_size_t)limit + 1);
    for (;;) {
        long n = ap_get_client_block(r, buf + got,
                                     (apr_size_t)limit + 1 - got);
        if (n < 0) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return dt_refuse(req, "bad-parameter",
                             "The request body could "
                             "not be read.");
        }
        if (n == 0) {
            break;
        }
        got += (apr_size_t)n;
        if (got > (apr_size_t)limit) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return dt_refuse(req, "too-large",
                             "The request body is too "
                             "large.");
        }
    }
    *data = buf;
    *len = got;
    return OK;
}

static int body_announced(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    return apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
           || (cl != NULL && strcmp(cl, "0") != 0);
}

/* Collects the parameters of the query string and, for a POST, of the
 * form body, into one list under one limit.  httpd's ap_args_to_table
 * keeps only the last of repeated names and ap_parse_form_data decodes a
 * bad escape into a stray byte, so the strict parser of dt_params.c
 * serves both. */
int dt_read_params(request_rec *r, const dt_settings *set, dt_request *req)
{
    dt_parse_status st;
    char *body;
    apr_size_t len;
    int rc;

    req->params = apr_array_make(r->pool, 8, sizeof(dt_param));
    if (r->args) {
        st = dt_form_parse(r->pool, r->args, strlen(r->args),
                           (apr_size_t)set->max_body, set->max_params,
                           req->params);
        if (st != DT_PARSE_OK) {
            return refuse_parse(req, st);
        }
    }
    if (r->method_number != M_POST || !body_announced(r)) {
        return OK;
    }
    if (!has_form_type(r)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return dt_refuse(req, "bad-content-type",
                         "A request body must be "
                         "application/x-www-form-urlencoded.");
    }
    if ((rc = read_body(r, req, set->max_body, &body, &len)) != OK) {
        return rc;
    }
    st = dt_form_parse(r->pool, body, len, (apr_size_t)set->max_body,
                       set->max_params, req->params);
    return st == DT_PARSE_OK ? OK : refuse_parse(req, st);
}

/* Method check and parameters, shared by every service. */
int dt_begin_service(request_rec *r, const dt_settings *set, dt_request *req)
{
    if ((r->method_number != M_GET && r->method_number != M_POST)
        || r->header_only) {
        return dt_refuse(req, "bad-method", "Use GET or POST.");
    }
    return dt_read_params(r, set, req);
}

/* One singular parameter: *value NULL when absent, refused when it is
 * given twice with different values. */
int dt_get_param(request_rec *r, dt_request *req, const char *name,
                 const char **value)
{
    if (dt_form_get_one(req->params, name, value) < 0) {
        return dt_refuse(req, "bad-parameter",
                         apr_psprintf(r->pool,
                                      "The parameter %s is given "
                                      "more than once.",
                                      name));
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Per request: the session                                            */

dt_request_state *dt_request_state_of(request_rec *r)
{
    dt_request_state *rs = ap_get_module_config(r->request_config,
                                                &downloadtoken_module);

    if (rs == NULL) {
        rs = apr_pcalloc(r->pool, sizeof(*rs));
        ap_set_module_config(r->request_config, &downloadtoken_module, rs);
    }
    return rs;
}

typedef struct cookie_walk {
    apr_pool_t *pool;
    apr_array_header_t *values;
} cookie_walk;

static int collect_cookie(void *data, const char *key, const char *value)
{
    cookie_walk *walk = data;

    (void)key;
    dt_cookie_values(walk->pool, value, DT_COOKIE, walk->values,
                     DT_MAX_SESSION_CANDIDATES - walk->values->nelts);
    return walk->values->nelts < DT_MAX_SESSION_CANDIDATES;
}

/* The ids this request presents: the path parameter first, then every
 * JSESSIONID cookie.  ap_cookie_read keeps only one cookie of a name,
 * and a browser may send a stale one from another path beside the live
 * one, so every candidate is tried. */
apr_array_header_t *dt_session_candidates(request_rec *r, dt_request_state *rs)
{
    cookie_walk walk;

    walk.pool = r->pool;
    walk.values = apr_array_make(r->pool, 2, sizeof(char *));
    if (rs->path_session) {
        APR_ARRAY_PUSH(walk.values, const char *) = rs->path_session;
    }
    apr_table_do(collect_cookie, &walk, r->headers_in, "Cookie", NULL);
    return walk.values;
}

/* Finds the request's live session (renewing its idle time), once. */
int dt_find_session(request_rec *r, dt_session **out)
{
    dt_request_state *rs = dt_request_state_of(r);
    apr_array_header_t *ids = NULL;
    int i;

    if (!rs->looked_up && dt_active_store != NULL) {
        rs->looked_up = 1;
        ids = dt_session_candidates(r, rs);
        for (i = 0; i < ids->nelts && !rs->found; i++) {
            const char *id = APR_ARRAY_IDX(ids, i, const char *);
            rs->found = dt_session_id_valid(id)
                        && dt_active_store->ops->session_use(
                               dt_active_store, id, apr_time_now(),
                               &rs->session)
                               == APR_SUCCESS;
        }
        if (rs->found) {
            r->user = apr_pstrdup(r->pool, rs->session.user);
        }
    }
    *out = rs->found ? &rs->session : NULL;
    return rs->found;
}
