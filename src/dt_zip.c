/*
 * dt_zip.c: a streamed ZIP archive of several files, written by
 * libarchive into a caller's sink.
 */
#include <archive.h>
#include <archive_entry.h>

#include <apr_file_io.h>

#include "dt_zip.h"

#define DT_ZIP_CHUNK (64 * 1024)

struct dt_zip {
    struct archive *writer;
    dt_zip_sink sink;
    void *ctx;
    char *chunk;
    int failed;
};

static la_ssize_t write_to_sink(struct archive *a, void *data, const void *buf,
                                size_t len)
{
    dt_zip *zip = data;

    (void)a;
    if (zip->sink == NULL || zip->sink(zip->ctx, buf, len) != 0) {
        zip->failed = 1;
        return -1;
    }
    return (la_ssize_t)len;
}

/* Frees the writer.  An archive still open here was abandoned (the
 * client left, a file failed): it must not write its last bytes, since
 * whatever the sink wrote to may be gone by now. */
static apr_status_t free_writer(void *data)
{
    dt_zip *zip = data;

    if (zip->writer) {
        zip->sink = NULL;
        archive_write_free(zip->writer);
        zip->writer = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t dt_zip_open(dt_zip **out, apr_pool_t *p, dt_zip_sink sink,
                         void *ctx)
{
    dt_zip *zip = apr_pcalloc(p, sizeof(*zip));

    zip->sink = sink;
    zip->ctx = ctx;
    zip->chunk = apr_palloc(p, DT_ZIP_CHUNK);
    zip->writer = archive_write_new();
    if (zip->writer == NULL) {
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(p, zip, free_writer, apr_pool_cleanup_null);

    /* Unblocked: hand every write to the sink as it comes, no padding. */
    if (archive_write_set_format_zip(zip->writer) != ARCHIVE_OK
        || archive_write_zip_set_compression_store(zip->writer) != ARCHIVE_OK
        || archive_write_set_bytes_per_block(zip->writer, 0) != ARCHIVE_OK
        || archive_write_open2(zip->writer, zip, NULL, write_to_sink, NULL,
                               NULL)
               != ARCHIVE_OK) {
        return APR_EGENERAL;
    }
    *out = zip;
    return APR_SUCCESS;
}

static apr_status_t copy_file(dt_zip *zip, apr_file_t *f)
{
    for (;;) {
        apr_size_t n = DT_ZIP_CHUNK;
        apr_status_t rv = apr_file_read(f, zip->chunk, &n);

        if (rv == APR_EOF || (rv == APR_SUCCESS && n == 0)) {
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (archive_write_data(zip->writer, zip->chunk, n) != (la_ssize_t)n) {
            return APR_EGENERAL;
        }
    }
}

apr_status_t dt_zip_add_file(dt_zip *zip, const char *name, const char *path,
                             apr_pool_t *p)
{
    struct archive_entry *entry;
    apr_finfo_t finfo;
    apr_file_t *f;
    apr_status_t rv;

    rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_file_info_get(&finfo, APR_FINFO_SIZE | APR_FINFO_MTIME, f);
    if (rv != APR_SUCCESS) {
        apr_file_close(f);
        return rv;
    }

    entry = archive_entry_new();
    archive_entry_set_pathname(entry, name);
    archive_entry_set_size(entry, finfo.size);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_mtime(entry, apr_time_sec(finfo.mtime), 0);
    if (archive_write_header(zip->writer, entry) != ARCHIVE_OK) {
        rv = APR_EGENERAL;
    }
    else {
        rv = copy_file(zip, f);
    }
    archive_entry_free(entry);
    apr_file_close(f);
    return rv;
}

apr_status_t dt_zip_close(dt_zip *zip)
{
    int rc = archive_write_close(zip->writer);

    archive_write_free(zip->writer);
    zip->writer = NULL;
    return (rc == ARCHIVE_OK && !zip->failed) ? APR_SUCCESS : APR_EGENERAL;
}
