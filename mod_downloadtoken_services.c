/*
 * mod_downloadtoken_services.c: the Log In, Log Out and Download
 * Token services, and the status report.
 */
#include "apr_strings.h"

#include "httpd.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_ssl.h"
#include "ap_provider.h"
#include "mod_auth.h"
#include "mod_status.h"

#include "dt_params.h"
#include "dt_random.h"
#include "dt_reply.h"

#include "mod_downloadtoken.h"

/* Log lines from this file are tagged [downloadtoken:...] as well. */
APLOG_USE_MODULE(downloadtoken);

/* ------------------------------------------------------------------ */
/* Log In Service                                                      */

/* Asks each configured authn provider in turn, as mod_auth_basic does. */
static authn_status check_password(request_rec *r, const dt_settings *set,
                                   const char *user, const char *password)
{
    authn_status result = AUTH_USER_NOT_FOUND;
    int i;

    for (i = 0; i < set->providers->nelts; i++) {
        const char *name = APR_ARRAY_IDX(set->providers, i, const char *);
        const authn_provider *provider;

        provider = ap_lookup_provider(AUTHN_PROVIDER_GROUP, name,
                                      AUTHN_PROVIDER_VERSION);
        if (provider == NULL || provider->check_password == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          DT_LOG "authn provider '%s' is not available; check "
                                 "DownloadTokenAuthProvider",
                          name);
            return AUTH_GENERAL_ERROR;
        }
        apr_table_setn(r->notes, AUTHN_PROVIDER_NAME_NOTE, name);
        result = provider->check_password(r, user, password);
        apr_table_unset(r->notes, AUTHN_PROVIDER_NAME_NOTE);
        if (result != AUTH_USER_NOT_FOUND) {
            break;
        }
    }
    return result;
}

/* The cookie's Path: configured, or the service URL's parent. */
static const char *cookie_path(request_rec *r, const dt_settings *set)
{
    const char *slash;

    if (set->cookie_path) {
        return set->cookie_path;
    }
    slash = strrchr(r->uri, '/');
    if (slash == NULL || slash == r->uri) {
        return "/";
    }
    return apr_pstrmemdup(r->pool, r->uri, (apr_size_t)(slash - r->uri));
}

static void set_session_cookie(request_rec *r, const dt_settings *set,
                               const char *value, int expire)
{
    const char *cookie = apr_pstrcat(
        r->pool, DT_COOKIE, "=", value, "; Path=", cookie_path(r, set),
        expire ? "; Max-Age=0" : "", "; HttpOnly",
        ap_ssl_conn_is_ssl(r->connection) ? "; Secure" : "", "; SameSite=Lax",
        NULL);

    apr_table_addn(r->headers_out, "Set-Cookie", cookie);
}

/* Stores a new session for the user; a collision of 128 random bits is
 * not expected, but costs only one more try. */
static int open_session(request_rec *r, dt_request *req,
                        const dt_settings *set, const char *user,
                        dt_session *s)
{
    apr_time_t now = apr_time_now();
    apr_status_t rv;
    int attempt;

    memset(s, 0, sizeof(*s));
    apr_cpystrn(s->user, user, sizeof(s->user));
    s->created = s->last_used = now;
    s->idle_timeout = set->idle_timeout;
    s->max_lifetime = set->max_lifetime;

    for (attempt = 0; attempt < 2; attempt++) {
        if ((rv = dt_random_session_id(s->id)) != APR_SUCCESS) {
            return dt_refuse_server(r, req, rv,
                                    "no random bytes for a "
                                    "session id");
        }
        rv = dt_active_store->ops->session_put(dt_active_store, s, now);
        if (rv != DT_STORE_EXISTS) {
            break;
        }
    }
    if (rv == DT_STORE_FULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      DT_LOG
                      "the session table is full of live sessions; raise "
                      "DownloadTokenSessionCapacity");
        return dt_refuse(req, "store-full",
                         "No more sessions can be opened "
                         "now.");
    }
    if (rv != APR_SUCCESS) {
        return dt_refuse_server(r, req, rv, "cannot store a new session");
    }
    return OK;
}

int dt_login_handler(request_rec *r)
{
    dt_settings set;
    dt_request req;
    dt_session session;
    const char *user, *password;
    authn_status auth;

    dt_get_settings(r, &set);
    if (dt_begin_service(r, &set, &req) != OK
        || dt_get_param(r, &req, "loginname", &user) != OK
        || dt_get_param(r, &req, "password", &password) != OK) {
        return dt_send_refusal(r, &req);
    }
    if (user == NULL || *user == '\0' || password == NULL) {
        return dt_send_error(r, "missing-parameter",
                             "Log in needs loginname "
                             "and password.");
    }
    if (strlen(user) > DT_USER_MAX) {
        return dt_send_error(r, "bad-parameter",
                             "The login name is too long.");
    }

    r->user = (char *)user;
    auth = check_password(r, &set, user, password);
    r->user = NULL;
    if (auth == AUTH_GENERAL_ERROR) {
        return dt_send_server_error(r, APR_EGENERAL,
                                    "the authn provider "
                                    "failed");
    }
    if (auth != AUTH_GRANTED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      DT_LOG "login of '%s' refused",
                      ap_escape_logitem(r->pool, user));
        return dt_send_error(r, "login-failed",
                             "Access is denied: wrong login "
                             "name or password.");
    }

    if (open_session(r, &req, &set, user, &session) != OK) {
        return dt_send_refusal(r, &req);
    }
    r->user = (char *)user;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "login of '%s', %s",
                  user, dt_log_label(r, "sess", session.id));
    set_session_cookie(r, &set, session.id, 0);
    return dt_send_xml(r, dt_reply_login_ok(r->pool, session.id));
}

/* ------------------------------------------------------------------ */
/* Log Out Service                                                     */

int dt_logout_handler(request_rec *r)
{
    dt_settings set;
    dt_request req;
    dt_session *session;
    apr_status_t rv;

    dt_get_settings(r, &set);
    if (dt_begin_service(r, &set, &req) != OK) {
        return dt_send_refusal(r, &req);
    }
    if (!dt_find_session(r, &session)) {
        return dt_send_error(r, "no-session", "There is no session to close.");
    }
    rv = dt_active_store->ops->session_end(dt_active_store, session->id,
                                           apr_time_now());
    if (rv != APR_SUCCESS && rv != DT_STORE_NOTFOUND) {
        return dt_send_server_error(r, rv, "cannot end a session");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "logout of '%s', %s",
                  session->user, dt_log_label(r, "sess", session->id));
    set_session_cookie(r, &set, "", 1);
    return dt_send_xml(r, dt_reply_ok(r->pool, "Session closed."));
}

/* ------------------------------------------------------------------ */
/* Download Token Service                                              */

/* The calls a token names: a SID, or the union of every id_call[]. */
static int read_calls(request_rec *r, dt_request *req, dt_token *t,
                      apr_array_header_t **ids)
{
    apr_uint32_t max_calls = dt_active_layout.max_calls;
    const char *sid;
    int i;

    if (dt_get_param(r, req, "sid", &sid) != OK) {
        return REFUSED;
    }
    if (sid != NULL) {
        if (!dt_sid_valid(sid)) {
            return dt_refuse(req, "bad-sid",
                             "The sid is not a valid call "
                             "SID.");
        }
        apr_cpystrn(t->sid, sid, sizeof(t->sid));
        *ids = NULL;
        return OK;
    }

    *ids = apr_array_make(r->pool, 4, sizeof(apr_uint64_t));
    for (i = 0; i < req->params->nelts; i++) {
        const dt_param *param = &APR_ARRAY_IDX(req->params, i, dt_param);
        dt_ids_status st;
        if (strcmp(param->name, "id_call[]") != 0) {
            continue;
        }
        st = dt_ids_parse(param->value, *ids, (int)max_calls);
        if (st == DT_IDS_BAD) {
            return dt_refuse(req, "bad-call-id",
                             "A call id is not a "
                             "positive decimal number.");
        }
        if (st == DT_IDS_TOO_MANY) {
            return dt_refuse(req, "too-many-calls",
                             apr_psprintf(r->pool,
                                          "A token may name at "
                                          "most %u calls.",
                                          max_calls));
        }
    }
    if ((*ids)->nelts == 0) {
        return dt_refuse(req, "missing-parameter",
                         "Name the calls with "
                         "id_call[] or sid.");
    }
    return OK;
}

static int read_type_and_action(request_rec *r, dt_request *req,
                                const dt_settings *set, dt_token *t)
{
    const char *type, *action;
    int i;

    if (dt_get_param(r, req, "type", &type) != OK
        || dt_get_param(r, req, "action", &action) != OK) {
        return REFUSED;
    }
    if (type == NULL) {
        return dt_refuse(req, "missing-parameter",
                         "Name the media type with "
                         "type.");
    }
    if (strcmp(type, "1") == 0 && (set->types & TYPE_BIT_AUDIO)) {
        t->type = TYPE_AUDIO;
    }
    else if (strcmp(type, "16") == 0 && (set->types & TYPE_BIT_VIDEO)) {
        t->type = TYPE_VIDEO;
    }
    else {
        return dt_refuse(req, "bad-type",
                         "This media type is not served "
                         "here.");
    }

    if (action == NULL) {
        action = DEFAULT_ACTION;
    }
    for (i = 0; i < set->actions->nelts; i++) {
        if (strcmp(action, APR_ARRAY_IDX(set->actions, i, const char *))
            == 0) {
            apr_cpystrn(t->action, action, sizeof(t->action));
            return OK;
        }
    }
    return dt_refuse(req, "bad-action", "This action is not served here.");
}

/* Puts the token in the store for the first live one of the sessions
 * the request presents.  The store renews that session in the same
 * critical section and names it in *owner: one lock per token issued. */
static int store_token(request_rec *r, dt_request *req, const dt_settings *set,
                       const apr_array_header_t *sessions, dt_token *t,
                       dt_session *owner)
{
    apr_time_t now = apr_time_now();
    apr_status_t rv = DT_STORE_NOTFOUND;
    int i, attempt;

    owner->user[0] = '\0';
    t->created = now;
    t->expires = now + set->token_lifetime;
    for (i = 0; i < sessions->nelts && rv == DT_STORE_NOTFOUND; i++) {
        apr_cpystrn(t->session_id, APR_ARRAY_IDX(sessions, i, const char *),
                    sizeof(t->session_id));
        rv = DT_STORE_EXISTS;
        for (attempt = 0; attempt < 3 && rv == DT_STORE_EXISTS; attempt++) {
            rv = dt_random_token(t->token, (apr_size_t)set->token_length);
            if (rv != APR_SUCCESS) {
                return dt_refuse_server(r, req, rv,
                                        "no random bytes for a token");
            }
            rv = dt_active_store->ops->token_put(
                dt_active_store, t, (apr_uint32_t)set->max_per_session, now,
                owner);
        }
    }
    if (owner->user[0] != '\0') {
        r->user = apr_pstrdup(r->pool, owner->user);
    }
    switch (rv) {
    case APR_SUCCESS:
        return OK;
    case DT_STORE_CAP:
        return dt_refuse(req, "store-full",
                         "This session holds too many unused tokens.");
    case DT_STORE_FULL:
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      DT_LOG "the token table is full of live tokens; raise "
                             "DownloadTokenTokenCapacity");
        return dt_refuse(req, "store-full",
                         "No more tokens can be issued now.");
    case DT_STORE_NOTFOUND:
        return dt_refuse(req, "no-session", "Log in first.");
    default:
        return dt_refuse_server(r, req, rv, "cannot store a new token");
    }
}

/* The session ids the request presents that could be one. */
static apr_array_header_t *presented_sessions(request_rec *r)
{
    apr_array_header_t *all = dt_session_candidates(r, dt_request_state_of(r));
    apr_array_header_t *ids = apr_array_make(r->pool, all->nelts,
                                             sizeof(char *));
    int i;

    for (i = 0; i < all->nelts; i++) {
        const char *id = APR_ARRAY_IDX(all, i, const char *);
        if (dt_session_id_valid(id)) {
            APR_ARRAY_PUSH(ids, const char *) = id;
        }
    }
    return ids;
}

int dt_issue_handler(request_rec *r)
{
    dt_settings set;
    dt_request req;
    dt_session owner;
    dt_token token;
    apr_array_header_t *sessions;
    apr_array_header_t *ids = NULL;

    dt_get_settings(r, &set);
    if (dt_begin_service(r, &set, &req) != OK) {
        return dt_send_refusal(r, &req);
    }
    sessions = presented_sessions(r);
    if (sessions->nelts == 0) {
        return dt_send_error(r, "no-session", "Log in first.");
    }

    memset(&token, 0, sizeof(token));
    if (read_calls(r, &req, &token, &ids) != OK
        || read_type_and_action(r, &req, &set, &token) != OK) {
        return dt_send_refusal(r, &req);
    }
    if (ids) {
        token.n_ids = (apr_uint32_t)ids->nelts;
        token.ids = (const apr_uint64_t *)ids->elts;
    }

    if (store_token(r, &req, &set, sessions, &token, &owner) != OK) {
        return dt_send_refusal(r, &req);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  DT_LOG "%s issued to '%s' for %u call(s)",
                  dt_log_label(r, "token", token.token), owner.user,
                  token.n_ids ? token.n_ids : 1);
    return dt_send_xml(r, dt_reply_token(r->pool, token.token));
}

/* ------------------------------------------------------------------ */
/* Status report                                                       */

/* The store's counts as (name, value) pairs, for both reports below. */
static apr_array_header_t *stats_lines(apr_pool_t *p, const dt_store_stats *st,
                                       int checked)
{
    apr_array_header_t *lines = apr_array_make(p, 20, sizeof(char *) * 2);

#define LINE(name, fmt, value)                                                \
    do {                                                                      \
        const char **pair = apr_array_push(lines);                            \
        pair[0] = (name);                                                     \
        pair[1] = apr_psprintf(p, fmt, value);                                \
    } while (0)

    LINE("store", "%s", dt_active_store->ops->name);
    LINE("sessions-live", "%u", st->sessions_live);
    LINE("sessions-capacity", "%u", st->sessions_capacity);
    LINE("tokens-live", "%u", st->tokens_live);
    LINE("tokens-capacity", "%u", st->tokens_capacity);
    LINE("max-calls-per-token", "%u", st->max_calls);
    LINE("sessions-created", "%" APR_UINT64_T_FMT, st->sessions_created);
    LINE("tokens-issued", "%" APR_UINT64_T_FMT, st->tokens_issued);
    LINE("tokens-taken", "%" APR_UINT64_T_FMT, st->tokens_taken);
    LINE("sweeps", "%" APR_UINT64_T_FMT, st->sweeps);
    LINE("full-refusals", "%" APR_UINT64_T_FMT, st->full_refusals);
    LINE("shm-bytes", "%" APR_SIZE_T_FMT, st->bytes_total);
    LINE("session-slot-bytes", "%" APR_SIZE_T_FMT, st->session_slot_bytes);
    LINE("token-slot-bytes", "%" APR_SIZE_T_FMT, st->token_slot_bytes);
    if (checked) {
        LINE("consistent", "%s", st->consistent ? "yes" : "no");
        if (!st->consistent) {
            LINE("problem", "%s", st->problem);
        }
    }
#undef LINE
    return lines;
}

/* downloadtoken-status: every count, and a check of the whole store
 * (index against slots, lists, counts), which walks every slot. */
int dt_status_handler(request_rec *r)
{
    apr_array_header_t *lines;
    dt_store_stats st;
    apr_status_t rv;
    int i;

    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    rv = dt_active_store->ops->stats(dt_active_store, 1, &st);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      DT_LOG "cannot read the store's counts");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, "text/plain; charset=UTF-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }
    lines = stats_lines(r->pool, &st, 1);
    for (i = 0; i < lines->nelts; i++) {
        const char **pair = &APR_ARRAY_IDX(lines, i * 2, const char *);
        ap_rprintf(r, "%s: %s\n", pair[0], pair[1]);
    }
    return OK;
}

/* mod_status's page gets the counts, without the walk of every slot. */
int dt_status_hook(request_rec *r, int flags)
{
    apr_array_header_t *lines;
    dt_store_stats st;
    int i;

    if (dt_active_store == NULL
        || dt_active_store->ops->stats(dt_active_store, 0, &st)
               != APR_SUCCESS) {
        return OK;
    }
    lines = stats_lines(r->pool, &st, 0);
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("<hr />\n<h2>mod_downloadtoken</h2>\n<dl>\n", r);
    }
    for (i = 0; i < lines->nelts; i++) {
        const char **pair = &APR_ARRAY_IDX(lines, i * 2, const char *);
        if (flags & AP_STATUS_SHORT) {
            ap_rprintf(r, "DownloadToken-%s: %s\n", pair[0], pair[1]);
        }
        else {
            ap_rprintf(r, "<dt>%s</dt><dd>%s</dd>\n", pair[0],
                       ap_escape_html(r->pool, pair[1]));
        }
    }
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("</dl>\n", r);
    }
    return OK;
}
