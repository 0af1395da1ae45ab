/*
 * dt_fuzz.h: what every libFuzzer target of t/fuzz/ shares: APR set up
 * once, a root pool for each input's pool, and CHECK, which aborts so
 * that the fuzzer keeps the input that broke an invariant.  Each target
 * is one program, so this header holds definitions and is included once.
 */
#ifndef DT_FUZZ_H
#define DT_FUZZ_H

#include <stdint.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_pools.h>

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            abort();                                                          \
        }                                                                     \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&root, NULL) != APR_SUCCESS) {
        abort();
    }
    return 0;
}

#endif /* DT_FUZZ_H */
