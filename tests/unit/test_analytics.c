/*
 * test_analytics.c - the event plugins' shared helpers (ids in bodies, role ranks, integer
 * settings) and the analytics plugin's pure parts: which bus events become engagement rows
 * (and which are ignored or malformed), and the Prometheus text of its counters and figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>
#include <jansson.h>

#include "analytics_metrics.h"
#include "plugin_common.h"

static int logged;

static void count_log(odeon_log_level level, const char *module, const char *format, ...)
{
    (void)level;
    (void)module;
    (void)format;
    logged++;
}

static void test_body_id(void **state)
{
    (void)state;
    json_t *body = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:f}", "a", 42, "b", "17", "c",
                             "1x", "d", -3, "e", "", "f", "1234567890123456789", "g", 1.5);
    int64_t v = 0;
    assert_true(odeon_body_id(body, "a", &v));
    assert_int_equal(v, 42);
    assert_true(odeon_body_id(body, "b", &v));
    assert_int_equal(v, 17);
    assert_false(odeon_body_id(body, "c", &v));
    assert_false(odeon_body_id(body, "d", &v));
    assert_false(odeon_body_id(body, "e", &v));
    assert_false(odeon_body_id(body, "f", &v)); /* 19 digits: past int64's safe range */
    assert_false(odeon_body_id(body, "g", &v));
    assert_false(odeon_body_id(body, "missing", &v));
    json_decref(body);
    char buf[24];
    assert_string_equal(odeon_id_text(buf, INT64_MAX), "9223372036854775807");
}

static void test_participant_id(void **state)
{
    (void)state;
    assert_int_equal(odeon_participant_id("participant:42"), 42);
    assert_int_equal(odeon_participant_id("participant:0"), 0);
    assert_int_equal(odeon_participant_id("participant:"), 0);
    assert_int_equal(odeon_participant_id("participant:-4"), 0);
    assert_int_equal(odeon_participant_id("participant:+4"), 0);
    assert_int_equal(odeon_participant_id("participant:4x"), 0);
    assert_int_equal(odeon_participant_id("participant:99999999999999999999"), 0);
    assert_int_equal(odeon_participant_id("organiser:42"), 0);
    assert_int_equal(odeon_participant_id(NULL), 0);
}

static void test_roles_and_settings(void **state)
{
    (void)state;
    assert_int_equal(odeon_role_rank("participant"), 1);
    assert_int_equal(odeon_role_rank("host"), 2);
    assert_int_equal(odeon_role_rank("organiser"), 3);
    assert_int_equal(odeon_role_rank("owner"), 4);
    assert_int_equal(odeon_role_rank("admin"), 0);
    assert_int_equal(odeon_role_rank(NULL), 0);

    odeon_core_callbacks core = {.log = count_log};
    GKeyFile *kf = g_key_file_new();
    assert_true(g_key_file_load_from_data(kf, "[general]\ngood = 12\nbig = 99999\nword = ten\n",
                                          (gsize)-1, G_KEY_FILE_NONE, NULL));
    bool ok = true;
    logged = 0;
    assert_int_equal(odeon_conf_int(&core, "t", kf, "general", "good", 5, 1, 100, &ok), 12);
    assert_int_equal(odeon_conf_int(&core, "t", kf, "general", "absent", 5, 1, 100, &ok), 5);
    assert_true(ok);
    assert_int_equal(logged, 0);
    odeon_conf_int(&core, "t", kf, "general", "big", 5, 1, 100, &ok);
    assert_false(ok);
    ok = true;
    odeon_conf_int(&core, "t", kf, "general", "word", 5, 1, 100, &ok);
    assert_false(ok);
    assert_int_equal(logged, 2);
    g_key_file_free(kf);

    json_t *e = odeon_plugin_error(&core, "help", 435, "You already have %d", 1);
    assert_string_equal(json_string_value(json_object_get(e, "help")), "error");
    assert_int_equal(json_integer_value(json_object_get(e, "error_code")), 435);
    assert_string_equal(json_string_value(json_object_get(e, "error")), "You already have 1");
    assert_int_equal(logged, 3); /* logged once */
    json_decref(e);
}

static void test_bus_map(void **state)
{
    (void)state;
    analytics_bus_row row;
    json_t *chat = json_pack("{s:s, s:i, s:s, s:s}", "event", "message_sent", "event_id", 7,
                             "room", "main", "sender", "participant:3");
    assert_true(analytics_bus_map("odeon.plugin.chat", chat, &row));
    assert_int_equal(row.event_id, 7);
    assert_string_equal(row.subject, "participant:3");
    assert_string_equal(row.kind, "message_sent");
    assert_string_equal(json_string_value(json_object_get(row.detail, "room")), "main");
    json_decref(row.detail);
    /* The same event from another plugin is not a message. */
    assert_false(analytics_bus_map("odeon.plugin.help", chat, &row));
    json_decref(chat);

    /* The stage keeps its event id as text; a stage without an event or a viewer without an
     * identity makes no row. */
    json_t *stage = json_pack("{s:s, s:s, s:i, s:s}", "event", "left", "event_id", "12", "stage",
                              5, "subject", "organiser:1");
    assert_true(analytics_bus_map("odeon.plugin.stage", stage, &row));
    assert_int_equal(row.event_id, 12);
    assert_string_equal(row.kind, "stage_left");
    json_decref(row.detail);
    json_object_del(stage, "subject");
    assert_false(analytics_bus_map("odeon.plugin.stage", stage, &row));
    json_object_set_new(stage, "subject", json_string("participant:1"));
    json_object_set_new(stage, "event_id", json_string("12; DROP"));
    assert_false(analytics_bus_map("odeon.plugin.stage", stage, &row));
    json_object_set_new(stage, "event_id", json_integer(-4));
    assert_false(analytics_bus_map("odeon.plugin.stage", stage, &row));
    json_decref(stage);

    json_t *help = json_pack("{s:s, s:i, s:s, s:n}", "event", "help_requested", "event_id", 2,
                             "subject", "participant:9", "group_id");
    assert_true(analytics_bus_map("odeon.plugin.help", help, &row));
    assert_null(row.detail); /* a null group is no detail */
    json_decref(help);

    /* A team's submission (the tickets plugin): who by id, and the group. */
    json_t *sub = json_pack("{s:s, s:i, s:s, s:i}", "event", "submitted", "event_id", 2,
                            "subject", "participant:9", "group_id", 12);
    assert_true(analytics_bus_map("odeon.plugin.tickets", sub, &row));
    assert_string_equal(row.kind, "submission");
    assert_string_equal(row.subject, "participant:9");
    assert_int_equal(json_integer_value(json_object_get(row.detail, "group_id")), 12);
    json_decref(row.detail);
    json_decref(sub);

    json_t *other = json_pack("{s:s}", "event", "joined");
    assert_false(analytics_bus_map("odeon.plugin.echotest", other, &row));
    assert_false(analytics_bus_map(NULL, other, &row));
    json_decref(other);
    json_t *no_event = json_pack("{s:i}", "event_id", 1);
    assert_false(analytics_bus_map("odeon.plugin.chat", no_event, &row));
    json_decref(no_event);
}

/* Every line is a comment or "name{labels} value"; every family is declared once, before its
 * samples. */
static void check_exposition(const char *text)
{
    char **lines = g_strsplit(text, "\n", -1);
    GHashTable *declared = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GRegex *sample = g_regex_new("^([a-z_]+)(\\{[a-z_]+=\"[^\"]*\"\\})? -?[0-9]+$", 0, 0, NULL);
    for (char **l = lines; *l; l++) {
        if (**l == '\0')
            continue;
        if (g_str_has_prefix(*l, "# TYPE ")) {
            char **parts = g_strsplit(*l + 7, " ", 2);
            assert_false(g_hash_table_contains(declared, parts[0]));
            g_hash_table_add(declared, g_strdup(parts[0]));
            g_strfreev(parts);
            continue;
        }
        if (g_str_has_prefix(*l, "# HELP "))
            continue;
        GMatchInfo *m = NULL;
        assert_true(g_regex_match(sample, *l, 0, &m));
        char *name = g_match_info_fetch(m, 1);
        assert_true(g_hash_table_contains(declared, name));
        g_free(name);
        g_match_info_free(m);
    }
    g_regex_unref(sample);
    g_hash_table_unref(declared);
    g_strfreev(lines);
}

static void test_metrics(void **state)
{
    (void)state;
    GString *out = g_string_new(NULL);
    analytics_counters c = {.rows_written = 10, .batches = 2, .batch_failures = 1, .queued = 3};
    analytics_metrics_counters(out, &c);
    assert_non_null(strstr(out->str, "\nodeon_analytics_rows_written_total 10\n"));
    assert_non_null(strstr(out->str, "\nodeon_analytics_queue_rows 3\n"));

    GPtrArray *figures = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
    g_ptr_array_add(figures, json_pack("{s:i, s:i, s:i, s:i}", "event_id", 4, "current_viewers",
                                       17, "attendees", 30, "open_help", 2));
    g_ptr_array_add(figures, json_pack("{s:i}", "event_id", 5)); /* not read yet */
    g_ptr_array_add(figures, json_pack("{s:i, s:i, s:i}", "event_id", 6, "current_viewers", 1,
                                       "attendees", 1));
    guint pages[] = {3, 0, 1};
    analytics_metrics_events(out, figures, pages);
    assert_non_null(strstr(out->str, "\nodeon_event_current_viewers{event=\"4\"} 17\n"
                                     "odeon_event_current_viewers{event=\"6\"} 1\n"));
    assert_non_null(strstr(out->str, "\nodeon_event_open_help_requests{event=\"4\"} 2\n"));
    assert_non_null(strstr(out->str, "\nodeon_event_local_pages{event=\"5\"} 0\n"));
    assert_null(strstr(out->str, "odeon_event_registered")); /* no event has it */
    check_exposition(out->str);
    g_ptr_array_unref(figures);
    g_string_free(out, TRUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_id),
        cmocka_unit_test(test_participant_id),
        cmocka_unit_test(test_roles_and_settings),
        cmocka_unit_test(test_bus_map),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
