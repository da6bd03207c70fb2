/*
 * test_util.c - the small core helpers: random ids, constant-time secret comparison, strict
 * number parsing, log levels and log output, and the injectable clock.
 *
 * Random ids come from the OS CSPRNG; the checks on them (range, no zero, no sequence) fail
 * only with a probability far below 2^-100, so they are deterministic in practice.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"

/* ---- random ids ---- */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_random_id(void **state)
{
    (void)state;
    enum {
        N = 2000
    };
    static uint64_t ids[N];
    bool high_bit = false, increments = true;
    for (size_t i = 0; i < N; i++) {
        ids[i] = odeon_random_id();
        assert_true(ids[i] >= 1 && ids[i] <= ODEON_MAX_ID);
        high_bit |= (ids[i] >> 52) != 0; /* the whole 53-bit range is used */
        if (i > 0 && ids[i] != ids[i - 1] + 1)
            increments = false;
    }
    assert_true(high_bit);
    assert_false(increments);
    qsort(ids, N, sizeof(ids[0]), compare_u64);
    for (size_t i = 1; i < N; i++)
        assert_true(ids[i] != ids[i - 1]);
    /* JavaScript clients keep every digit below 2^53. */
    assert_true(ODEON_MAX_ID == UINT64_C(9007199254740991));
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
    odeon_random_bytes(a, sizeof(a));
    odeon_random_bytes(b, sizeof(b));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_memory_not_equal(a, b, sizeof(a));
    odeon_random_bytes(a, 0); /* nothing to do, nothing to crash */
}

/* ---- secrets ---- */

static void test_secret_equal(void **state)
{
    (void)state;
    assert_true(odeon_secret_equal("s3cret", "s3cret"));
    assert_true(odeon_secret_equal("", ""));
    assert_false(odeon_secret_equal("s3cret", "s3creT"));
    assert_false(odeon_secret_equal("s3cret", "x3cret"));
    assert_false(odeon_secret_equal("s3cret", "s3cre")); /* prefix */
    assert_false(odeon_secret_equal("s3cre", "s3cret")); /* longer guess */
    assert_false(odeon_secret_equal("s3cret", ""));
    assert_false(odeon_secret_equal("", "s3cret"));
    assert_false(odeon_secret_equal("s3cret", NULL));
    assert_false(odeon_secret_equal(NULL, "s3cret"));
    assert_false(odeon_secret_equal(NULL, NULL)); /* NULL equals nothing */
}

/* ---- numbers ---- */

static void test_parse_u64_valid(void **state)
{
    (void)state;
    uint64_t v = 99;
    assert_int_equal(odeon_parse_u64("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(odeon_parse_u64("10", 0, 10, &v), 0); /* max is inclusive */
    assert_int_equal(v, 10);
    assert_int_equal(odeon_parse_u64("5", 5, 5, &v), 0); /* min too */
    assert_int_equal(v, 5);
    assert_int_equal(odeon_parse_u64("007", 0, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(odeon_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_parse_u64_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {"",     "-1",  "+1",  " 1",  "1 ",  "12abc",
                                      "0x10", "1e3", "1.0", "abc", "\t2", "18446744073709551616"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint64_t v = 42;
        if (odeon_parse_u64(bad[i], 0, UINT64_MAX, &v) != ODEON_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(v, 42); /* untouched */
    }
    uint64_t v = 42;
    assert_int_equal(odeon_parse_u64(NULL, 0, 10, &v), ODEON_EINVAL);
    assert_int_equal(odeon_parse_u64("11", 0, 10, &v), ODEON_EINVAL);
    assert_int_equal(odeon_parse_u64("4", 5, 10, &v), ODEON_EINVAL);
    assert_int_equal(v, 42);
}

/* ---- log levels ---- */

static void test_log_level_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        odeon_log_level level;
    } ok[] = {{"error", ODEON_LOG_ERROR},     {"warn", ODEON_LOG_WARN},
              {"WARNING", ODEON_LOG_WARN},    {"Info", ODEON_LOG_INFO},
              {"verbose", ODEON_LOG_VERBOSE}, {"debug", ODEON_LOG_DEBUG},
              {"1", ODEON_LOG_ERROR},         {"5", ODEON_LOG_DEBUG}};
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        odeon_log_level level = 0;
        assert_int_equal(odeon_log_level_parse(ok[i].text, &level), 0);
        assert_int_equal(level, ok[i].level);
    }
    static const char *const bad[] = {"", "0", "6", "10", "loud", "debug ", "inf"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        odeon_log_level level = ODEON_LOG_WARN;
        if (odeon_log_level_parse(bad[i], &level) != ODEON_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(level, ODEON_LOG_WARN);
    }
    odeon_log_level level;
    assert_int_equal(odeon_log_level_parse(NULL, &level), ODEON_EINVAL);
}

static void test_log_level_name(void **state)
{
    (void)state;
    for (int l = ODEON_LOG_ERROR; l <= ODEON_LOG_DEBUG; l++) {
        odeon_log_level back = 0;
        assert_int_equal(odeon_log_level_parse(odeon_log_level_name(l), &back), 0);
        assert_int_equal(back, l);
    }
    assert_string_equal(odeon_log_level_name(ODEON_LOG_WARN), "warn");
    assert_string_equal(odeon_log_level_name(0), "unknown");
    assert_string_equal(odeon_log_level_name(6), "unknown");
}

static void test_log_set_level(void **state)
{
    (void)state;
    odeon_log_level before = odeon_log_get_level();
    odeon_log_set_level(ODEON_LOG_WARN);
    assert_true(odeon_log_enabled(ODEON_LOG_ERROR));
    assert_true(odeon_log_enabled(ODEON_LOG_WARN));
    assert_false(odeon_log_enabled(ODEON_LOG_INFO));
    odeon_log_set_level(0); /* clamped */
    assert_int_equal(odeon_log_get_level(), ODEON_LOG_ERROR);
    odeon_log_set_level(99);
    assert_int_equal(odeon_log_get_level(), ODEON_LOG_DEBUG);
    odeon_log_set_level(before);
}

/* ---- log output ---- */

typedef struct log_fixture {
    char *dir;
    char *path;
} log_fixture;

static int log_setup(void **state)
{
    log_fixture *fx = g_new0(log_fixture, 1);
    fx->dir = g_dir_make_tmp("odeon-log-XXXXXX", NULL);
    fx->path = g_build_filename(fx->dir, "odeon.log", NULL);
    char *error = NULL;
    if (odeon_log_open(fx->path, &error) != 0)
        fail_msg("%s", error);
    *state = fx;
    return 0;
}

static int log_teardown(void **state)
{
    log_fixture *fx = *state;
    odeon_log_close();
    GDir *d = g_dir_open(fx->dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL) {
        char *p = g_build_filename(fx->dir, name, NULL);
        g_unlink(p);
        g_free(p);
    }
    g_dir_close(d);
    g_rmdir(fx->dir);
    g_free(fx->path);
    g_free(fx->dir);
    g_free(fx);
    return 0;
}

/* The file's lines (g_strfreev); the last element after the final newline is dropped. */
static char **read_lines(const char *path, size_t *count)
{
    char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    assert_true(*text == '\0' || g_str_has_suffix(text, "\n"));
    char **lines = g_strsplit(text, "\n", -1);
    g_free(text);
    *count = g_strv_length(lines) - 1;
    return lines;
}

static void test_log_line_format(void **state)
{
    log_fixture *fx = *state;
    odeon_log_write(ODEON_LOG_WARN, "unit", "hello %d", 42);
    odeon_log_write(ODEON_LOG_ERROR, NULL, "no module");
    size_t n = 0;
    char **lines = read_lines(fx->path, &n);
    assert_int_equal(n, 2);
    assert_true(g_regex_match_simple(
        "^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\[warn\\] \\[unit\\] hello 42$",
        lines[0], 0, 0));
    assert_true(g_str_has_suffix(lines[1], " [error] [core] no module"));
    g_strfreev(lines);
}

static void test_log_neutralises_control_characters(void **state)
{
    log_fixture *fx = *state;
    /* A client-chosen transaction must not be able to forge a second log line. */
    odeon_log_write(ODEON_LOG_WARN, "unit", "tx '%s'", "a\n2026-01-01 00:00:00.000 [info] fake\r");
    size_t n = 0;
    char **lines = read_lines(fx->path, &n);
    assert_int_equal(n, 1);
    assert_true(g_str_has_suffix(lines[0], "tx 'a 2026-01-01 00:00:00.000 [info] fake '"));
    g_strfreev(lines);
}

static void test_log_truncates_long_lines(void **state)
{
    log_fixture *fx = *state;
    char *big = g_strnfill(10000, 'x');
    odeon_log_write(ODEON_LOG_INFO, "unit", "%s", big);
    /* A module name longer than the line buffer (a plugin's log callback passes it through). */
    odeon_log_write(ODEON_LOG_INFO, big, "after a huge module");
    odeon_log_write(ODEON_LOG_INFO, "unit", "still fine");
    g_free(big);
    size_t n = 0;
    char **lines = read_lines(fx->path, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_true(strlen(lines[i]) < 4096);
        assert_true(g_str_has_suffix(lines[i], "..."));
    }
    assert_true(g_str_has_suffix(lines[2], "[unit] still fine"));
    g_strfreev(lines);
}

static void test_log_reopen(void **state)
{
    log_fixture *fx = *state;
    odeon_log_write(ODEON_LOG_ERROR, "unit", "first");
    /* logrotate moves the file, then the server gets SIGHUP. */
    char *rotated = g_strconcat(fx->path, ".1", NULL);
    assert_int_equal(g_rename(fx->path, rotated), 0);
    odeon_log_reopen();
    odeon_log_write(ODEON_LOG_ERROR, "unit", "second");
    size_t n = 0;
    char **lines = read_lines(fx->path, &n);
    assert_int_equal(n, 1);
    assert_true(g_str_has_suffix(lines[0], "second"));
    g_strfreev(lines);
    lines = read_lines(rotated, &n);
    assert_int_equal(n, 1);
    assert_true(g_str_has_suffix(lines[0], "first"));
    g_strfreev(lines);
    g_free(rotated);

    /* Once closed, lines go to stderr again: the file does not grow. */
    odeon_log_close();
    odeon_log_reopen(); /* no-op on stderr */
    odeon_log_write(ODEON_LOG_ERROR, "unit", "(expected on stderr)");
    lines = read_lines(fx->path, &n);
    assert_int_equal(n, 1);
    g_strfreev(lines);
}

static void test_log_open_errors(void **state)
{
    (void)state;
    char *error = NULL;
    assert_int_equal(odeon_log_open("/nonexistent-dir/odeon.log", &error), ODEON_EIO);
    assert_non_null(error);
    assert_non_null(strstr(error, "/nonexistent-dir/odeon.log"));
    g_free(error);
    assert_int_equal(odeon_log_open("", NULL), 0);   /* stderr */
    assert_int_equal(odeon_log_open(NULL, NULL), 0); /* stderr */
}

/* ---- clock ---- */

static void test_clock_fake(void **state)
{
    (void)state;
    odeon_clock_set_fake(5, 7);
    assert_int_equal(odeon_clock_monotonic_us(), 5);
    assert_int_equal(odeon_clock_wall_us(), 7);
    assert_int_equal(odeon_clock_monotonic_us(), 5); /* frozen */
    odeon_clock_advance(10);
    assert_int_equal(odeon_clock_monotonic_us(), 15);
    assert_int_equal(odeon_clock_wall_us(), 17);
    odeon_clock_set_fake(INT64_C(1) << 40, 0);
    assert_int_equal(odeon_clock_monotonic_us(), INT64_C(1) << 40);

    odeon_clock_set_real();
    int64_t wall = odeon_clock_wall_us(), real = g_get_real_time();
    assert_true(wall > INT64_C(1600000000000000));
    assert_true(real - wall >= 0 && real - wall < 10 * G_USEC_PER_SEC);
    int64_t m1 = odeon_clock_monotonic_us(), m2 = odeon_clock_monotonic_us();
    assert_true(m1 > 0 && m2 >= m1);
}

int main(void)
{
    odeon_log_set_level(ODEON_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_parse_u64_valid),
        cmocka_unit_test(test_parse_u64_invalid),
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_log_level_name),
        cmocka_unit_test(test_log_set_level),
        cmocka_unit_test_setup_teardown(test_log_line_format, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_neutralises_control_characters, log_setup,
                                        log_teardown),
        cmocka_unit_test_setup_teardown(test_log_truncates_long_lines, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(test_log_reopen, log_setup, log_teardown),
        cmocka_unit_test(test_log_open_errors),
        cmocka_unit_test(test_clock_fake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
