/*  testlib — the smallest test harness that does the job.

    A test file defines cases with TEST(name) { ... } and registers them in
    main() with RUN(name). Checks record a failure with file, line and what
    was compared, and the case goes on (so one run shows every broken
    boundary). TESTLIB_END() prints "<binary>: N passed, N failed" — the line
    tests/harness/run-all.sh adds up — and returns the exit status.

    Table-driven tests loop over a static array of rows and use CHECKF with
    the row's label.
*/
#ifndef TESTLIB_H
#define TESTLIB_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int testlib_passed, testlib_failed, testlib_case_failed;
static const char *testlib_name = "test";

#define TEST(name) static void name (void)

#define RUN(name) do { \
        testlib_case_failed = 0; \
        name (); \
        if (testlib_case_failed) { testlib_failed++; printf ("not ok - %s\n", #name); } \
        else { testlib_passed++; printf ("ok - %s\n", #name); } \
        fflush (stdout); \
    } while (0)

#define CHECKF(cond, ...) do { \
        if (!(cond)) { \
            testlib_case_failed = 1; \
            printf ("  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            printf (__VA_ARGS__); printf ("\n"); \
        } \
    } while (0)

#define CHECK(cond) CHECKF (cond, "false")

#define CHECK_INT(a, b) do { \
        long long _a = (long long) (a), _b = (long long) (b); \
        CHECKF (_a == _b, "%s = %lld, expected %lld", #a, _a, _b); \
    } while (0)

#define CHECK_STR(a, b) do { \
        const char *_a = (a), *_b = (b); \
        CHECKF (_a && _b && strcmp (_a, _b) == 0, "%s = \"%s\", expected \"%s\"", #a, \
                _a ? _a : "(null)", _b ? _b : "(null)"); \
    } while (0)

#define TESTLIB_BEGIN(name) do { testlib_name = (name); } while (0)

#define TESTLIB_END() ( \
        printf ("%s: %d passed, %d failed\n", testlib_name, testlib_passed, testlib_failed), \
        testlib_failed ? 1 : 0)

#endif
