/*
 * mod_downloadtoken_config.c: the directives, each checked when the
 * configuration is read, and the per-location settings with defaults.
 */
#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "ap_provider.h"
#include "mod_auth.h"

#include "dt_random.h"

#include "mod_downloadtoken.h"

/* Log lines from this file are tagged [downloadtoken:...] as well. */
APLOG_USE_MODULE(downloadtoken);

void *dt_create_server_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(dt_server_conf));
}

void *dt_create_dir_conf(apr_pool_t *p, char *dir)
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

void *dt_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
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

/* Lists that a default stands for, made anew with each configuration. */
void dt_config_defaults(apr_pool_t *pconf)
{
    default_providers = apr_array_make(pconf, 1, sizeof(char *));
    APR_ARRAY_PUSH(default_providers, const char *) = AUTHN_DEFAULT_PROVIDER;
    default_actions = apr_array_make(pconf, 1, sizeof(char *));
    APR_ARRAY_PUSH(default_actions, const char *) = DEFAULT_ACTION;
}

void dt_layout_from_conf(const dt_server_conf *conf, dt_shm_layout *layout)
{
    layout->session_capacity = conf->session_capacity
                                   ? conf->session_capacity
                                   : DEFAULT_SESSION_CAPACITY;
    layout->token_capacity = conf->token_capacity ? conf->token_capacity
                                                  : DEFAULT_TOKEN_CAPACITY;
    layout->max_calls = conf->max_calls ? conf->max_calls : DEFAULT_MAX_CALLS;
}

/* The one place where defaults are applied. */
void dt_get_settings(request_rec *r, dt_settings *out)
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

dt_server_conf *dt_main_server_conf(server_rec *s)
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
    dt_server_conf *conf = dt_main_server_conf(cmd->server);
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
    dt_server_conf *conf = dt_main_server_conf(cmd->server);
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

const command_rec dt_directives[] = {
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
                    RSRC_CONF | ACCESS_CONF,
                    "Authn providers that check a login's password, in "
                    "order (default 'file')"),
    AP_INIT_TAKE1("DownloadTokenSessionIdleTimeout", set_seconds,
                  DIR_FIELD(idle_timeout), RSRC_CONF | ACCESS_CONF,
                  "Seconds a session may sit unused before it ends "
                  "(default 1800)"),
    AP_INIT_TAKE1("DownloadTokenSessionMaxLifetime", set_seconds,
                  DIR_FIELD(max_lifetime), RSRC_CONF | ACCESS_CONF,
                  "Seconds after login at which a session ends however "
                  "much it is used (default 28800)"),
    AP_INIT_TAKE1("DownloadTokenLifetime", set_seconds,
                  DIR_FIELD(token_lifetime), RSRC_CONF | ACCESS_CONF,
                  "Seconds an unused token stays valid (default 300)"),
    AP_INIT_TAKE1("DownloadTokenCookiePath", set_cookie_path, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "Path attribute of the session cookie (default: the "
                  "login URL's parent, such as /callrec)"),
    AP_INIT_TAKE1("DownloadTokenMaxBodySize", set_limit, "body",
                  RSRC_CONF | ACCESS_CONF,
                  "Largest form body accepted, in bytes (default 8192)"),
    AP_INIT_TAKE1("DownloadTokenMaxParameters", set_limit, "params",
                  RSRC_CONF | ACCESS_CONF,
                  "Most name=value pairs accepted per request "
                  "(default 256)"),
    AP_INIT_TAKE1("DownloadTokenLength", set_limit, "length",
                  RSRC_CONF | ACCESS_CONF,
                  "Characters in a new token, 16 to 64 (default 20)"),
    AP_INIT_TAKE1("DownloadTokenMaxPerSession", set_limit, "per-session",
                  RSRC_CONF | ACCESS_CONF,
                  "Most unused tokens one session may hold (default 100)"),
    AP_INIT_ITERATE("DownloadTokenTypes", add_type, NULL,
                    RSRC_CONF | ACCESS_CONF,
                    "Media types a token may name: 1 call audio, 16 video "
                    "(default both)"),
    AP_INIT_ITERATE("DownloadTokenActions", add_action, NULL,
                    RSRC_CONF | ACCESS_CONF,
                    "Values of 'action' a token may name (default "
                    "'download')"),
    AP_INIT_TAKE2("DownloadTokenCallFile", set_media_file, "id",
                  RSRC_CONF | ACCESS_CONF,
                  "A media type (1 or 16) and the path of a call's file, "
                  "with {id} for the call id"),
    AP_INIT_TAKE2("DownloadTokenSidFile", set_media_file, "sid",
                  RSRC_CONF | ACCESS_CONF,
                  "A media type (1 or 16) and the path of a call's file, "
                  "with {sid} for the call SID"),
    AP_INIT_FLAG("DownloadTokenServeWithoutSession", set_serve_without_session,
                 NULL, RSRC_CONF | ACCESS_CONF,
                 "On: a token is redeemed even when the request presents "
                 "no session; Off: the issuing session must be presented "
                 "(default On)"),
    {NULL}};
