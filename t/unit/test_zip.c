/*
 * test_zip.c: archives made by dt_zip, checked by an independent reader
 * (Info-ZIP's unzip): entries, names, bytes, and a sink that gives up.
 */
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "dt_test.h"
#include "dt_zip.h"

static apr_pool_t *pool;
static const char *dir;

static int to_file(void *ctx, const void *data, apr_size_t len)
{
    return apr_file_write_full(ctx, data, len, NULL) == APR_SUCCESS ? 0 : -1;
}

static int give_up_after_a_while(void *ctx, const void *data, apr_size_t len)
{
    apr_size_t *budget = ctx;

    (void)data;
    if (len > *budget) {
        return -1;
    }
    *budget -= len;
    return 0;
}

/* A file of n bytes whose content depends on seed. */
static const char *make_file(const char *name, apr_size_t n, int seed)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL);
    char *buf = malloc(n);
    apr_file_t *f;
    apr_size_t i;

    for (i = 0; i < n; i++) {
        buf[i] = (char)((i * 31 + (apr_size_t)seed) & 0xff);
    }
    apr_file_open(&f, path,
                  APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                  APR_FPROT_OS_DEFAULT, pool);
    apr_file_write_full(f, buf, n, NULL);
    apr_file_close(f);
    free(buf);
    return path;
}

static int run(const char *command)
{
    return system(command);
}

DT_TEST(two_files_read_back_by_unzip)
{
    const char *a = make_file("a.bin", 300000, 1);
    const char *b = make_file("b.bin", 10, 2);
    const char *zip_path = apr_pstrcat(pool, dir, "/out.zip", NULL);
    apr_file_t *out;
    dt_zip *zip;

    apr_file_open(&out, zip_path,
                  APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                  APR_FPROT_OS_DEFAULT, pool);
    DT_CHECK_INT(dt_zip_open(&zip, pool, to_file, out), APR_SUCCESS);
    DT_CHECK_INT(dt_zip_add_file(zip, "1165.mp3", a, pool), APR_SUCCESS);
    DT_CHECK_INT(dt_zip_add_file(zip, "1166.mp3", b, pool), APR_SUCCESS);
    DT_CHECK_INT(dt_zip_close(zip), APR_SUCCESS);
    apr_file_close(out);

    DT_CHECK_INT(run(apr_psprintf(pool, "unzip -tq %s >/dev/null", zip_path)),
                 0);
    DT_CHECK_INT(run(apr_psprintf(pool,
                                  "unzip -Z1 %s | tr '\\n' ' ' | "
                                  "grep -qx '1165.mp3 1166.mp3 '",
                                  zip_path)),
                 0);
    DT_CHECK_INT(run(apr_psprintf(pool, "unzip -p %s 1165.mp3 | cmp -s - %s",
                                  zip_path, a)),
                 0);
    DT_CHECK_INT(run(apr_psprintf(pool, "unzip -p %s 1166.mp3 | cmp -s - %s",
                                  zip_path, b)),
                 0);
}

DT_TEST(missing_file_is_an_error)
{
    apr_size_t budget = 1 << 20;
    dt_zip *zip;

    DT_CHECK_INT(dt_zip_open(&zip, pool, give_up_after_a_while, &budget),
                 APR_SUCCESS);
    DT_CHECK(dt_zip_add_file(zip, "x", "/nonexistent/file", pool)
             != APR_SUCCESS);
    DT_CHECK_INT(dt_zip_close(zip), APR_SUCCESS);
}

DT_TEST(sink_that_gives_up_fails_the_archive)
{
    const char *a = make_file("c.bin", 500000, 3);
    apr_size_t budget = 100000;
    apr_status_t rv;
    dt_zip *zip;

    DT_CHECK_INT(dt_zip_open(&zip, pool, give_up_after_a_while, &budget),
                 APR_SUCCESS);
    rv = dt_zip_add_file(zip, "1167.mp3", a, pool);
    DT_CHECK(rv != APR_SUCCESS || dt_zip_close(zip) != APR_SUCCESS);
}

static int count_calls(void *ctx, const void *data, apr_size_t len)
{
    (void)data;
    (void)len;
    (*(int *)ctx)++;
    return 0;
}

/* A request that ends before its archive does (the client left) frees
 * the archive with its pool: nothing may be written after that. */
DT_TEST(abandoned_archive_writes_nothing_more)
{
    const char *a = make_file("d.bin", 1000, 4);
    apr_pool_t *request_pool;
    int calls = 0, calls_before;
    dt_zip *zip;

    apr_pool_create(&request_pool, pool);
    DT_CHECK_INT(dt_zip_open(&zip, request_pool, count_calls, &calls),
                 APR_SUCCESS);
    DT_CHECK_INT(dt_zip_add_file(zip, "1.mp3", a, request_pool), APR_SUCCESS);
    calls_before = calls;
    DT_CHECK(calls_before > 0);
    apr_pool_destroy(request_pool);
    DT_CHECK_INT(calls, calls_before);
}

int main(void)
{
    char tmpl[] = "/tmp/dt-zip-XXXXXX";

    apr_initialize();
    apr_pool_create(&pool, NULL);
    dir = mkdtemp(tmpl);

    DT_RUN(two_files_read_back_by_unzip);
    DT_RUN(missing_file_is_an_error);
    DT_RUN(sink_that_gives_up_fails_the_archive);
    DT_RUN(abandoned_archive_writes_nothing_more);

    run(apr_psprintf(pool, "rm -rf %s", dir));
    apr_terminate();
    return dt_test_summary();
}
