/*
 * session.h - Janus sessions and handles: ids, lifetimes, keepalive and timeouts.
 *
 * A session (random id) belongs to the client that created it and delivers its events to that
 * client's sink; it holds handles, each bound to one plugin session. Both are refcounted:
 * lookups return a new reference that the caller drops with _unref. Destroying (on request,
 * on timeout, when the transport goes away, at shutdown) removes the object from its table at
 * once, so no new lookup finds it, and tears the plugin side down outside any lock; the memory
 * lives on until the last reference is dropped.
 *
 * Lock order: registry lock, then a session's lock. Neither is held while calling a plugin or a
 * sink (see docs/threading.md).
 */
#ifndef ODEON_SESSION_SESSION_H
#define ODEON_SESSION_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "auth/auth.h"
#include "events/eventbus.h"
#include "plugin/plugin.h"
#include "transport/sink.h"

typedef struct odeon_sessions odeon_sessions;
typedef struct odeon_session odeon_session;
/* The core's handle is the plugin contract's opaque handle. */
typedef struct odeon_plugin_handle odeon_handle;

/* bus may be NULL (no events published). */
odeon_sessions *odeon_sessions_new(odeon_eventbus *bus);
/* Destroys every remaining session (reason "shutdown") and frees the registry. */
void odeon_sessions_free(odeon_sessions *sessions);

/* Create a session. wanted_id 0 picks a random id; a taken wanted_id gives ODEON_EEXIST.
 * sink is referenced; identity is taken (may be NULL: anonymous). On success *out is a new
 * reference. */
int odeon_sessions_create(odeon_sessions *sessions, uint64_t wanted_id, odeon_event_sink *sink,
                          odeon_auth_identity *identity, odeon_session **out);
/* A new reference, or NULL. */
odeon_session *odeon_sessions_lookup(odeon_sessions *sessions, uint64_t id);
/* Remove and tear down: handles detached (plugins told), sink told. ODEON_ENOENT if absent. */
int odeon_sessions_destroy(odeon_sessions *sessions, uint64_t id, const char *reason);
/* Destroy every session (shutdown: clients are told "detached" for each handle). */
void odeon_sessions_destroy_all(odeon_sessions *sessions, const char *reason);
/* Destroy every session whose sink is this one (the WebSocket closed). */
void odeon_sessions_destroy_by_sink(odeon_sessions *sessions, odeon_event_sink *sink);
/* Time out sessions idle for more than timeout_s seconds at monotonic time now_us: each gets
 * {"janus":"timeout"} and is destroyed. Returns how many. timeout_s 0 does nothing. */
unsigned odeon_sessions_expire(odeon_sessions *sessions, int64_t now_us, unsigned timeout_s);
unsigned odeon_sessions_count(odeon_sessions *sessions);
/* [id, ...] of live sessions (new reference). */
json_t *odeon_sessions_list_json(odeon_sessions *sessions);

odeon_session *odeon_session_ref(odeon_session *session);
void odeon_session_unref(odeon_session *session);
uint64_t odeon_session_id(const odeon_session *session);
bool odeon_session_is_destroyed(const odeon_session *session);
/* Record activity now (any request, long-poll, keepalive). */
void odeon_session_touch(odeon_session *session);
int64_t odeon_session_last_activity_us(const odeon_session *session);
int64_t odeon_session_created_us(const odeon_session *session);
/* A new reference to the sink events currently go to. */
odeon_event_sink *odeon_session_sink(odeon_session *session);
/* Send future events to another sink (Janus "claim"); sink is referenced. */
void odeon_session_set_sink(odeon_session *session, odeon_event_sink *sink);
const odeon_identity *odeon_session_identity(const odeon_session *session); /* borrowed */
/* The identity with the provider that resolved it (borrowed; identity NULL: anonymous). */
const odeon_auth_identity *odeon_session_auth_identity(const odeon_session *session);
/* Deliver an event to the session's client (borrowed). */
void odeon_session_push(odeon_session *session, json_t *event);
/* The same with the event already serialised (len bytes of compact JSON, copied). */
void odeon_session_push_text(odeon_session *session, const char *text, size_t len);
/* The same as prefix followed by body (borrowed), body shared with other sessions' events. */
void odeon_session_push_shared(odeon_session *session, const char *prefix, size_t prefix_len,
                               odeon_shared_text *body);
/* A session a plugin made for a client that speaks plain HTTP (WHIP, WHEP): it never times
 * out; the plugin destroys it. */
void odeon_session_set_internal(odeon_session *session);

/* Attach a plugin: create_session runs. Returns 0 with *out a new reference, ODEON_EGONE if the
 * session is being destroyed, or the plugin's refusal (ODEON_EPERM) with nothing kept. */
int odeon_session_attach(odeon_session *session, const odeon_plugin *plugin,
                         const char *opaque_id, odeon_handle **out);
/* A new reference, or NULL. */
odeon_handle *odeon_session_lookup_handle(odeon_session *session, uint64_t handle_id);
/* Detach: hangup_media + destroy_session run, "detached" is pushed. ODEON_ENOENT if absent. */
int odeon_session_detach(odeon_session *session, uint64_t handle_id);
/* [handle id, ...] (new reference). */
json_t *odeon_session_handles_json(odeon_session *session);

odeon_handle *odeon_handle_ref(odeon_handle *handle);
void odeon_handle_unref(odeon_handle *handle);
uint64_t odeon_handle_id(const odeon_handle *handle);
/* Borrowed; valid while the handle reference is held. */
odeon_session *odeon_handle_session(const odeon_handle *handle);
const odeon_plugin *odeon_handle_plugin(const odeon_handle *handle);
bool odeon_handle_is_detached(const odeon_handle *handle);
void odeon_handle_set_plugin_data(odeon_handle *handle, void *data);
void *odeon_handle_plugin_data(const odeon_handle *handle);
/* The media loop (index) the handle's next peer connection is created on; -1 (the default):
 * the least loaded one. */
void odeon_handle_prefer_loop(odeon_handle *handle, int loop);
int odeon_handle_preferred_loop(const odeon_handle *handle);
/* Why the handle's connection is being hung up (a static string), while hangup_media runs;
 * NULL otherwise. */
void odeon_handle_set_hangup_reason(odeon_handle *handle, const char *reason);
const char *odeon_handle_hangup_reason(const odeon_handle *handle);
/* Bracket a call into the handle's plugin: begin returns false when the handle is detached
 * (do not call); the plugin's destroy_session is deferred until the last call ended. */
bool odeon_handle_call_begin(odeon_handle *handle);
void odeon_handle_call_end(odeon_handle *handle);
/* Admin "handle_info" body (new reference). */
json_t *odeon_handle_info_json(odeon_handle *handle);
/* Tear down the peer connection if any; a "hangup" event with reason follows when there was
 * one. Returns 0, or ODEON_ENOTCONN when there was none. */
int odeon_handle_hangup(odeon_handle *handle, const char *reason);

/* The handle's peer connection (see session/handle_media.h). _pc returns a new reference or
 * NULL; _set_pc takes its own reference and fails when the handle is detached or already has
 * one; _take_pc hands the handle's reference over to the caller. */
/* Publish an event of the given ODEON_EVENT_* type about this handle on the event bus (body
 * borrowed); _publishes tells whether anyone listens, to skip building bodies. */
void odeon_handle_publish(odeon_handle *handle, int type, json_t *body);
bool odeon_handle_publishes(odeon_handle *handle, int type);

struct odeon_pc;
struct odeon_pc *odeon_handle_pc(odeon_handle *handle);
bool odeon_handle_set_pc(odeon_handle *handle, struct odeon_pc *pc);
struct odeon_pc *odeon_handle_take_pc(odeon_handle *handle);

#endif
