/*
 * mod_downloadtoken: sessions and one-time download tokens for the Call
 * Recording web API, kept in shared memory that every process, thread and
 * server generation of one Apache httpd shares.
 *
 * This file holds the hooks, the store's lifecycle and the dispatch to
 * the handlers; include/mod_downloadtoken.h says where the rest of the
 * httpd glue is.  The records, the store and the parsers live in src/
 * and need APR, not httpd.
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
 *   4. child_init re-opens the mutex in each child and maps the whole
 *      block into it (see dt_shm_prefault for why).
 *   5. At a clean stop, when the parent destroys its configuration, the
 *      live entries are written to the snapshot file.
 */
#include <unistd.h>

#include "apr_optional.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "ap_expr.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_status.h"
#include "util_mutex.h"

#include "dt_params.h"

#include "mod_downloadtoken.h"

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
dt_store *dt_active_store;
dt_shm_layout dt_active_layout;
static const char *snapshot_path; /* NULL: no snapshot */
static pid_t parent_pid;

static int dt_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                         apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;

    dt_config_defaults(pconf);
    if (ap_mutex_register(pconf, DT_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0)
        != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
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

    rv = dt_shm_store_load(dt_active_store, snapshot_path, apr_time_now(),
                           ptemp, &sessions, &tokens);
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
 * writes what is live for the next start.  Children are gone by now.
 * Known shortcoming: only a clean stop writes; when the parent crashes
 * or is killed, sessions and unused tokens since the start are lost
 * (never a used token brought back: the file is deleted once read). */
static apr_status_t save_snapshot_at_exit(void *data)
{
    server_rec *s = data;
    apr_uint32_t sessions, tokens;
    apr_pool_t *p;
    apr_status_t rv;

    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING
        || getpid() != parent_pid || dt_active_store == NULL
        || !snapshot_path) {
        return APR_SUCCESS;
    }
    apr_pool_create(&p, NULL);
    rv = dt_shm_store_save(dt_active_store, snapshot_path, apr_time_now(), p,
                           &sessions, &tokens);
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
    dt_server_conf *conf = dt_main_server_conf(s);
    dt_shm_layout wanted;
    int fresh = 0;

    (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }

    dt_layout_from_conf(conf, &wanted);
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
        /* Known shortcoming: the block cannot grow or shrink under the
         * children that use it, so new capacities wait for a full stop
         * and start (the snapshot carries the entries over). */
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, s,
            DT_LOG "DownloadTokenSessionCapacity, DownloadTokenTokenCapacity"
                   " or DownloadTokenMaxCalls changed; the store keeps "
                   "%u sessions, %u tokens, %u calls until a full stop "
                   "and start",
            shared->layout.session_capacity, shared->layout.token_capacity,
            dt_active_layout.max_calls);
    }

    dt_active_store = dt_shm_store_open(
        pconf, apr_shm_baseaddr_get(shared->shm), shared->mutex);
    dt_active_layout = shared->layout;
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
        dt_active_store = NULL;
        return;
    }
    dt_shm_store_set_mutex(dt_active_store, mutex);
    dt_shm_prefault(apr_shm_baseaddr_get(shared->shm),
                    apr_shm_size_get(shared->shm));
}

/* ------------------------------------------------------------------ */
/* Early in each request                                               */

/* Our services are URLs, not files: the directory walk would only stat
 * paths that do not exist, so it is skipped for them, as mod_proxy skips
 * it for what it serves.  <Location> sections apply to the services as
 * ever; <Directory> sections cannot, there being no directory.  httpd
 * resets the configuration before map_to_storage, so the handler that
 * the <Location> sections chose is read in translate_name. */
static int dt_translate_name(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    const char *err = NULL;
    const char *handler;

    if (core->expr_handler == NULL) {
        return DECLINED;
    }
    handler = ap_expr_str_exec(r, core->expr_handler, &err);
    if (err == NULL && handler != NULL
        && strncmp(handler, DT_HANDLER_PREFIX, sizeof(DT_HANDLER_PREFIX) - 1)
               == 0) {
        dt_request_state_of(r)->is_service = 1;
    }
    return DECLINED;
}

static int dt_map_to_storage(request_rec *r)
{
    dt_request_state *rs = ap_get_module_config(r->request_config,
                                                &downloadtoken_module);

    return (rs != NULL && rs->is_service) ? OK : DECLINED;
}

/* Strips ";jsessionid=" from the path before <Location> sections are
 * matched, as the servlet containers that the clients know did.  Known
 * shortcoming: no per-location setting exists yet at this phase, so it
 * happens on every URL of the server, ours or not. */
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
        dt_request_state_of(r)->path_session = id;
    }
    return DECLINED;
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
        const char *user = dt_request_state_of(r->main)->token_user;
        if (user) {
            r->user = apr_pstrdup(r->pool, user);
            return OK;
        }
    }
    if (!dt_find_session(r, &session)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      DT_LOG "no live session for %s", r->uri);
        return HTTP_UNAUTHORIZED;
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
        service = dt_login_handler;
    }
    else if (strcmp(r->handler, H_LOGOUT) == 0) {
        service = dt_logout_handler;
    }
    else if (strcmp(r->handler, H_ISSUE) == 0) {
        service = dt_issue_handler;
    }
    else if (strcmp(r->handler, H_STATUS) == 0) {
        service = dt_status_handler;
    }
    else if (strcmp(r->handler, H_REDEEM) == 0) {
        service = dt_redeem_handler;
    }
    else {
        return DECLINED;
    }
    if (dt_active_store == NULL) {
        return dt_send_server_error(r, APR_EGENERAL,
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
    ap_hook_translate_name(dt_translate_name, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_map_to_storage(dt_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_check_authn(dt_check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_fixups(dt_redeem_fixup, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, dt_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_handler(dt_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(downloadtoken) = {STANDARD20_MODULE_STUFF,
                                    dt_create_dir_conf,
                                    dt_merge_dir_conf,
                                    dt_create_server_conf,
                                    NULL,
                                    dt_directives,
                                    dt_register_hooks,
                                    AP_MODULE_FLAG_NONE};
