/*
 * mod_downloadtoken: sessions and one-time download tokens for the Call
 * Recording web API, kept in shared memory that every process, thread and
 * server generation of one Apache httpd shares.
 *
 * This file is the httpd glue: directives, hooks and the four handlers.
 * The records, the store and the parsers live in src/ and need APR only.
 *
 * Start-up, in the order httpd calls us:
 *   1. pre_config registers the mutex type, so that `Mutex` applies.
 *   2. post_config, first pass (httpd's dry run): nothing.
 *   3. post_config, real pass: find the shared block and its mutex in the
 *      process pool, or, at the very first start, create both there and
 *      read the snapshot left by the last clean stop.  The process pool
 *      outlives every graceful restart, so all generations share one
 *      block and one mutex: a token consumed by an old child is consumed
 *      for the new ones too.
 *   4. child_init re-opens the mutex in each child.
 *   5. At a clean stop, when the parent destroys its configuration, the
 *      live entries are written to the snapshot file.
 */
#include <unistd.h>

#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "ap_provider.h"
#include "mod_auth.h"
#include "util_mutex.h"
#include "mod_status.h"

#include "dt_params.h"
#include "dt_random.h"
#include "dt_reply.h"
#include "dt_store.h"
#include "dt_store_shm.h"
#include "dt_zip.h"

module AP_MODULE_DECLARE_DATA downloadtoken_module;

#define DT_LOG "mod_downloadtoken: "
#define DT_MUTEX_TYPE "downloadtoken-store"
#define DT_SHARED_KEY "mod_downloadtoken shared store"
#define DT_AUTH_TYPE "DownloadToken"
#define DT_COOKIE "JSESSIONID"
#define DT_MAX_SESSION_CANDIDATES 8

#define H_LOGIN "downloadtoken-login"
#define H_LOGOUT "downloadtoken-logout"
#define H_ISSUE "downloadtoken-issue"
#define H_STATUS "downloadtoken-status"
#define H_REDEEM "downloadtoken-redeem"

#define TYPE_AUDIO 1
#define TYPE_VIDEO 16
#define TYPE_BIT_AUDIO 1
#define TYPE_BIT_VIDEO 2

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

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

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(dt_server_conf));
}

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    dt_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    (void)dir;
    conf->idle_timeout = -1;
    conf->max_lifetime = -1;
    conf->token_lifetime = -1;
    conf->max_body = -1;
    conf->max_params = -1;
    conf->token_length = -1;
    conf->max_per_session = -1;
    conf->types = -1;
    conf->serve_without_session = -1;
    return conf;
}

#define MERGE_SET(field, unset)                                               \
    conf->field = (add->field != (unset)) ? add->field : base->field

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    dt_dir_conf *base = basev;
    dt_dir_conf *add = addv;
    dt_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    MERGE_SET(providers, NULL);
    MERGE_SET(idle_timeout, -1);
    MERGE_SET(max_lifetime, -1);
    MERGE_SET(token_lifetime, -1);
    MERGE_SET(cookie_path, NULL);
    MERGE_SET(max_body, -1);
    MERGE_SET(max_params, -1);
    MERGE_SET(token_length, -1);
    MERGE_SET(max_per_session, -1);
    MERGE_SET(types, -1);
    MERGE_SET(actions, NULL);
    MERGE_SET(call_file[0], NULL);
    MERGE_SET(call_file[1], NULL);
    MERGE_SET(sid_file[0], NULL);
    MERGE_SET(sid_file[1], NULL);
    MERGE_SET(serve_without_session, -1);
    return conf;
}

static apr_array_header_t *default_providers;
static apr_array_header_t *default_actions;

/* The one place where defaults are applied. */
static void get_settings(request_rec *r, dt_settings *out)
{
    const dt_dir_conf *c = ap_get_module_config(r->per_dir_config,
                                                &downloadtoken_module);

    out->providers = c->providers ? c->providers : default_providers;
    out->idle_timeout = c->idle_timeout >= 0 ? c->idle_timeout
                                             : DEFAULT_IDLE_TIMEOUT;
    out->max_lifetime = c->max_lifetime >= 0 ? c->max_lifetime
                                             : DEFAULT_MAX_LIFETIME;
    out->token_lifetime = c->token_lifetime >= 0 ? c->token_lifetime
                                                 : DEFAULT_TOKEN_LIFETIME;
    out->cookie_path = c->cookie_path;
    out->max_body = c->max_body >= 0 ? c->max_body : DEFAULT_MAX_BODY;
    out->max_params = c->max_params >= 0 ? c->max_params : DEFAULT_MAX_PARAMS;
    out->token_length = c->token_length >= 0 ? c->token_length
                                             : DEFAULT_TOKEN_LENGTH;
    out->max_per_session = c->max_per_session >= 0 ? c->max_per_session
                                                   : DEFAULT_MAX_PER_SESSION;
    out->types = c->types >= 0 ? c->types : DEFAULT_TYPES;
    out->actions = c->actions ? c->actions : default_actions;
    out->call_file = c->call_file;
    out->sid_file = c->sid_file;
    out->serve_without_session = c->serve_without_session != 0;
}

static dt_server_conf *main_server_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &downloadtoken_module);
}

/* Reads a whole decimal number within [min, max], or says why not in a
 * message that names the directive. */
static const char *parse_number(cmd_parms *cmd, const char *arg,
                                apr_int64_t min, apr_int64_t max,
                                apr_int64_t *out)
{
    char *end;
    apr_int64_t n;

    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
        return apr_psprintf(
            cmd->pool,
            "%s: '%s' is not a whole number from %" APR_INT64_T_FMT
            " to %" APR_INT64_T_FMT,
            cmd->directive->directive, arg, min, max);
    }
    *out = n;
    return NULL;
}

/* Store sizing directives: main server only, whole numbers. */
static const char *set_store_number(cmd_parms *cmd, void *dummy,
                                    const char *arg)
{
    dt_server_conf *conf = main_server_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_uint32_t *field = (apr_uint32_t *)((char *)conf
                                           + (apr_size_t)cmd->info);
    apr_int64_t max = field == &conf->max_calls ? DT_CALLS_LIMIT : 10000000;
    apr_int64_t n;

    (void)dummy;
    if (err) {
        return err;
    }
    if ((err = parse_number(cmd, arg, 1, max, &n)) != NULL) {
        return err;
    }
    *field = (apr_uint32_t)n;
    return NULL;
}

static const char *set_snapshot_file(cmd_parms *cmd, void *dummy,
                                     const char *arg)
{
    dt_server_conf *conf = main_server_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dummy;
    if (err) {
        return err;
    }
    if (strcasecmp(arg, "none") == 0) {
        conf->snapshot_file = "none";
        return NULL;
    }
    conf->snapshot_file = ap_server_root_relative(cmd->pool, arg);
    if (conf->snapshot_file == NULL) {
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'",
                            cmd->directive->directive, arg);
    }
    return NULL;
}

/* Durations in whole seconds; cmd->info is the field's offset. */
static const char *set_seconds(cmd_parms *cmd, void *confv, const char *arg)
{
    apr_interval_time_t *field =
        (apr_interval_time_t *)((char *)confv + (apr_size_t)cmd->info);
    apr_int64_t n;
    const char *err = parse_number(cmd, arg, 1, 31536000, &n);

    if (err) {
        return err;
    }
    *field = apr_time_from_sec(n);
    return NULL;
}

static const char *set_limit(cmd_parms *cmd, void *confv, const char *arg)
{
    dt_dir_conf *conf = confv;
    apr_int64_t n;
    const char *err;

    if (strcmp(cmd->info, "body") == 0) {
        err = parse_number(cmd, arg, 1, 1024 * 1024 * 1024, &n);
        conf->max_body = (apr_off_t)n;
    }
    else if (strcmp(cmd->info, "params") == 0) {
        err = parse_number(cmd, arg, 1, 100000, &n);
        conf->max_params = (int)n;
    }
    else if (strcmp(cmd->info, "length") == 0) {
        err = parse_number(cmd, arg, DT_TOKEN_MIN_LEN, DT_TOKEN_MAX_LEN, &n);
        conf->token_length = (int)n;
    }
    else {
        err = parse_number(cmd, arg, 1, 100000, &n);
        conf->max_per_session = (int)n;
    }
    return err;
}

static const char *set_cookie_path(cmd_parms *cmd, void *confv,
                                   const char *arg)
{
    dt_dir_conf *conf = confv;
    const char *c;

    if (arg[0] != '/') {
        return apr_psprintf(cmd->pool, "%s: '%s' must start with '/'",
                            cmd->directive->directive, arg);
    }
    for (c = arg; *c; c++) {
        if (*c == ';' || *c == ',' || apr_iscntrl(*c) || *c == ' ') {
            return apr_psprintf(cmd->pool,
                                "%s: '%s' holds a character not allowed "
                                "in a cookie path",
                                cmd->directive->directive, arg);
        }
    }
    conf->cookie_path = arg;
    return NULL;
}

static const char *add_provider(cmd_parms *cmd, void *confv, const char *arg)
{
    dt_dir_conf *conf = confv;

    if (!ap_lookup_provider(AUTHN_PROVIDER_GROUP, arg,
                            AUTHN_PROVIDER_VERSION)) {
        return apr_psprintf(cmd->pool,
                            "%s: unknown authn provider '%s' (is the "
                            "mod_authn_%s module loaded before this line?)",
                            cmd->directive->directive, arg, arg);
    }
    if (conf->providers == NULL) {
        conf->providers = apr_array_make(cmd->pool, 2, sizeof(char *));
    }
    APR_ARRAY_PUSH(conf->providers, const char *) = arg;
    return NULL;
}

static const char *add_type(cmd_parms *cmd, void *confv, const char *arg)
{
    dt_dir_conf *conf = confv;

    if (conf->types < 0) {
        conf->types = 0;
    }
    if (strcmp(arg, "1") == 0) {
        conf->types |= TYPE_BIT_AUDIO;
    }
    else if (strcmp(arg, "16") == 0) {
        conf->types |= TYPE_BIT_VIDEO;
    }
    else {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a media type; use 1 (call "
                            "audio) or 16 (video)",
                            cmd->directive->directive, arg);
    }
    return NULL;
}

static const char *add_action(cmd_parms *cmd, void *confv, const char *arg)
{
    dt_dir_conf *conf = confv;
    const char *c;

    if (*arg == '\0' || strlen(arg) > DT_ACTION_MAX) {
        return apr_psprintf(cmd->pool, "%s: '%s' must be 1 to %d characters",
                            cmd->directive->directive, arg, DT_ACTION_MAX);
    }
    for (c = arg; *c; c++) {
        if (!apr_islower(*c) && !apr_isdigit(*c) && *c != '-' && *c != '_') {
            return apr_psprintf(cmd->pool,
                                "%s: '%s' may hold only a-z, 0-9, '-' "
                                "and '_'",
                                cmd->directive->directive, arg);
        }
    }
    if (conf->actions == NULL) {
        conf->actions = apr_array_make(cmd->pool, 2, sizeof(char *));
    }
    APR_ARRAY_PUSH(conf->actions, const char *) = arg;
    return NULL;
}

/* DownloadTokenCallFile TYPE PATH and DownloadTokenSidFile TYPE PATH:
 * an absolute path holding the placeholder once, in its file name part
 * or below; the folder before the placeholder is the root that a path
 * made from a token may never leave. */
static const char *set_media_file(cmd_parms *cmd, void *confv,
                                  const char *type, const char *pattern)
{
    dt_dir_conf *conf = confv;
    int sids = strcmp(cmd->info, "sid") == 0;
    const char *placeholder = sids ? "{sid}" : "{id}";
    const char *path = ap_server_root_relative(cmd->pool, pattern);
    const char *at = path ? strstr(path, placeholder) : NULL;
    int index;

    if (strcmp(type, "1") != 0 && strcmp(type, "16") != 0) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' is not a media type; use "
                            "1 (call audio) or 16 (video)",
                            cmd->directive->directive, type);
    }
    if (at == NULL || strstr(at + 1, placeholder) != NULL
        || memchr(path, '/', (apr_size_t)(at - path)) == NULL) {
        return apr_psprintf(cmd->pool,
                            "%s: '%s' must be a path that holds "
                            "%s once, after a folder, as in "
                            "/srv/calls/%s.mp3",
                            cmd->directive->directive, pattern, placeholder,
                            placeholder);
    }
    index = TYPE_INDEX(atoi(type));
    if (sids) {
        conf->sid_file[index] = path;
    }
    else {
        conf->call_file[index] = path;
    }
    return NULL;
}

static const char *set_serve_without_session(cmd_parms *cmd, void *confv,
                                             int flag)
{
    (void)cmd;
    ((dt_dir_conf *)confv)->serve_without_session = flag;
    return NULL;
}

#define SERVER_FIELD(f) ((void *)APR_OFFSETOF(dt_server_conf, f))
#define DIR_FIELD(f) ((void *)APR_OFFSETOF(dt_dir_conf, f))

static const command_rec dt_directives[] = {
    AP_INIT_TAKE1("DownloadTokenSessionCapacity", set_store_number,
                  SERVER_FIELD(session_capacity), RSRC_CONF,
                  "How many sessions the store holds (default 10000)"),
    AP_INIT_TAKE1("DownloadTokenTokenCapacity", set_store_number,
                  SERVER_FIELD(token_capacity), RSRC_CONF,
                  "How many unused tokens the store holds (default 50000)"),
    AP_INIT_TAKE1("DownloadTokenMaxCalls", set_store_number,
                  SERVER_FIELD(max_calls), RSRC_CONF,
                  "The most call ids one token may name (default 100)"),
    AP_INIT_TAKE1("DownloadTokenSnapshotFile", set_snapshot_file, NULL,
                  RSRC_CONF,
                  "Where sessions and unused tokens wait between a clean "
                  "stop and the next start, or 'none' (default "
                  "downloadtoken.snapshot in DefaultRuntimeDir)"),
    AP_INIT_ITERATE("DownloadTokenAuthProvider", add_provider, NULL,
                    OR_AUTHCFG | ACCESS_CONF,
                    "Authn providers that check a login's password, in "
                    "order (default 'file')"),
    AP_INIT_TAKE1("DownloadTokenSessionIdleTimeout", set_seconds,
                  DIR_FIELD(idle_timeout), OR_AUTHCFG | ACCESS_CONF,
                  "Seconds a session may sit unused before it ends "
                  "(default 1800)"),
    AP_INIT_TAKE1("DownloadTokenSessionMaxLifetime", set_seconds,
                  DIR_FIELD(max_lifetime), OR_AUTHCFG | ACCESS_CONF,
                  "Seconds after login at which a session ends however "
                  "much it is used (default 28800)"),
    AP_INIT_TAKE1("DownloadTokenLifetime", set_seconds,
                  DIR_FIELD(token_lifetime), OR_AUTHCFG | ACCESS_CONF,
                  "Seconds an unused token stays valid (default 300)"),
    AP_INIT_TAKE1("DownloadTokenCookiePath", set_cookie_path, NULL,
                  OR_AUTHCFG | ACCESS_CONF,
                  "Path attribute of the session cookie (default: the "
                  "login URL's parent, such as /callrec)"),
    AP_INIT_TAKE1("DownloadTokenMaxBodySize", set_limit, "body",
                  OR_AUTHCFG | ACCESS_CONF,
                  "Largest form body accepted, in bytes (default 8192)"),
    AP_INIT_TAKE1("DownloadTokenMaxParameters", set_limit, "params",
                  OR_AUTHCFG | ACCESS_CONF,
                  "Most name=value pairs accepted per request "
                  "(default 256)"),
    AP_INIT_TAKE1("DownloadTokenLength", set_limit, "length",
                  OR_AUTHCFG | ACCESS_CONF,
                  "Characters in a new token, 16 to 64 (default 20)"),
    AP_INIT_TAKE1("DownloadTokenMaxPerSession", set_limit, "per-session",
                  OR_AUTHCFG | ACCESS_CONF,
                  "Most unused tokens one session may hold (default 100)"),
    AP_INIT_ITERATE("DownloadTokenTypes", add_type, NULL,
                    OR_AUTHCFG | ACCESS_CONF,
                    "Media types a token may name: 1 call audio, 16 video "
                    "(default both)"),
    AP_INIT_ITERATE("DownloadTokenActions", add_action, NULL,
                    OR_AUTHCFG | ACCESS_CONF,
                    "Values of 'action' a token may name (default "
                    "'download')"),
    AP_INIT_TAKE2("DownloadTokenCallFile", set_media_file, "id",
                  OR_AUTHCFG | ACCESS_CONF,
                  "A media type (1 or 16) and the path of a call's file, "
                  "with {id} for the call id"),
    AP_INIT_TAKE2("DownloadTokenSidFile", set_media_file, "sid",
                  OR_AUTHCFG | ACCESS_CONF,
                  "A media type (1 or 16) and the path of a call's file, "
                  "with {sid} for the call SID"),
    AP_INIT_FLAG("DownloadTokenServeWithoutSession", set_serve_without_session,
                 NULL, OR_AUTHCFG | ACCESS_CONF,
                 "On: a token is redeemed even when the request presents "
                 "no session; Off: the issuing session must be presented "
                 "(default On)"),
    {NULL}};

/* ------------------------------------------------------------------ */
/* The shared store and its lifecycle                                  */

/* What outlives a server generation, kept in the process pool. */
typedef struct dt_shared {
    apr_shm_t *shm;
    apr_global_mutex_t *mutex;
    const char *mutex_file;
    dt_shm_layout layout; /* the layout the block has */
} dt_shared;

/* This generation's view of it. */
static dt_shared *shared;
static dt_store *store;
static const char *snapshot_path; /* NULL: no snapshot */
static pid_t parent_pid;

static void layout_from_conf(const dt_server_conf *conf, dt_shm_layout *layout)
{
    layout->session_capacity = conf->session_capacity
                                   ? conf->session_capacity
                                   : DEFAULT_SESSION_CAPACITY;
    layout->token_capacity = conf->token_capacity ? conf->token_capacity
                                                  : DEFAULT_TOKEN_CAPACITY;
    layout->max_calls = conf->max_calls ? conf->max_calls : DEFAULT_MAX_CALLS;
}

static int dt_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                         apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;

    default_providers = apr_array_make(pconf, 1, sizeof(char *));
    APR_ARRAY_PUSH(default_providers, const char *) = AUTHN_DEFAULT_PROVIDER;
    default_actions = apr_array_make(pconf, 1, sizeof(char *));
    APR_ARRAY_PUSH(default_actions, const char *) = DEFAULT_ACTION;

    return ap_mutex_register(pconf, DT_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0)
                   == APR_SUCCESS
               ? OK
               : HTTP_INTERNAL_SERVER_ERROR;
}

/* Creates the block and the mutex in the process pool, at first start. */
static apr_status_t create_shared(server_rec *s, const dt_shm_layout *layout)
{
    apr_pool_t *pool = s->process->pool;
    apr_size_t size = dt_shm_size(layout);
    apr_uint64_t seed;
    dt_shared *sh = apr_pcalloc(pool, sizeof(*sh));
    apr_status_t rv;

    rv = apr_shm_create(&sh->shm, size, NULL, pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     DT_LOG
                     "cannot create %" APR_SIZE_T_FMT " bytes of shared "
                     "memory; lower DownloadTokenTokenCapacity, "
                     "DownloadTokenSessionCapacity or DownloadTokenMaxCalls",
                     size);
        return rv;
    }
    rv = apr_generate_random_bytes((unsigned char *)&seed, sizeof(seed));
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     DT_LOG "no random bytes for the hash seed");
        return rv;
    }
    dt_shm_format(apr_shm_baseaddr_get(sh->shm), layout, seed);

    rv = ap_global_mutex_create(&sh->mutex, &sh->mutex_file, DT_MUTEX_TYPE,
                                NULL, s, pool, 0);
    if (rv != APR_SUCCESS) {
        return rv; /* httpd has logged why */
    }
    sh->layout = *layout;
    apr_pool_userdata_set(sh, DT_SHARED_KEY, apr_pool_cleanup_null, pool);
    shared = sh;

    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 DT_LOG "store of %u sessions and %u tokens (%u calls each) "
                        "in %" APR_SIZE_T_FMT " bytes of shared memory",
                 layout->session_capacity, layout->token_capacity,
                 layout->max_calls, size);
    return APR_SUCCESS;
}

static void load_snapshot(server_rec *s, apr_pool_t *ptemp)
{
    apr_uint32_t sessions, tokens;
    apr_status_t rv;

    rv = dt_shm_store_load(store, snapshot_path, apr_time_now(), ptemp,
                           &sessions, &tokens);
    if (rv == APR_ENOENT) {
        return;
    }
    ap_log_error(APLOG_MARK, rv == APR_SUCCESS ? APLOG_NOTICE : APLOG_WARNING,
                 rv, s, DT_LOG "read %u sessions and %u tokens from %s%s",
                 sessions, tokens, snapshot_path,
                 rv == APR_SUCCESS ? ""
                                   : ", which is damaged; the rest is "
                                     "lost");
}

/* At a clean stop (not a restart: the memory lives on then), the parent
 * writes what is live for the next start.  Children are gone by now. */
static apr_status_t save_snapshot_at_exit(void *data)
{
    server_rec *s = data;
    apr_uint32_t sessions, tokens;
    apr_pool_t *p;
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING
        || getpid() != parent_pid || store == NULL || !snapshot_path) {
        return APR_SUCCESS;
    }
    apr_pool_create(&p, NULL);
    rv = dt_shm_store_save(store, snapshot_path, apr_time_now(), p, &sessions,
                           &tokens);
    ap_log_error(APLOG_MARK, rv == APR_SUCCESS ? APLOG_NOTICE : APLOG_ERR, rv,
                 s, DT_LOG "%s %u sessions and %u tokens to %s",
                 rv == APR_SUCCESS ? "saved" : "failed to save", sessions,
                 tokens, snapshot_path);
    apr_pool_destroy(p);
    return APR_SUCCESS;
}

static int dt_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    dt_server_conf *conf = main_server_conf(s);
    dt_shm_layout wanted;
    int fresh = 0;

    (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }

    layout_from_conf(conf, &wanted);
    snapshot_path = NULL;
    if (conf->snapshot_file == NULL) {
        snapshot_path = ap_runtime_dir_relative(pconf, DEFAULT_SNAPSHOT);
    }
    else if (strcmp(conf->snapshot_file, "none") != 0) {
        snapshot_path = conf->snapshot_file;
    }

    shared = NULL;
    apr_pool_userdata_get((void **)&shared, DT_SHARED_KEY, s->process->pool);
    if (shared == NULL) {
        if (create_shared(s, &wanted) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        fresh = 1;
    }
    else if (memcmp(&shared->layout, &wanted, sizeof(wanted)) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     DT_LOG
                     "DownloadTokenSessionCapacity, DownloadTokenTokenCapacity"
                     " or DownloadTokenMaxCalls changed; the store keeps "
                     "%u sessions, %u tokens, %u calls until a full stop "
                     "and start",
                     shared->layout.session_capacity,
                     shared->layout.token_capacity, shared->layout.max_calls);
    }

    store = dt_shm_store_open(pconf, apr_shm_baseaddr_get(shared->shm),
                              shared->mutex);
    parent_pid = getpid();
    if (fresh && snapshot_path) {
        load_snapshot(s, ptemp);
    }
    apr_pool_cleanup_register(pconf, s, save_snapshot_at_exit,
                              apr_pool_cleanup_null);
    return OK;
}

static void dt_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_global_mutex_t *mutex;
    apr_status_t rv;

    if (shared == NULL) {
        return;
    }
    mutex = shared->mutex;
    rv = apr_global_mutex_child_init(&mutex, shared->mutex_file, pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     DT_LOG "cannot re-open the store's mutex in this child");
        store = NULL;
        return;
    }
    dt_shm_store_set_mutex(store, mutex);
}

/* ------------------------------------------------------------------ */
/* Per request: replies                                                */

static int send_xml(request_rec *r, const char *body)
{
    apr_size_t len = strlen(body);

    ap_set_content_type(r, "text/xml; charset=UTF-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return OK;
}

/* A client's mistake: HTTP 200 with an <error>, a line at debug level. */
static int send_error(request_rec *r, const char *code, const char *sentence)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, DT_LOG "%s: %s", code,
                  sentence);
    return send_xml(r, dt_reply_error(r->pool, code, sentence));
}

static int send_server_error(request_rec *r, apr_status_t rv, const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, DT_LOG "%s", what);
    return send_xml(r, dt_reply_error(r->pool, "server-error",
                                      "The server could not complete the "
                                      "request."));
}

static const char *log_label(request_rec *r, const char *prefix,
                             const char *secret)
{
    char hash[9];

    dt_log_hash(secret, hash);
    return apr_pstrcat(r->pool, prefix, "#", hash, NULL);
}

/* ------------------------------------------------------------------ */
/* Per request: parameters                                             */

/* A request's parameters and, once a step has refused the request, why:
 * the steps below only record the refusal, so that they serve the
 * handlers and the redemption's fixup alike. */
typedef struct dt_request {
    apr_array_header_t *params; /* dt_param, query first, then body */
    const char *error_code;
    const char *error_text;
} dt_request;

#define REFUSED (-1)

static int refuse(dt_request *req, const char *code, const char *text)
{
    req->error_code = code;
    req->error_text = text;
    return REFUSED;
}

/* An internal failure: logged with its cause, refused as server-error. */
static int refuse_server(request_rec *r, dt_request *req, apr_status_t rv,
                         const char *what)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, DT_LOG "%s", what);
    return refuse(req, "server-error",
                  "The server could not complete the "
                  "request.");
}

static int send_refusal(request_rec *r, const dt_request *req)
{
    return send_error(r, req->error_code, req->error_text);
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
        return refuse(req, "bad-parameter",
                      "A parameter is not properly "
                      "percent-encoded.");
    }
    return refuse(req, "too-large",
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
        return refuse(req, "bad-parameter",
                      "The request body could not "
                      "be read.");
    }
    if (!ap_should_client_block(r)) {
        return OK;
    }
    if (r->remaining > limit) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return refuse(req, "too-large", "The request body is too large.");
    }

    buf = apr_palloc(r->pool, (apr_size_t)limit + 1);
    for (;;) {
        long n = ap_get_client_block(r, buf + got,
                                     (apr_size_t)limit + 1 - got);
        if (n < 0) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return refuse(req, "bad-parameter",
                          "The request body could "
                          "not be read.");
        }
        if (n == 0) {
            break;
        }
        got += (apr_size_t)n;
        if (got > (apr_size_t)limit) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return refuse(req, "too-large",
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
static int read_params(request_rec *r, const dt_settings *set, dt_request *req)
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
        return refuse(req, "bad-content-type",
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
static int begin_service(request_rec *r, const dt_settings *set,
                         dt_request *req)
{
    if ((r->method_number != M_GET && r->method_number != M_POST)
        || r->header_only) {
        return refuse(req, "bad-method", "Use GET or POST.");
    }
    return read_params(r, set, req);
}

/* One singular parameter: *value NULL when absent, refused when it is
 * given twice with different values. */
static int get_param(request_rec *r, dt_request *req, const char *name,
                     const char **value)
{
    if (dt_form_get_one(req->params, name, value) < 0) {
        return refuse(req, "bad-parameter",
                      apr_psprintf(r->pool,
                                   "The parameter %s is given "
                                   "more than once.",
                                   name));
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Per request: the session                                            */

/* What we learnt of the request's session, found once per request. */
typedef struct dt_request_state {
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

static dt_request_state *request_state(request_rec *r)
{
    dt_request_state *rs = ap_get_module_config(r->request_config,
                                                &downloadtoken_module);

    if (rs == NULL) {
        rs = apr_pcalloc(r->pool, sizeof(*rs));
        ap_set_module_config(r->request_config, &downloadtoken_module, rs);
    }
    return rs;
}

/* Strips ";jsessionid=" from the path before <Location> sections are
 * matched, as the servlet containers that the clients know did. */
static int dt_post_read_request(request_rec *r)
{
    const char *id = NULL;

    if (r->uri == NULL || !ap_strcasestr(r->uri, ";jsessionid=")) {
        return DECLINED;
    }
    if (r->parsed_uri.path && r->parsed_uri.path != r->uri) {
        const char *ignored;
        dt_path_session_strip(r->pool, r->parsed_uri.path, &ignored);
    }
    if (dt_path_session_strip(r->pool, r->uri, &id) > 0) {
        request_state(r)->path_session = id;
    }
    return DECLINED;
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
static apr_array_header_t *session_candidates(request_rec *r,
                                              dt_request_state *rs)
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
static int find_session(request_rec *r, dt_session **out)
{
    dt_request_state *rs = request_state(r);
    apr_array_header_t *ids = NULL;
    int i;

    if (!rs->looked_up && store != NULL) {
        rs->looked_up = 1;
        ids = session_candidates(r, rs);
        for (i = 0; i < ids->nelts && !rs->found; i++) {
            const char *id = APR_ARRAY_IDX(ids, i, const char *);
            rs->found = dt_session_id_valid(id)
                        && store->ops->session_use(store, id, apr_time_now(),
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

/* AuthType DownloadToken: the session's user is the request's user, so
 * Require valid-user, Require user and Require group apply to it. */
static int dt_check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    dt_session *session;

    if (type == NULL || strcasecmp(type, DT_AUTH_TYPE) != 0) {
        return DECLINED;
    }
    r->ap_auth_type = (char *)DT_AUTH_TYPE;
    if (r->main) {
        const char *user = request_state(r->main)->token_user;
        if (user) {
            r->user = apr_pstrdup(r->pool, user);
            return OK;
        }
    }
    if (!find_session(r, &session)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      DT_LOG "no live session for %s", r->uri);
        return HTTP_UNAUTHORIZED;
    }
    return OK;
}

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
            return refuse_server(r, req, rv,
                                 "no random bytes for a "
                                 "session id");
        }
        rv = store->ops->session_put(store, s, now);
        if (rv != DT_STORE_EXISTS) {
            break;
        }
    }
    if (rv == DT_STORE_FULL) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      DT_LOG
                      "the session table is full of live sessions; raise "
                      "DownloadTokenSessionCapacity");
        return refuse(req, "store-full",
                      "No more sessions can be opened "
                      "now.");
    }
    if (rv != APR_SUCCESS) {
        return refuse_server(r, req, rv, "cannot store a new session");
    }
    return OK;
}

static int login_handler(request_rec *r)
{
    dt_settings set;
    dt_request req;
    dt_session session;
    const char *user, *password;
    authn_status auth;

    get_settings(r, &set);
    if (begin_service(r, &set, &req) != OK
        || get_param(r, &req, "loginname", &user) != OK
        || get_param(r, &req, "password", &password) != OK) {
        return send_refusal(r, &req);
    }
    if (user == NULL || *user == '\0' || password == NULL) {
        return send_error(r, "missing-parameter",
                          "Log in needs loginname "
                          "and password.");
    }
    if (strlen(user) > DT_USER_MAX) {
        return send_error(r, "bad-parameter", "The login name is too long.");
    }

    r->user = (char *)user;
    auth = check_password(r, &set, user, password);
    r->user = NULL;
    if (auth == AUTH_GENERAL_ERROR) {
        return send_server_error(r, APR_EGENERAL,
                                 "the authn provider "
                                 "failed");
    }
    if (auth != AUTH_GRANTED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      DT_LOG "login of '%s' refused",
                      ap_escape_logitem(r->pool, user));
        return send_error(r, "login-failed",
                          "Access is denied: wrong login "
                          "name or password.");
    }

    if (open_session(r, &req, &set, user, &session) != OK) {
        return send_refusal(r, &req);
    }
    r->user = (char *)user;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "login of '%s', %s",
                  user, log_label(r, "sess", session.id));
    set_session_cookie(r, &set, session.id, 0);
    return send_xml(r, dt_reply_login_ok(r->pool, session.id));
}

/* ------------------------------------------------------------------ */
/* Log Out Service                                                     */

static int logout_handler(request_rec *r)
{
    dt_settings set;
    dt_request req;
    dt_session *session;
    apr_status_t rv;

    get_settings(r, &set);
    if (begin_service(r, &set, &req) != OK) {
        return send_refusal(r, &req);
    }
    if (!find_session(r, &session)) {
        return send_error(r, "no-session", "There is no session to close.");
    }
    rv = store->ops->session_end(store, session->id, apr_time_now());
    if (rv != APR_SUCCESS && rv != DT_STORE_NOTFOUND) {
        return send_server_error(r, rv, "cannot end a session");
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "logout of '%s', %s",
                  session->user, log_label(r, "sess", session->id));
    set_session_cookie(r, &set, "", 1);
    return send_xml(r, dt_reply_ok(r->pool, "Session closed."));
}

/* ------------------------------------------------------------------ */
/* Download Token Service                                              */

/* The calls a token names: a SID, or the union of every id_call[]. */
static int read_calls(request_rec *r, dt_request *req, dt_token *t,
                      apr_array_header_t **ids)
{
    apr_uint32_t max_calls = shared->layout.max_calls;
    const char *sid;
    int i;

    if (get_param(r, req, "sid", &sid) != OK) {
        return REFUSED;
    }
    if (sid != NULL) {
        if (!dt_sid_valid(sid)) {
            return refuse(req, "bad-sid",
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
            return refuse(req, "bad-call-id",
                          "A call id is not a "
                          "positive decimal number.");
        }
        if (st == DT_IDS_TOO_MANY) {
            return refuse(req, "too-many-calls",
                          apr_psprintf(r->pool,
                                       "A token may name at "
                                       "most %u calls.",
                                       max_calls));
        }
    }
    if ((*ids)->nelts == 0) {
        return refuse(req, "missing-parameter",
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

    if (get_param(r, req, "type", &type) != OK
        || get_param(r, req, "action", &action) != OK) {
        return REFUSED;
    }
    if (type == NULL) {
        return refuse(req, "missing-parameter",
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
        return refuse(req, "bad-type",
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
    return refuse(req, "bad-action", "This action is not served here.");
}

static int store_token(request_rec *r, dt_request *req, const dt_settings *set,
                       dt_token *t)
{
    apr_time_t now = apr_time_now();
    apr_status_t rv = DT_STORE_EXISTS;
    int attempt;

    t->created = now;
    t->expires = now + set->token_lifetime;
    for (attempt = 0; attempt < 3 && rv == DT_STORE_EXISTS; attempt++) {
        rv = dt_random_token(t->token, (apr_size_t)set->token_length);
        if (rv != APR_SUCCESS) {
            return refuse_server(r, req, rv, "no random bytes for a token");
        }
        rv = store->ops->token_put(store, t,
                                   (apr_uint32_t)set->max_per_session, now);
    }
    switch (rv) {
    case APR_SUCCESS:
        return OK;
    case DT_STORE_CAP:
        return refuse(req, "store-full",
                      "This session holds too many "
                      "unused tokens.");
    case DT_STORE_FULL:
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      DT_LOG "the token table is full of live tokens; raise "
                             "DownloadTokenTokenCapacity");
        return refuse(req, "store-full",
                      "No more tokens can be issued "
                      "now.");
    case DT_STORE_NOTFOUND:
        return refuse(req, "no-session", "The session has ended.");
    default:
        return refuse_server(r, req, rv, "cannot store a new token");
    }
}

static int issue_handler(request_rec *r)
{
    dt_settings set;
    dt_request req;
    dt_session *session;
    dt_token token;
    apr_array_header_t *ids = NULL;

    get_settings(r, &set);
    if (begin_service(r, &set, &req) != OK) {
        return send_refusal(r, &req);
    }
    if (!find_session(r, &session)) {
        return send_error(r, "no-session", "Log in first.");
    }

    memset(&token, 0, sizeof(token));
    if (read_calls(r, &req, &token, &ids) != OK
        || read_type_and_action(r, &req, &set, &token) != OK) {
        return send_refusal(r, &req);
    }
    memcpy(token.session_id, session->id, sizeof(token.session_id));
    if (ids) {
        token.n_ids = (apr_uint32_t)ids->nelts;
        token.ids = (const apr_uint64_t *)ids->elts;
    }

    if (store_token(r, &req, &set, &token) != OK) {
        return send_refusal(r, &req);
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  DT_LOG "%s issued to '%s' for %u call(s)",
                  log_label(r, "token", token.token), session->user,
                  token.n_ids ? token.n_ids : 1);
    return send_xml(r, dt_reply_token(r->pool, token.token));
}

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
        return refuse(req, "not-found", "The file of a call does not exist.");
    }
    return OK;
}

/* The files a token names, under this location's paths for its type. */
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
        return refuse(req, "not-found",
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
        return refuse(req, "not-authorized",
                      "You may not have one of "
                      "these calls.");
    }
    /* Whatever else the sub-request made of it (mod_dir answers 301 for
     * a folder), anything but a regular file is no call's file. */
    if (rr->status == HTTP_NOT_FOUND || rr->finfo.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, DT_LOG "no file %s for %s",
                      m->path, m->name);
        ap_destroy_sub_req(rr);
        return refuse(req, "not-found", "The file of a call does not exist.");
    }
    if (rr->status != HTTP_OK) {
        ap_destroy_sub_req(rr);
        return refuse_server(r, req, APR_EGENERAL,
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
    dt_request_state *rs = request_state(r);
    apr_array_header_t *ids = session_candidates(r, rs);
    dt_session *live;
    int i;

    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        if (dt_session_id_valid(id)
            && dt_equal_ct(id, t->session_id, DT_ID_LEN)) {
            return OK;
        }
    }
    if (find_session(r, &live)) {
        return refuse(req, "session-mismatch",
                      "The token belongs to "
                      "another session.");
    }
    if (!set->serve_without_session) {
        return refuse(req, "no-session",
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
        return refuse(req, "unknown-token",
                      "The token is unknown, used or "
                      "expired.");
    }
    rv = store->ops->token_take(store, text, apr_time_now(), !r->header_only,
                                r->pool, t);
    if (rv == DT_STORE_NOTFOUND) {
        return refuse(req, "unknown-token",
                      "The token is unknown, used or "
                      "expired.");
    }
    if (rv == DT_STORE_ENDED) {
        return refuse(req, "session-ended",
                      "The session that asked for "
                      "the token has ended.");
    }
    if (rv != APR_SUCCESS) {
        return refuse_server(r, req, rv, "cannot take a token");
    }
    return OK;
}

static void deliver_one(request_rec *r, request_rec *rr, const dt_media *m)
{
    const char *user = r->user;

    ap_internal_fast_redirect(rr, r);
    r->user = (char *)user;
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

    get_settings(r, &set);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        return refuse(req, "bad-method", "Use GET, POST or HEAD.");
    }
    if (read_params(r, &set, req) != OK
        || get_param(r, req, "token", &text) != OK) {
        return REFUSED;
    }
    if (text == NULL) {
        return refuse(req, "missing-parameter", "Give the token.");
    }
    if (take_token(r, req, text, &t) != OK
        || check_presented_session(r, req, &set, &t) != OK) {
        return REFUSED;
    }
    if (strcmp(t.action, SERVED_ACTION) != 0) {
        return refuse(req, "action-not-served",
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
        log_label(r, "token", text), r->header_only ? "looked at" : "redeemed",
        t.user, files->nelts);

    if (files->nelts == 1) {
        deliver_one(r, rr, &APR_ARRAY_IDX(files, 0, dt_media));
    }
    else {
        ap_destroy_sub_req(rr);
        rs->zip = files;
    }
    return OK;
}

static int dt_fixups(request_rec *r)
{
    dt_request_state *rs;

    if (r->main || r->handler == NULL || strcmp(r->handler, H_REDEEM) != 0) {
        return DECLINED;
    }
    rs = request_state(r);
    rs->redeemed = 1;
    if (store == NULL) {
        refuse_server(r, &rs->refusal, APR_EGENERAL,
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

static int redeem_handler(request_rec *r)
{
    dt_request_state *rs = request_state(r);

    if (!rs->redeemed) {
        return send_server_error(r, APR_EGENERAL,
                                 "the redemption did not "
                                 "run before the handler");
    }
    if (rs->refusal.error_code) {
        return send_refusal(r, &rs->refusal);
    }
    if (rs->zip) {
        return send_zip(r, rs->zip);
    }
    return send_server_error(r, APR_EGENERAL,
                             "a redemption came to the "
                             "handler with nothing to send");
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

    LINE("store", "%s", store->ops->name);
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
static int status_handler(request_rec *r)
{
    apr_array_header_t *lines;
    dt_store_stats st;
    apr_status_t rv;
    int i;

    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    rv = store->ops->stats(store, 1, &st);
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
static int status_hook(request_rec *r, int flags)
{
    apr_array_header_t *lines;
    dt_store_stats st;
    int i;

    if (store == NULL || store->ops->stats(store, 0, &st) != APR_SUCCESS) {
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

/* ------------------------------------------------------------------ */
/* Dispatch and registration                                           */

static int dt_handler(request_rec *r)
{
    int (*service)(request_rec *);

    if (r->handler == NULL) {
        return DECLINED;
    }
    if (strcmp(r->handler, H_LOGIN) == 0) {
        service = login_handler;
    }
    else if (strcmp(r->handler, H_LOGOUT) == 0) {
        service = logout_handler;
    }
    else if (strcmp(r->handler, H_ISSUE) == 0) {
        service = issue_handler;
    }
    else if (strcmp(r->handler, H_STATUS) == 0) {
        service = status_handler;
    }
    else if (strcmp(r->handler, H_REDEEM) == 0) {
        service = redeem_handler;
    }
    else {
        return DECLINED;
    }
    if (store == NULL) {
        return send_server_error(r, APR_EGENERAL,
                                 "the store is not "
                                 "available in this process");
    }
    return service(r);
}

static void dt_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(dt_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(dt_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(dt_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(dt_post_read_request, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_check_authn(dt_check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_fixups(dt_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_handler(dt_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(downloadtoken) = {STANDARD20_MODULE_STUFF,
                                    create_dir_conf,
                                    merge_dir_conf,
                                    create_server_conf,
                                    NULL,
                                    dt_directives,
                                    dt_register_hooks,
                                    AP_MODULE_FLAG_NONE};
