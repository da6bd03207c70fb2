/*
 * ice.c - libnice glue: address selection, candidates as SDP text, state, send and receive.
 *
 * Facts this relies on (see shared/notes/webrtc-facts.md, libnice 0.1.21): adding one local
 * address turns libnice's own interface detection off, so we add every address we want; upnp
 * is turned off (it would delay gathering); with ICE_TRICKLE the component only fails after
 * the peer's end-of-candidates; signals fire on the thread that released the agent lock, which
 * is always ours because every call here runs on the agent's context thread.
 */
#include "webrtc/ice.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <agent.h>

#include "core/log.h"
#include "core/medialoop.h"
#include "plugin/plugin.h"

#define LOG_MODULE "ice"

struct odeon_ice_agent {
    NiceAgent *agent;
    guint stream;
    GMainContext *context;
    odeon_ice_settings settings;
    odeon_ice_callbacks cb;
    void *user;
    bool controlling;
    char *ufrag;
    char *pwd;
    odeon_ice_state state;
    bool gathering_done;
    bool closed;
    /* The selected pair as a plain UDP socket and peer address, for batched sends from the
     * agent's own thread (sendmmsg instead of one nice_agent_send each). NULL socket: the pair
     * is relayed or TCP, or there is none; everything then goes through libnice. */
    GSocket *direct_socket;
    struct sockaddr_storage direct_peer;
    socklen_t direct_peer_len;
};

const char *odeon_ice_state_name(odeon_ice_state state)
{
    switch (state) {
    case ODEON_ICE_STATE_NEW:
        return "new";
    case ODEON_ICE_STATE_CHECKING:
        return "checking";
    case ODEON_ICE_STATE_CONNECTED:
        return "connected";
    case ODEON_ICE_STATE_FAILED:
        return "failed";
    }
    return "unknown";
}

static bool list_matches(char **list, const char *ifname, const char *address)
{
    for (char **p = list; p && *p; p++) {
        if (strcmp(*p, ifname) == 0 || g_str_has_prefix(address, *p))
            return true;
    }
    return false;
}

bool odeon_ice_address_allowed(const odeon_ice_settings *s, const char *ifname,
                               const char *address, bool is_loopback)
{
    if (is_loopback && !s->loopback)
        return false;
    if (strchr(address, ':') != NULL) {
        if (!s->ipv6 || g_ascii_strncasecmp(address, "fe80", 4) == 0)
            return false;
    }
    if (s->interfaces_allow && s->interfaces_allow[0] &&
        !list_matches(s->interfaces_allow, ifname, address))
        return false;
    return !list_matches(s->interfaces_deny, ifname, address);
}

static void refresh_credentials(odeon_ice_agent *a)
{
    g_clear_pointer(&a->ufrag, g_free);
    g_clear_pointer(&a->pwd, g_free);
    nice_agent_get_local_credentials(a->agent, a->stream, &a->ufrag, &a->pwd);
}

/* Candidate text without the "a=" libnice puts in front. */
static void emit_candidate(odeon_ice_agent *a, NiceCandidate *cand)
{
    gchar *sdp = nice_agent_generate_local_candidate_sdp(a->agent, cand);
    if (sdp == NULL)
        return;
    const char *text = g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp;
    bool rewrite = a->settings.nat_1_1 != NULL && cand->type == NICE_CANDIDATE_TYPE_HOST;
    if (!rewrite || a->settings.nat_1_1_keep_private)
        a->cb.candidate(a->user, text);
    if (rewrite) {
        char local[NICE_ADDRESS_STRING_LEN];
        nice_address_to_string(&cand->addr, local);
        /* The address is the 5th field: replace exactly that token. */
        gchar **fields = g_strsplit(text, " ", -1);
        if (g_strv_length(fields) > 5 && strcmp(fields[4], local) == 0) {
            g_free(fields[4]);
            fields[4] = g_strdup(a->settings.nat_1_1);
            gchar *mapped = g_strjoinv(" ", fields);
            a->cb.candidate(a->user, mapped);
            g_free(mapped);
        }
        g_strfreev(fields);
    }
    g_free(sdp);
}

static void on_new_candidate(NiceAgent *agent, NiceCandidate *cand, gpointer data)
{
    (void)agent;
    odeon_ice_agent *a = data;
    if (!a->closed)
        emit_candidate(a, cand);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    (void)agent;
    (void)stream;
    odeon_ice_agent *a = data;
    a->gathering_done = true;
    if (!a->closed)
        a->cb.gathering_done(a->user);
}

/* On a media loop, the selected socket's readiness comes from the loop's epoll set instead of
 * poll(2) over every socket of the loop on each wake-up (medialoop.h). */
static odeon_media_loop *own_media_loop(odeon_ice_agent *a)
{
    odeon_media_loop *loop = odeon_media_loop_current();
    return loop != NULL && odeon_media_loop_context(loop) == a->context ? loop : NULL;
}

static void direct_clear(odeon_ice_agent *a)
{
    if (a->direct_socket != NULL)
        odeon_media_loop_unwatch_socket(own_media_loop(a), a->direct_socket);
    g_clear_object(&a->direct_socket);
    a->direct_peer_len = 0;
}

/* Only a UDP pair whose local side is our own socket (host, server- or peer-reflexive) can be
 * written to directly; a relayed pair needs libnice's TURN framing, a TCP one its RFC 4571
 * framing. */
static void on_selected_pair(NiceAgent *agent, guint stream, guint component,
                             NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
    odeon_ice_agent *a = data;
    direct_clear(a);
    if (local == NULL || remote == NULL || local->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
        local->type == NICE_CANDIDATE_TYPE_RELAYED || remote->transport != NICE_CANDIDATE_TRANSPORT_UDP)
        return;
    GSocket *sock = nice_agent_get_selected_socket(agent, stream, component);
    if (sock == NULL)
        return;
    if (g_socket_get_socket_type(sock) != G_SOCKET_TYPE_DATAGRAM) {
        g_object_unref(sock);
        return;
    }
    memset(&a->direct_peer, 0, sizeof a->direct_peer);
    nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&a->direct_peer);
    a->direct_peer_len = a->direct_peer.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in);
    a->direct_socket = sock;
    odeon_media_loop_watch_socket(own_media_loop(a), sock);
}

static void set_state(odeon_ice_agent *a, odeon_ice_state state)
{
    if (a->state == state)
        return;
    a->state = state;
    if (!a->closed)
        a->cb.state_changed(a->user, state);
}

static void on_component_state(NiceAgent *agent, guint stream, guint component, guint state,
                               gpointer data)
{
    (void)agent;
    (void)stream;
    (void)component;
    odeon_ice_agent *a = data;
    switch (state) {
    case NICE_COMPONENT_STATE_CONNECTING:
        if (a->state == ODEON_ICE_STATE_NEW)
            set_state(a, ODEON_ICE_STATE_CHECKING);
        break;
    case NICE_COMPONENT_STATE_CONNECTED:
    case NICE_COMPONENT_STATE_READY:
        set_state(a, ODEON_ICE_STATE_CONNECTED);
        break;
    case NICE_COMPONENT_STATE_FAILED:
        direct_clear(a);
        set_state(a, ODEON_ICE_STATE_FAILED);
        break;
    default:
        break;
    }
}

static void on_receive(NiceAgent *agent, guint stream, guint component, guint len, gchar *buf,
                       gpointer data)
{
    (void)agent;
    (void)stream;
    (void)component;
    odeon_ice_agent *a = data;
    if (!a->closed && len > 0)
        a->cb.receive(a->user, (uint8_t *)buf, len);
}

odeon_ice_agent *odeon_ice_agent_new(GMainContext *context, const odeon_ice_settings *settings,
                                     bool controlling, const odeon_ice_callbacks *callbacks,
                                     void *user, char **error)
{
    NiceAgentOption flags = NICE_AGENT_OPTION_ICE_TRICKLE;
    if (settings->lite)
        flags |= NICE_AGENT_OPTION_LITE_MODE;
    if (controlling)
        flags |= NICE_AGENT_OPTION_REGULAR_NOMINATION;
    NiceAgent *agent = nice_agent_new_full(context, NICE_COMPATIBILITY_RFC5245, flags);
    if (agent == NULL) {
        if (error)
            *error = g_strdup("cannot create the ICE agent");
        return NULL;
    }
    odeon_ice_agent *a = g_new0(odeon_ice_agent, 1);
    a->agent = agent;
    a->context = g_main_context_ref(context);
    a->settings = *settings;
    a->cb = *callbacks;
    a->user = user;
    /* A lite agent is always controlled (RFC 8445 6.1.1). */
    a->controlling = controlling && !settings->lite;
    /* keepalive-conncheck: keepalives are Binding requests, so a peer that stops answering
     * fails the component (about 50 s): the liveness check for peers that send us nothing
     * (a receive-only viewer that sends no RTCP), see pc.c. */
    g_object_set(agent, "controlling-mode", a->controlling, "upnp", FALSE, "ice-tcp",
                 settings->tcp, "keepalive-conncheck", TRUE, NULL);
    if (settings->stun_host != NULL)
        g_object_set(agent, "stun-server", settings->stun_host, "stun-server-port",
                     (guint)settings->stun_port, NULL);
    a->stream = nice_agent_add_stream(agent, 1);
    if (a->stream == 0) {
        if (error)
            *error = g_strdup("cannot create the ICE stream");
        odeon_ice_agent_free(a);
        return NULL;
    }
    if (settings->port_min != 0)
        nice_agent_set_port_range(agent, a->stream, 1, settings->port_min, settings->port_max);
    if (settings->dscp != 0)
        nice_agent_set_stream_tos(agent, a->stream, (gint)(settings->dscp << 2));
    g_signal_connect(agent, "new-candidate-full", G_CALLBACK(on_new_candidate), a);
    g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), a);
    g_signal_connect(agent, "component-state-changed", G_CALLBACK(on_component_state), a);
    g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), a);
    nice_agent_attach_recv(agent, a->stream, 1, context, on_receive, a);
    refresh_credentials(a);
    return a;
}

void odeon_ice_agent_free(odeon_ice_agent *a)
{
    if (a == NULL)
        return;
    a->closed = true;
    direct_clear(a);
    if (a->agent != NULL) {
        g_signal_handlers_disconnect_by_data(a->agent, a);
        if (a->stream != 0) {
            nice_agent_attach_recv(a->agent, a->stream, 1, a->context, NULL, NULL);
            nice_agent_remove_stream(a->agent, a->stream);
        }
        g_object_unref(a->agent);
    }
    g_main_context_unref(a->context);
    g_free(a->ufrag);
    g_free(a->pwd);
    g_free(a);
}

const char *odeon_ice_agent_local_ufrag(const odeon_ice_agent *a)
{
    return a->ufrag;
}

const char *odeon_ice_agent_local_pwd(const odeon_ice_agent *a)
{
    return a->pwd;
}

/* Adds every allowed address; returns how many. */
static unsigned add_local_addresses(odeon_ice_agent *a)
{
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0)
        return 0;
    unsigned added = 0;
    for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
        if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) || !(i->ifa_flags & IFF_RUNNING))
            continue;
        int family = i->ifa_addr->sa_family;
        if (family != AF_INET && family != AF_INET6)
            continue;
        NiceAddress addr;
        nice_address_init(&addr);
        nice_address_set_from_sockaddr(&addr, i->ifa_addr);
        char text[NICE_ADDRESS_STRING_LEN];
        nice_address_to_string(&addr, text);
        bool loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
        if (!odeon_ice_address_allowed(&a->settings, i->ifa_name, text, loopback))
            continue;
        nice_address_set_port(&addr, 0);
        if (nice_agent_add_local_address(a->agent, &addr))
            added++;
    }
    freeifaddrs(ifs);
    return added;
}

int odeon_ice_agent_gather(odeon_ice_agent *a, char **error)
{
    if (add_local_addresses(a) == 0) {
        if (error)
            *error = g_strdup("no network address is allowed for ICE (check [media] loopback, "
                              "ipv6 and interfaces_allow/deny)");
        return ODEON_ENOENT;
    }
    if (!nice_agent_gather_candidates(a->agent, a->stream)) {
        if (error)
            *error = g_strdup("ICE candidate gathering failed (no free port in the range?)");
        return ODEON_EIO;
    }
    return 0;
}

bool odeon_ice_agent_gathering_done(const odeon_ice_agent *a)
{
    return a->gathering_done;
}

int odeon_ice_agent_set_remote_credentials(odeon_ice_agent *a, const char *ufrag,
                                           const char *pwd)
{
    return nice_agent_set_remote_credentials(a->agent, a->stream, ufrag, pwd) ? 0 : ODEON_EINVAL;
}

int odeon_ice_agent_add_remote_candidate(odeon_ice_agent *a, const char *line)
{
    if (g_str_has_prefix(line, "a="))
        line += 2;
    if (!g_str_has_prefix(line, "candidate:"))
        return ODEON_EINVAL;
    gchar *text = g_strconcat("a=", line, NULL);
    NiceCandidate *cand = nice_agent_parse_remote_candidate_sdp(a->agent, a->stream, text);
    g_free(text);
    if (cand == NULL)
        return ODEON_EINVAL;
    int rc = 0;
    if (cand->component_id != 1) {
        rc = 0; /* an RTCP component candidate: rtcp-mux makes it useless */
    } else if (cand->transport != NICE_CANDIDATE_TRANSPORT_UDP && !a->settings.tcp) {
        rc = ODEON_ENOTSUP;
    } else {
        GSList *list = g_slist_append(NULL, cand);
        if (nice_agent_set_remote_candidates(a->agent, a->stream, 1, list) < 0)
            rc = ODEON_EINVAL;
        g_slist_free(list);
    }
    nice_candidate_free(cand);
    return rc;
}

void odeon_ice_agent_remote_gathering_done(odeon_ice_agent *a)
{
    nice_agent_peer_candidate_gathering_done(a->agent, a->stream);
}

int odeon_ice_agent_restart(odeon_ice_agent *a)
{
    if (!nice_agent_restart_stream(a->agent, a->stream))
        return ODEON_EIO;
    refresh_credentials(a);
    return 0;
}

int odeon_ice_agent_send(odeon_ice_agent *a, const uint8_t *buf, size_t len)
{
    if (a->state != ODEON_ICE_STATE_CONNECTED)
        return ODEON_ENOTCONN;
    gint sent = nice_agent_send(a->agent, a->stream, 1, (guint)len, (const gchar *)buf);
    return sent == (gint)len ? 0 : ODEON_EIO;
}

#define SEND_BATCH_MAX 64

int odeon_ice_agent_send_batch(odeon_ice_agent *a, uint8_t *const *bufs, const size_t *lens,
                               size_t n)
{
    if (a->state != ODEON_ICE_STATE_CONNECTED)
        return ODEON_ENOTCONN;
    bool direct = a->direct_socket != NULL && !g_socket_is_closed(a->direct_socket) &&
                  g_main_context_is_owner(a->context);
    size_t sent = 0;
    if (!direct) {
        for (size_t i = 0; i < n; i++)
            if (odeon_ice_agent_send(a, bufs[i], lens[i]) == 0)
                sent++;
        return (int)sent;
    }
    int fd = g_socket_get_fd(a->direct_socket);
    struct mmsghdr msgs[SEND_BATCH_MAX];
    struct iovec iov[SEND_BATCH_MAX];
    size_t done = 0;
    while (done < n) {
        size_t k = MIN(n - done, (size_t)SEND_BATCH_MAX);
        for (size_t i = 0; i < k; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[done + i], .iov_len = lens[done + i]};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &a->direct_peer,
                                                   .msg_namelen = a->direct_peer_len,
                                                   .msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        int rc = sendmmsg(fd, msgs, (unsigned)k, MSG_DONTWAIT);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            /* A full socket buffer (EAGAIN) or an error on this datagram: it is dropped, as
             * a failed nice_agent_send drops it, and the rest still gets its chance. */
            done++;
            continue;
        }
        done += (size_t)rc;
        sent += (size_t)rc;
    }
    return (int)sent;
}

odeon_ice_state odeon_ice_agent_state(const odeon_ice_agent *a)
{
    return a->state;
}

static const char *cand_type_name(NiceCandidateType t)
{
    switch (t) {
    case NICE_CANDIDATE_TYPE_HOST:
        return "host";
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
        return "srflx";
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
        return "prflx";
    case NICE_CANDIDATE_TYPE_RELAYED:
        return "relay";
    }
    return "?";
}

void odeon_ice_agent_selected_pair(odeon_ice_agent *a, char *out, size_t cap)
{
    NiceCandidate *local = NULL, *remote = NULL;
    if (cap == 0)
        return;
    out[0] = '\0';
    if (!nice_agent_get_selected_pair(a->agent, a->stream, 1, &local, &remote))
        return;
    char la[NICE_ADDRESS_STRING_LEN], ra[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(&local->addr, la);
    nice_address_to_string(&remote->addr, ra);
    g_snprintf(out, cap, "%s:%u [%s] <-> %s:%u [%s]", la, nice_address_get_port(&local->addr),
               cand_type_name(local->type), ra, nice_address_get_port(&remote->addr),
               cand_type_name(remote->type));
}
