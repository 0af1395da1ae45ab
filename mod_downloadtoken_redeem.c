/*
 * mod_downloadtoken_redeem.c: the Send Call File Service, which takes
 * a token once and delivers the files it names.
 */
#include "apr_strings.h"
#include "apr_file_info.h"

#include "httpd.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "dt_params.h"
#include "dt_random.h"
#include "dt_zip.h"

#include "mod_downloadtoken.h"

/* Log lines from this file are tagged [downloadtoken:...] as well. */
APLOG_USE_MODULE(downloadtoken);

/* ------------------------------------------------------------------ */
/* Send Call File Service                                              */

/* The redemption runs as a fixup, before any handler: a token naming one
 * call then hands the request over to the file itself (the way mod_dir
 * hands a directory to its index page), so httpd's own delivery serves
 * it, with sendfile, Range, ETag and the MIME type of mod_mime.  A
 * refusal or a ZIP of several files is left to the handler below. */

typedef struct dt_media {
    const char *path;
    const char *name; /* what the client sees: id and extension */
} dt_media;

/* Puts value where the placeholder is, and makes sure that the result
 * stays under the folder before it: ids are digits and SIDs are checked,
 * so this only guards against a mistake elsewhere. */
static const char *media_path(apr_pool_t *p, const char *pattern,
                              const char *placeholder, const char *value)
{
    const char *at = strstr(pattern, placeholder);
    const char *root_end = at;
    char *root, *rest, *path;

    while (root_end > pattern && root_end[-1] != '/') {
        root_end--;
    }
    root = apr_pstrmemdup(p, pattern, (apr_size_t)(root_end - pattern));
    rest = apr_pstrcat(
        p, apr_pstrmemdup(p, root_end, (apr_size_t)(at - root_end)), value,
        at + strlen(placeholder), NULL);
    if (apr_filepath_merge(&path, root, rest, APR_FILEPATH_SECUREROOT, p)
        != APR_SUCCESS) {
        return NULL;
    }
    return path;
}

/* The name a client saves the file under: the id, and the extension the
 * configured path gives the file. */
static const char *media_name(apr_pool_t *p, const char *pattern,
                              const char *placeholder, const char *value)
{
    const char *after = strstr(pattern, placeholder) + strlen(placeholder);
    const char *dot = strrchr(after, '.');

    if (dot == NULL || strchr(dot, '/') != NULL) {
        return value;
    }
    return apr_pstrcat(p, value, dot, NULL);
}

static int add_media(request_rec *r, dt_request *req, const char *pattern,
                     const char *placeholder, const char *value,
                     apr_array_header_t *files)
{
    dt_media *m = apr_array_push(files);

    m->path = media_path(r->pool, pattern, placeholder, value);
    m->name = media_name(r->pool, pattern, placeholder, value);
    if (m->path == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      DT_LOG "a media path for '%s' would leave its folder",
                      value);
        return dt_refuse(req, "not-found",
                         "The file of a call does not exist.");
    }
    return OK;
}

/* The files a token names, under this location's paths for its type.
 * Known shortcoming: a redeeming location without the path for a type is
 * found at its first redemption (not-found, and a warning in the log),
 * not by apachectl -t, which sees no request's merged configuration. */
static int token_media(request_rec *r, dt_request *req, const dt_settings *set,
                       const dt_token *t, apr_array_header_t *files)
{
    int index = TYPE_INDEX(t->type);
    const char *directive = t->sid[0] ? "DownloadTokenSidFile"
                                      : "DownloadTokenCallFile";
    const char *pattern = t->sid[0] ? set->sid_file[index]
                                    : set->call_file[index];
    apr_uint32_t i;

    if (pattern == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      DT_LOG "no %s for type %d here", directive, t->type);
        return dt_refuse(req, "not-found",
                         "This server keeps no files of "
                         "that type.");
    }
    if (t->sid[0]) {
        return add_media(r, req, pattern, "{sid}", t->sid, files);
    }
    for (i = 0; i < t->n_ids; i++) {
        const char *id = apr_psprintf(r->pool, "%" APR_UINT64_T_FMT,
                                      t->ids[i]);
        if (add_media(r, req, pattern, "{id}", id, files) != OK) {
            return REFUSED;
        }
    }
    return OK;
}

/* Asks httpd whether the token's user may have this file, with the
 * <Directory> and <Files> rules that apply to it: a sub-request with
 * AuthType DownloadToken sees the token's user.  The sub-request is
 * returned for delivery when it passes. */
static int check_media(request_rec *r, dt_request *req, const dt_media *m,
                       request_rec **passed)
{
    request_rec *rr = ap_sub_req_lookup_file(m->path, r, r->output_filters);

    *passed = NULL;
    if (rr->status == HTTP_UNAUTHORIZED || rr->status == HTTP_FORBIDDEN) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      DT_LOG "'%s' is not authorized for %s", r->user,
                      m->name);
        ap_destroy_sub_req(rr);
        return dt_refuse(req, "not-authorized",
                         "You may not have one of "
                         "these calls.");
    }
    /* Whatever else the sub-request made of it (mod_dir answers 301 for
     * a folder), anything but a regular file is no call's file. */
    if (rr->status == HTTP_NOT_FOUND || rr->finfo.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "no file %s for %s",
                      m->path, m->name);
        ap_destroy_sub_req(rr);
        return dt_refuse(req, "not-found",
                         "The file of a call does not exist.");
    }
    if (rr->status != HTTP_OK) {
        ap_destroy_sub_req(rr);
        return dt_refuse_server(r, req, APR_EGENERAL,
                                "a media file's "
                                "sub-request failed");
    }
    *passed = rr;
    return OK;
}

/* A request that presents the issuing session, or none when the
 * location allows that, may redeem the token. */
static int check_presented_session(request_rec *r, dt_request *req,
                                   const dt_settings *set, const dt_token *t)
{
    dt_request_state *rs = dt_request_state_of(r);
    apr_array_header_t *ids = dt_session_candidates(r, rs);
    dt_session *live;
    int i;

    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        if (dt_session_id_valid(id)
            && dt_equal_ct(id, t->session_id, DT_ID_LEN)) {
            return OK;
        }
    }
    if (dt_find_session(r, &live)) {
        return dt_refuse(req, "session-mismatch",
                         "The token belongs to "
                         "another session.");
    }
    if (!set->serve_without_session) {
        return dt_refuse(req, "no-session",
                         "Present the session that asked "
                         "for the token.");
    }
    return OK;
}

/* Takes the token: from here on it is spent, whatever follows.  HEAD
 * only looks, so that a link preview does not spend it. */
static int take_token(request_rec *r, dt_request *req, const char *text,
                      dt_token *t)
{
    apr_size_t len = strlen(text);
    apr_status_t rv;

    if (len < DT_TOKEN_MIN_LEN || len > DT_TOKEN_MAX_LEN
        || !dt_token_valid(text, len)) {
        return dt_refuse(req, "unknown-token",
                         "The token is unknown, used or "
                         "expired.");
    }
    rv = dt_active_store->ops->token_take(
        dt_active_store, text, apr_time_now(), !r->header_only, r->pool, t);
    if (rv == DT_STORE_NOTFOUND) {
        return dt_refuse(req, "unknown-token",
                         "The token is unknown, used or "
                         "expired.");
    }
    if (rv == DT_STORE_ENDED) {
        return dt_refuse(req, "session-ended",
                         "The session that asked for "
                         "the token has ended.");
    }
    if (rv != APR_SUCCESS) {
        return dt_refuse_server(r, req, rv, "cannot take a token");
    }
    return OK;
}

static void deliver_one(request_rec *r, request_rec *rr, const dt_media *m)
{
    char *user = r->user;
    char *uri = r->uri;

    /* The request becomes the file's sub-request; its user and URL stay
     * the client's, for the access log. */
    ap_internal_fast_redirect(rr, r);
    r->user = user;
    r->uri = uri;
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "inline; filename=\"%s\"", m->name));
    /* A cache that kept this reply would serve it again without the
     * token being taken: the one-time rule forbids storing it. */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
}

static int redeem(request_rec *r, dt_request_state *rs)
{
    dt_request *req = &rs->refusal;
    apr_array_header_t *files = apr_array_make(r->pool, 2, sizeof(dt_media));
    request_rec *rr = NULL;
    const char *text;
    dt_settings set;
    dt_token t;
    int i;

    dt_get_settings(r, &set);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        return dt_refuse(req, "bad-method", "Use GET, POST or HEAD.");
    }
    if (dt_read_params(r, &set, req) != OK
        || dt_get_param(r, req, "token", &text) != OK) {
        return REFUSED;
    }
    if (text == NULL) {
        return dt_refuse(req, "missing-parameter", "Give the token.");
    }
    if (take_token(r, req, text, &t) != OK
        || check_presented_session(r, req, &set, &t) != OK) {
        return REFUSED;
    }
    if (strcmp(t.action, SERVED_ACTION) != 0) {
        return dt_refuse(req, "action-not-served",
                         "This server only "
                         "downloads call files.");
    }

    r->user = apr_pstrdup(r->pool, t.user);
    rs->token_user = r->user;
    if (token_media(r, req, &set, &t, files) != OK) {
        return REFUSED;
    }
    for (i = 0; i < files->nelts; i++) {
        if (rr) {
            ap_destroy_sub_req(rr);
        }
        if (check_media(r, req, &APR_ARRAY_IDX(files, i, dt_media), &rr)
            != OK) {
            return REFUSED;
        }
    }
    ap_log_rerror(
        APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "%s %s by '%s' for %d file(s)",
        dt_log_label(r, "token", text),
        r->header_only ? "looked at" : "redeemed", t.user, files->nelts);

    if (files->nelts == 1) {
        deliver_one(r, rr, &APR_ARRAY_IDX(files, 0, dt_media));
    }
    else {
        ap_destroy_sub_req(rr);
        rs->zip = files;
    }
    return OK;
}

int dt_redeem_fixup(request_rec *r)
{
    dt_request_state *rs;

    if (r->main || r->handler == NULL || strcmp(r->handler, H_REDEEM) != 0) {
        return DECLINED;
    }
    rs = dt_request_state_of(r);
    rs->redeemed = 1;
    if (dt_active_store == NULL) {
        dt_refuse_server(r, &rs->refusal, APR_EGENERAL,
                         "the store is not "
                         "available in this process");
        return OK;
    }
    redeem(r, rs);
    return OK;
}

static int zip_sink(void *ctx, const void *data, apr_size_t len)
{
    request_rec *r = ctx;

    if (r->connection->aborted || ap_rwrite(data, (int)len, r) < 0) {
        return -1;
    }
    return 0;
}

/* Several calls: one ZIP, streamed while it is made, so it has no
 * Content-Length.  The files were all checked before the first byte;
 * a read error now can only cut the archive short. */
static int send_zip(request_rec *r, const apr_array_header_t *files)
{
    dt_zip *zip;
    apr_status_t rv;
    int i;

    ap_set_content_type(r, "application/zip");
    apr_table_setn(r->headers_out, "Content-Disposition",
                   "attachment; filename=\"calls.zip\"");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }

    rv = dt_zip_open(&zip, r->pool, zip_sink, r);
    for (i = 0; rv == APR_SUCCESS && i < files->nelts; i++) {
        const dt_media *m = &APR_ARRAY_IDX(files, i, dt_media);
        rv = dt_zip_add_file(zip, m->name, m->path, r->pool);
    }
    if (rv == APR_SUCCESS) {
        rv = dt_zip_close(zip);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK,
                      r->connection->aborted ? APLOG_INFO : APLOG_ERR, rv, r,
                      DT_LOG "the ZIP of %d files was "
                             "cut short",
                      files->nelts);
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    return OK;
}

int dt_redeem_handler(request_rec *r)
{
    dt_request_state *rs = dt_request_state_of(r);

    if (!rs->redeemed) {
        return dt_send_server_error(r, APR_EGENERAL,
                                    "the redemption did not "
                                    "run before the handler");
    }
    if (rs->refusal.error_code) {
        return dt_send_refusal(r, &rs->refusal);
    }
    if (rs->zip) {
        return send_zip(r, rs->zip);
    }
    return dt_send_server_error(r, APR_EGENERAL,
                                "a redemption came to the "
                                "handler with nothing to send");
}
