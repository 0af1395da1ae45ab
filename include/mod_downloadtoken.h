/*
 * mod_downloadtoken.h: what the module's httpd glue files share.  Not an
 * API for other modules: the types and functions here serve
 * mod_downloadtoken*.c alone.
 *
 *   mod_downloadtoken.c           hooks, the store's lifecycle, dispatch
 *   mod_downloadtoken_config.c    directives and per-location settings
 *   mod_downloadtoken_request.c   replies, parameters, the session
 *   mod_downloadtoken_services.c  Log In, Log Out, Download Token, status
 *   mod_downloadtoken_redeem.c    Send Call File
 */
#ifndef MOD_DOWNLOADTOKEN_H
#define MOD_DOWNLOADTOKEN_H

#include "httpd.h"
#include "http_config.h"

#include "dt_store.h"
#include "dt_store_shm.h"

extern module AP_MODULE_DECLARE_DATA downloadtoken_module;

#define DT_LOG "mod_downloadtoken: "
#define DT_MUTEX_TYPE "downloadtoken-store"
#define DT_SHARED_KEY "mod_downloadtoken shared store"
#define DT_AUTH_TYPE "DownloadToken"
#define DT_COOKIE "JSESSIONID"
/* Session ids tried per request (path parameter, then cookies): a bound
 * on the store lookups one request can cause.  Known shortcoming: a
 * client with more stale JSESSIONID cookies than this before its live one
 * is not recognized. */
#define DT_MAX_SESSION_CANDIDATES 8

/* Every handler of ours is named so (see dt_map_to_storage). */
#define DT_HANDLER_PREFIX "downloadtoken-"
#define H_LOGIN "downloadtoken-login"
#define H_LOGOUT "downloadtoken-logout"
#define H_ISSUE "downloadtoken-issue"
#define H_STATUS "downloadtoken-status"
#define H_REDEEM "downloadtoken-redeem"

#define TYPE_AUDIO 1
#define TYPE_VIDEO 16
#define TYPE_BIT_AUDIO 1
#define TYPE_BIT_VIDEO 2

/* Store settings: one store serves the whole server, so these are read
 * from the main server only. 0 or NULL means "not set". */
typedef struct dt_server_conf {
    apr_uint32_t session_capacity;
    apr_uint32_t token_capacity;
    apr_uint32_t max_calls;
    const char *snapshot_file; /* "none": no snapshot */
} dt_server_conf;

/* Handler settings, per <Location>.  -1 or NULL means "not set". */
typedef struct dt_dir_conf {
    apr_array_header_t *providers; /* const char * */
    apr_interval_time_t idle_timeout;
    apr_interval_time_t max_lifetime;
    apr_interval_time_t token_lifetime;
    const char *cookie_path;
    apr_off_t max_body;
    int max_params;
    int token_length;
    int max_per_session;
    int types;                   /* TYPE_BIT_* mask */
    apr_array_header_t *actions; /* const char * */
    const char *call_file[2];    /* per type: path with {id} */
    const char *sid_file[2];     /* per type: path with {sid} */
    int serve_without_session;
} dt_dir_conf;

#define DEFAULT_SESSION_CAPACITY 10000
#define DEFAULT_TOKEN_CAPACITY 50000
#define DEFAULT_MAX_CALLS 100
#define DEFAULT_SNAPSHOT "downloadtoken.snapshot"
#define DEFAULT_IDLE_TIMEOUT apr_time_from_sec(1800)
#define DEFAULT_MAX_LIFETIME apr_time_from_sec(28800)
#define DEFAULT_TOKEN_LIFETIME apr_time_from_sec(300)
#define DEFAULT_MAX_BODY 8192
#define DEFAULT_MAX_PARAMS 256
#define DEFAULT_TOKEN_LENGTH 20
#define DEFAULT_MAX_PER_SESSION 100
#define DEFAULT_TYPES (TYPE_BIT_AUDIO | TYPE_BIT_VIDEO)
#define DEFAULT_ACTION "download"
#define SERVED_ACTION "download" /* the one action we deliver */

/* Index of a media type in the per-type tables. */
#define TYPE_INDEX(type) ((type) == TYPE_VIDEO ? 1 : 0)

/* The per-location settings with every default applied. */
typedef struct dt_settings {
    const apr_array_header_t *providers;
    apr_interval_time_t idle_timeout;
    apr_interval_time_t max_lifetime;
    apr_interval_time_t token_lifetime;
    const char *cookie_path; /* NULL: the service's parent */
    apr_off_t max_body;
    int max_params;
    int token_length;
    int max_per_session;
    int types;
    const apr_array_header_t *actions;
    const char *const *call_file;
    const char *const *sid_file;
    int serve_without_session;
} dt_settings;

/* ------------------------------------------------------------------ */
/* Per request                                                         */

/* A request's parameters and, once a step has refused the request, why:
 * the steps below only record the refusal, so that they serve the
 * handlers and the redemption's fixup alike. */
typedef struct dt_request {
    apr_array_header_t *params; /* dt_param, query first, then body */
    const char *error_code;
    const char *error_text;
} dt_request;

#define REFUSED (-1)

/* What we learnt of the request's session, found once per request. */
typedef struct dt_request_state {
    int is_service;           /* a handler of ours serves this URL */
    const char *path_session; /* from ;jsessionid=, before stripping */
    int looked_up;
    int found;
    dt_session session;

    /* Set while a redemption checks its files with sub-requests: the
     * token's user, whom AuthType DownloadToken gives those requests. */
    const char *token_user;

    /* What the redemption's fixup decided, for the handler. */
    int redeemed;
    dt_request refusal;      /* error_code set: answer with it */
    apr_array_header_t *zip; /* dt_media: several files to archive */
} dt_request_state;

/* ------------------------------------------------------------------ */
/* This process's store, set by post_config (mod_downloadtoken.c)      */

extern dt_store *dt_active_store;      /* NULL: not available here */
extern dt_shm_layout dt_active_layout; /* the layout the block has */

/* mod_downloadtoken_config.c */
extern const command_rec dt_directives[];
void *dt_create_server_conf(apr_pool_t *p, server_rec *s);
void *dt_create_dir_conf(apr_pool_t *p, char *dir);
void *dt_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);
void dt_config_defaults(apr_pool_t *pconf);
void dt_get_settings(request_rec *r, dt_settings *out);
dt_server_conf *dt_main_server_conf(server_rec *s);
void dt_layout_from_conf(const dt_server_conf *conf, dt_shm_layout *layout);

/* mod_downloadtoken_request.c: replies */
int dt_send_xml(request_rec *r, const char *body);
int dt_send_error(request_rec *r, const char *code, const char *sentence);
int dt_send_server_error(request_rec *r, apr_status_t rv, const char *what);
const char *dt_log_label(request_rec *r, const char *prefix,
                         const char *secret);

/* mod_downloadtoken_request.c: parameters; REFUSED means the refusal
 * is recorded in the dt_request, for dt_send_refusal */
int dt_refuse(dt_request *req, const char *code, const char *text);
int dt_refuse_server(request_rec *r, dt_request *req, apr_status_t rv,
                     const char *what);
int dt_send_refusal(request_rec *r, const dt_request *req);
int dt_read_params(request_rec *r, const dt_settings *set, dt_request *req);
int dt_begin_service(request_rec *r, const dt_settings *set, dt_request *req);
int dt_get_param(request_rec *r, dt_request *req, const char *name,
                 const char **value);

/* mod_downloadtoken_request.c: the session */
dt_request_state *dt_request_state_of(request_rec *r);
apr_array_header_t *dt_session_candidates(request_rec *r,
                                          dt_request_state *rs);
int dt_find_session(request_rec *r, dt_session **out);

/* mod_downloadtoken_services.c */
int dt_login_handler(request_rec *r);
int dt_logout_handler(request_rec *r);
int dt_issue_handler(request_rec *r);
int dt_status_handler(request_rec *r);
int dt_status_hook(request_rec *r, int flags);

/* mod_downloadtoken_redeem.c */
int dt_redeem_fixup(request_rec *r);
int dt_redeem_handler(request_rec *r);

#endif /* MOD_DOWNLOADTOKEN_H */
