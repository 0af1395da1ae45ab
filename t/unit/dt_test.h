/*
 * dt_test.h: the smallest test runner that serves the core's unit tests.
 *
 * Each t/unit/test_*.c file is one program: it defines its cases with
 * DT_TEST(name), runs them from main() with DT_RUN(name) and ends with
 * "return dt_test_summary();", which prints "N passed, N failed" and
 * returns non-zero when any check failed or no case ran.
 */
#ifndef DT_TEST_H
#define DT_TEST_H

#include <stdio.h>
#include <string.h>

static int dt_test_passed;
static int dt_test_failed;
static int dt_test_case_failed;

#define DT_TEST(name) static void name(void)

#define DT_RUN(name)                                                        \
    do {                                                                    \
        dt_test_case_failed = 0;                                            \
        name();                                                             \
        if (dt_test_case_failed) {                                          \
            dt_test_failed++;                                               \
            printf("not ok - %s\n", #name);                                 \
        }                                                                   \
        else {                                                              \
            dt_test_passed++;                                               \
            printf("ok - %s\n", #name);                                     \
        }                                                                   \
    } while (0)

#define DT_CHECK(cond)                                                      \
    do {                                                                    \
        if (!(cond)) {                                                      \
            dt_test_case_failed = 1;                                        \
            printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__,       \
                   #cond);                                                  \
        }                                                                   \
    } while (0)

#define DT_CHECK_INT(actual, expected)                                      \
    do {                                                                    \
        long long dt_a_ = (long long)(actual);                              \
        long long dt_e_ = (long long)(expected);                            \
        if (dt_a_ != dt_e_) {                                               \
            dt_test_case_failed = 1;                                        \
            printf("  %s:%d: %s is %lld, expected %lld\n", __FILE__,        \
                   __LINE__, #actual, dt_a_, dt_e_);                        \
        }                                                                   \
    } while (0)

#define DT_CHECK_STR(actual, expected)                                      \
    do {                                                                    \
        const char *dt_a_ = (actual);                                       \
        const char *dt_e_ = (expected);                                     \
        if (dt_a_ == NULL || dt_e_ == NULL || strcmp(dt_a_, dt_e_) != 0) {  \
            dt_test_case_failed = 1;                                        \
            printf("  %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,    \
                   __LINE__, #actual, dt_a_ ? dt_a_ : "(null)",             \
                   dt_e_ ? dt_e_ : "(null)");                               \
        }                                                                   \
    } while (0)

static int dt_test_summary(void)
{
    printf("%d passed, %d failed\n", dt_test_passed, dt_test_failed);
    return (dt_test_failed > 0 || dt_test_passed == 0) ? 1 : 0;
}

#endif /* DT_TEST_H */
