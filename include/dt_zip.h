/*
 * dt_zip.h: one ZIP archive streamed out as it is made, for a token that
 * names several calls.  The entries are stored, not compressed (recorded
 * audio and video do not shrink), and each file is read in chunks, so
 * memory does not grow with the files' size.  libarchive writes the
 * format; this file only feeds it.
 */
#ifndef DT_ZIP_H
#define DT_ZIP_H

#include <apr_errno.h>
#include <apr_pools.h>

/* Takes the next bytes of the archive; returns 0, or -1 to give up (the
 * client has gone, say). */
typedef int (*dt_zip_sink)(void *ctx, const void *data, apr_size_t len);

typedef struct dt_zip dt_zip;

apr_status_t dt_zip_open(dt_zip **zip, apr_pool_t *p, dt_zip_sink sink,
                         void *ctx);

/* Appends the file at `path` as the entry `name`. */
apr_status_t dt_zip_add_file(dt_zip *zip, const char *name, const char *path,
                             apr_pool_t *p);

/* Writes the central directory and releases the writer. */
apr_status_t dt_zip_close(dt_zip *zip);

#endif /* DT_ZIP_H */
