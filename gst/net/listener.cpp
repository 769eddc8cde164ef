#include "net/listener.h"

#include <gio/gio.h>
#include <gst/gst.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "net/connection.h"
#include "net/decision_runner.h"
#include "net/io_poller.h"

GST_DEBUG_CATEGORY(live_net_debug);
#define GST_CAT_DEFAULT live_net_debug

namespace live::net {

namespace {

using ListenerKey = std::pair<std::string, uint16_t>;

// The process-wide table of listeners. Its mutex is taken by acquire() and by ~Listener (so a
// port is really closed before another user can bind it again); the I/O threads never take it.
std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::map<ListenerKey, std::weak_ptr<Listener>>& registry() {
  static std::map<ListenerKey, std::weak_ptr<Listener>> table;
  return table;
}

void init_debug() {
  static std::once_flag once;
  std::call_once(once, [] {
    GST_DEBUG_CATEGORY_INIT(live_net_debug, "livenet", 0, "shared RTMP listener and connections");
    // A server holds a socket per viewer: the soft limit of open files (often 1024) is raised to
    // the hard limit, as nginx's worker_rlimit_nofile does.
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
      const rlim_t before = files.rlim_cur;
      files.rlim_cur = files.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &files) == 0)
        GST_INFO("open file limit raised from %lu to %lu", (unsigned long)before,
                 (unsigned long)files.rlim_cur);
    }
  });
}

std::string describe_address(GSocketAddress* address) {
  if (!G_IS_INET_SOCKET_ADDRESS(address)) return "unknown";
  GInetSocketAddress* inet = G_INET_SOCKET_ADDRESS(address);
  gchar* ip = g_inet_address_to_string(g_inet_socket_address_get_address(inet));
  std::string text = std::string(ip) + ":" + std::to_string(g_inet_socket_address_get_port(inet));
  g_free(ip);
  return text;
}

// The IP part of an "ip:port" peer description (IPv6 addresses contain ':' themselves).
std::string address_of(const std::string& peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string::npos ? peer : peer.substr(0, colon);
}


}  // namespace

struct Listener::Impl : ConnectionOwner {
  struct PublishEntry {
    std::string application;
    std::string stream_key;
    PublishMount* mount = nullptr;
    uint64_t publisher = 0;  // connection id of the current publisher, 0 = none
  };
  struct PlayEntry {
    std::string application;
    std::string stream_key;
    PlayMount* mount = nullptr;
    std::unique_ptr<RelayHub> hub;
  };

  ListenerConfig config;
  std::weak_ptr<Listener> self;  // for decisions that come back after the listener may be gone
  uint16_t bound_port = 0;
  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  GThread* thread = nullptr;
  GSocket* socket = nullptr;
  GSource* accept_source = nullptr;
  GSource* timer_source = nullptr;
  GSource* reap_source = nullptr;
  GTlsCertificate* certificate = nullptr;
  IoPoller poller;  // input readiness of every connection, one GSource
  // The publish mounts' consumers: woken once per read batch, for all mounts that got input.
  std::shared_ptr<BatchWakeup> source_wakeup = std::make_shared<BatchWakeup>();
  uint32_t source_wake_bits = 0;  // to wake at the end of the current batch

  // Owned by the I/O thread.
  std::map<uint64_t, std::unique_ptr<Connection>> connections;
  std::vector<std::unique_ptr<Connection>> closed_connections;  // freed from an idle callback
  std::vector<PublishEntry> publish_mounts;
  std::vector<PlayEntry> play_mounts;
  MountProvider* mount_provider = nullptr;  // asked about streams no mount serves
  size_t unestablished_bytes = 0;  // input held by connections not yet established
  std::map<std::string, uint32_t> connections_per_address;  // open connections by client IP
  uint64_t next_connection_id = 1;
  std::atomic<uint32_t> open_connections{0};

  ~Impl() override { shutdown(); }

  Result<void> start();
  void shutdown();
  void run_sync(const std::function<void()>& work);

  // ConnectionOwner
  void session_has_events(Connection& connection) override;
  void connection_closed(Connection& connection, const std::string& reason) override;
  Connection* find_connection(uint64_t id) override {
    auto it = connections.find(id);
    return it == connections.end() ? nullptr : it->second.get();
  }

  void accept_pending();
  void check_timeouts();
  void handle_publish(Connection& connection, const rtmp::SessionEvent& event);
  void handle_play(Connection& connection, const rtmp::SessionEvent& event);
  void finish_publish(uint64_t connection_id, PublishMount* mount, const StreamRequest& request,
                      bool allowed);
  void finish_play(uint64_t connection_id, PlayMount* mount, const StreamRequest& request,
                   bool allowed);
  void refuse_play(Connection& connection, const std::string& app, const std::string& code,
                   const std::string& why);
  void establish(Connection& connection);
  void budget_input(Connection& connection);
  // Runs `work` on the I/O thread later (dropped if the listener stops first).
  void post(std::function<void()> work);
  // Asks the application (`ask`, holding `alive`) on a decision thread, then runs `finish`
  // with the answer on the I/O thread.
  void decide_then(std::shared_ptr<void> alive, std::function<bool()> ask,
                   std::function<void(bool)> finish);
  PlayEntry* find_play_entry(PlayMount* mount);
  void end_publish(Connection& connection, const std::string& reason);
  // No mount serves the request: asks the mount provider, then goes on as if the new mount
  // had authorized it (or refuses with `refuse`).
  void ask_mount_provider(Connection& connection, const StreamRequest& request, bool publish);
  PlayMount* find_play_mount(const std::string& app, const std::string& key);
  PublishEntry* find_publish_entry(const std::string& app, const std::string& key);
  void schedule_reap();
  void report_bytes(Connection& connection);

  static gboolean on_incoming(GSocket*, GIOCondition, gpointer self) {
    static_cast<Impl*>(self)->accept_pending();
    return G_SOURCE_CONTINUE;
  }
  static gboolean on_timer(gpointer self) {
    static_cast<Impl*>(self)->check_timeouts();
    return G_SOURCE_CONTINUE;
  }
  static gboolean on_reap(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    self->closed_connections.clear();
    g_source_unref(self->reap_source);
    self->reap_source = nullptr;
    return G_SOURCE_REMOVE;
  }
  static gpointer thread_main(gpointer data) {
    auto* self = static_cast<Impl*>(data);
    g_main_context_push_thread_default(self->context);
    g_main_loop_run(self->loop);
    g_main_context_pop_thread_default(self->context);
    return nullptr;
  }
};

Result<void> Listener::Impl::start() {
  GError* error = nullptr;
  if (!config.tls_certificate.empty() || !config.tls_key.empty()) {
    if (config.tls_certificate.empty() || config.tls_key.empty())
      return make_error(Errc::unsupported, "tls-certificate and tls-key must be set together");
    certificate = g_tls_certificate_new_from_files(config.tls_certificate.c_str(),
                                                   config.tls_key.c_str(), &error);
    if (!certificate) {
      std::string why = std::string("cannot load TLS certificate/key: ") + error->message;
      g_clear_error(&error);
      return make_error(Errc::unsupported, why);
    }
  }

  GInetAddress* ip = g_inet_address_new_from_string(config.address.c_str());
  if (!ip) {
    GResolver* resolver = g_resolver_get_default();
    GList* found = g_resolver_lookup_by_name(resolver, config.address.c_str(), nullptr, &error);
    g_object_unref(resolver);
    if (!found) {
      std::string why = "cannot resolve address " + config.address + ": " + error->message;
      g_clear_error(&error);
      return make_error(Errc::malformed, why);
    }
    ip = G_INET_ADDRESS(g_object_ref(found->data));
    g_resolver_free_addresses(found);
  }
  GSocketAddress* address = g_inet_socket_address_new(ip, config.port);
  socket = g_socket_new(g_inet_address_get_family(ip), G_SOCKET_TYPE_STREAM,
                        G_SOCKET_PROTOCOL_TCP, &error);
  g_object_unref(ip);
  bool ok = socket != nullptr;
  if (ok) {
    g_socket_set_blocking(socket, FALSE);
    g_socket_set_listen_backlog(socket, kListenBacklog);
    ok = g_socket_bind(socket, address, TRUE, &error) && g_socket_listen(socket, &error);
  }
  g_object_unref(address);
  if (!ok) {
    std::string why = "cannot listen on " + config.address + ":" + std::to_string(config.port) +
                      ": " + (error ? error->message : "unknown error");
    g_clear_error(&error);
    return make_error(Errc::closed, why);
  }
  GSocketAddress* local = g_socket_get_local_address(socket, nullptr);
  bound_port = local ? g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local)) : config.port;
  if (local) g_object_unref(local);

  context = g_main_context_new();
  loop = g_main_loop_new(context, FALSE);
  if (!poller.start(context, [](uint64_t key, uint32_t events) {
        PollClient::from_poll_key(key)->on_poll(events);
      }, int64_t(config.read_interval_ms) * 1000)) {
    return make_error(Errc::closed, std::string("cannot create epoll set: ") + g_strerror(errno));
  }
  poller.set_after_dispatch([this] {
    source_wakeup->wake(source_wake_bits);
    source_wake_bits = 0;
  });
  accept_source = g_socket_create_source(socket, G_IO_IN, nullptr);
  g_source_set_callback(accept_source, G_SOURCE_FUNC(on_incoming), this, nullptr);
  g_source_attach(accept_source, context);
  timer_source = g_timeout_source_new_seconds(1);
  g_source_set_callback(timer_source, on_timer, this, nullptr);
  g_source_attach(timer_source, context);

  std::string name = "rtmp-io-" + std::to_string(bound_port);
  thread = g_thread_try_new(name.c_str(), thread_main, this, &error);
  if (!thread) {
    std::string why = std::string("cannot start I/O thread: ") + error->message;
    g_clear_error(&error);
    return make_error(Errc::closed, why);
  }
  GST_INFO("listening on %s:%u%s", config.address.c_str(), bound_port,
           certificate ? " (RTMPS)" : "");
  return {};
}

void Listener::Impl::shutdown() {
  if (thread) {
    run_sync([this] {
      for (auto& entry : play_mounts) entry.hub.reset();
      std::vector<uint64_t> ids;
      for (auto& [id, connection] : connections) ids.push_back(id);
      for (uint64_t id : ids) {
        if (Connection* connection = find_connection(id)) connection->close("listener stopped");
      }
      closed_connections.clear();
      g_main_loop_quit(loop);
    });
    g_thread_join(thread);
    thread = nullptr;
  }
  for (GSource** source : {&accept_source, &timer_source, &reap_source}) {
    if (*source) {
      g_source_destroy(*source);
      g_source_unref(*source);
      *source = nullptr;
    }
  }
  connections.clear();
  closed_connections.clear();
  poller.stop();
  if (socket) {
    g_socket_close(socket, nullptr);
    g_object_unref(socket);
    socket = nullptr;
    GST_INFO("stopped listening on %s:%u", config.address.c_str(), bound_port);
  }
  if (loop) g_main_loop_unref(loop), loop = nullptr;
  if (context) g_main_context_unref(context), context = nullptr;
  if (certificate) g_object_unref(certificate), certificate = nullptr;
}

void Listener::Impl::run_sync(const std::function<void()>& work) {
  if (g_main_context_is_owner(context)) {
    work();
    return;
  }
  struct Call {
    const std::function<void()>* work;
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
  } call{&work};
  g_main_context_invoke(
      context,
      [](gpointer data) -> gboolean {
        auto* c = static_cast<Call*>(data);
        (*c->work)();
        std::lock_guard lock(c->mutex);
        c->done = true;
        c->done_cv.notify_one();
        return G_SOURCE_REMOVE;
      },
      &call);
  std::unique_lock lock(call.mutex);
  call.done_cv.wait(lock, [&] { return call.done; });
}

void Listener::Impl::accept_pending() {
  for (;;) {
    GError* error = nullptr;
    GSocket* client = g_socket_accept(socket, nullptr, &error);
    if (!client) {
      if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        GST_WARNING("accept failed on port %u: %s", bound_port, error->message);
      g_clear_error(&error);
      return;
    }
    GSocketAddress* remote = g_socket_get_remote_address(client, nullptr);
    std::string peer = remote ? describe_address(remote) : "unknown";
    if (remote) g_object_unref(remote);
    if (connections.size() >= config.max_connections) {
      GST_WARNING("port %u: refusing connection from %s: max-connections (%u) reached",
                  bound_port, peer.c_str(), config.max_connections);
      g_socket_close(client, nullptr);
      g_object_unref(client);
      continue;
    }
    const std::string address = address_of(peer);
    uint32_t& from_address = connections_per_address[address];
    if (config.max_connections_per_address != 0 &&
        from_address >= config.max_connections_per_address) {
      GST_WARNING("port %u: refusing connection from %s: max-connections-per-address (%u) reached",
                  bound_port, peer.c_str(), config.max_connections_per_address);
      g_socket_close(client, nullptr);
      g_object_unref(client);
      continue;
    }
    ++from_address;
    g_socket_set_blocking(client, FALSE);
    g_socket_set_option(client, IPPROTO_TCP, TCP_NODELAY, 1, nullptr);
    GSocketConnection* stream = g_socket_connection_factory_create_connection(client);
    g_object_unref(client);
    uint64_t id = next_connection_id++;
    GST_INFO("port %u: connection %" G_GUINT64_FORMAT " from %s", bound_port, id, peer.c_str());
    auto connection =
        std::make_unique<Connection>(*this, poller, id, stream, peer, certificate, config.session);
    g_object_unref(stream);
    Connection& ref = *connection;
    connections.emplace(id, std::move(connection));
    open_connections = connections.size();
    ref.start();
  }
}

void Listener::Impl::check_timeouts() {
  const int64_t now = g_get_monotonic_time();
  for (auto& entry : play_mounts) {
    if (entry.hub) entry.hub->check_viewers(now);
  }
  std::vector<std::pair<uint64_t, std::string>> expired;
  for (auto& [id, connection] : connections) {
    if (connection->is_lingering()) {
      if (now >= connection->linger_deadline()) expired.emplace_back(id, "closed after error reply");
    } else if (!connection->established &&
               now - connection->accepted_at() > kHandshakeTimeoutSeconds * G_USEC_PER_SEC) {
      expired.emplace_back(id, "no publish/play within " +
                                   std::to_string(kHandshakeTimeoutSeconds) + " s");
    } else if (!connection->reading_paused() && !connection->play_hub &&
               now - connection->last_received_at() >
                   kIdleConnectionTimeoutSeconds * G_USEC_PER_SEC) {
      // Players may stay silent for long (an acknowledgement per window only): their
      // liveness is the hub's write progress rule instead.
      expired.emplace_back(id, "nothing received for " +
                                   std::to_string(kIdleConnectionTimeoutSeconds) + " s");
    }
  }
  for (auto& [id, reason] : expired) {
    if (Connection* connection = find_connection(id)) connection->close(reason);
  }
}

Listener::Impl::PublishEntry* Listener::Impl::find_publish_entry(const std::string& app,
                                                                 const std::string& key) {
  PublishEntry* wildcard = nullptr;
  for (auto& entry : publish_mounts) {
    if (entry.application != app) continue;
    if (entry.stream_key == key) return &entry;
    if (entry.stream_key.empty()) wildcard = &entry;
  }
  return wildcard;
}

void Listener::Impl::session_has_events(Connection& connection) {
  rtmp::SessionEvent event;
  while (connection.is_open() && !connection.is_lingering() &&
         connection.session().next_event(event)) {
    switch (event.kind) {
      case rtmp::SessionEventKind::handshake_done:
        GST_DEBUG("%s: handshake done", connection.peer().c_str());
        break;
      case rtmp::SessionEventKind::connect:
        GST_DEBUG("%s: connect app=%s", connection.peer().c_str(), event.app.c_str());
        break;
      case rtmp::SessionEventKind::publish_requested:
        handle_publish(connection, event);
        break;
      case rtmp::SessionEventKind::play_requested:
        handle_play(connection, event);
        break;
      case rtmp::SessionEventKind::media:
        if (connection.publish_mount && !connection.publish_mount->media(std::move(event.message)))
          connection.pause_reading();
        break;
      case rtmp::SessionEventKind::unpublished:
        end_publish(connection, "publisher unpublished");
        break;
      case rtmp::SessionEventKind::closed:
        end_publish(connection, "publisher closed the stream");
        connection.close_after_flush("session ended by the peer");
        break;
      case rtmp::SessionEventKind::play_paused:
      case rtmp::SessionEventKind::receive_audio:
      case rtmp::SessionEventKind::receive_video:
        if (connection.play_hub) connection.play_hub->player_event(connection, event);
        break;
      case rtmp::SessionEventKind::play_stopped:
        if (connection.play_hub) connection.play_hub->remove_player(connection, "play stopped");
        connection.close_after_flush("play stopped by the peer");
        break;
    }
  }
  report_bytes(connection);
  if (connection.is_open()) budget_input(connection);
}

// Counts what a connection not yet publishing or playing holds against the listener's budget.
void Listener::Impl::budget_input(Connection& connection) {
  const size_t now = connection.established ? 0 : connection.session().buffered_input_bytes();
  unestablished_bytes = unestablished_bytes - connection.budgeted_bytes + now;
  connection.budgeted_bytes = now;
  if (unestablished_bytes <= kMaxUnestablishedInputBytes || now == 0) return;
  GST_WARNING("port %u: connections not yet publishing or playing hold %zu bytes (budget %zu): "
              "closing %s", bound_port, unestablished_bytes, kMaxUnestablishedInputBytes,
              connection.peer().c_str());
  unestablished_bytes -= now;
  connection.budgeted_bytes = 0;
  connection.close("over the input budget for connections not yet publishing or playing");
}

void Listener::Impl::report_bytes(Connection& connection) {
  if (!connection.publish_mount) return;
  uint64_t total = connection.session().bytes_in();
  const uint32_t wake = connection.publish_mount->bytes_received(total - connection.bytes_reported);  // may be 0
  connection.bytes_reported = total;
  if (poller.dispatching()) {
    source_wake_bits |= wake;  // at the end of the batch, for every mount at once
  } else {
    source_wakeup->wake(wake);
  }
}

void Listener::Impl::post(std::function<void()> work) {
  g_main_context_invoke_full(
      context, G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        (*static_cast<std::function<void()>*>(data))();
        return G_SOURCE_REMOVE;
      },
      new std::function<void()>(std::move(work)),
      [](gpointer data) { delete static_cast<std::function<void()>*>(data); });
}

// Publish or play accepted: no longer counted against the per-address limit of connections
// that hold resources without any authorization.
void Listener::Impl::establish(Connection& connection) {
  if (connection.established) return;
  connection.established = true;
  unestablished_bytes -= connection.budgeted_bytes;
  connection.budgeted_bytes = 0;
  auto counted = connections_per_address.find(address_of(connection.peer()));
  if (counted != connections_per_address.end() && --counted->second == 0)
    connections_per_address.erase(counted);
}

void Listener::Impl::handle_publish(Connection& connection, const rtmp::SessionEvent& event) {
  StreamRequest request{connection.id(), connection.peer(), event.app, event.stream_key,
                        event.query};
  auto refuse = [&](const std::string& why) {
    GST_INFO("%s: publish to app '%s' refused: %s", connection.peer().c_str(), event.app.c_str(),
             why.c_str());
    GST_DEBUG("%s: refused stream key was '%s'", connection.peer().c_str(),
              event.stream_key.c_str());
    connection.session().reject_publish("NetStream.Publish.BadName", why);
    connection.close_after_flush("publish refused: " + why);
  };
  if (connection.publish_mount) return refuse("this connection already publishes");
  PublishEntry* entry = find_publish_entry(event.app, event.stream_key);
  if (!entry && mount_provider) return ask_mount_provider(connection, request, true);
  if (!entry) return refuse("no such stream");
  PublishMount* mount = entry->mount;
  // The application decides on another thread; the session holds later input meanwhile.
  const uint64_t id = connection.id();
  decide_then(mount->keep_alive(), [mount, request] { return mount->authorize_publish(request); },
              [this, mount, request, id](bool allowed) { finish_publish(id, mount, request, allowed); });
}

void Listener::Impl::decide_then(std::shared_ptr<void> alive, std::function<bool()> ask,
                                 std::function<void(bool)> finish) {
  std::weak_ptr<Listener> listener = self;
  DecisionRunner::get().decide([this, listener, alive = std::move(alive), ask = std::move(ask),
                                finish = std::move(finish)] {
    const bool allowed = ask();
    // A listener that stopped meanwhile drops the answer (its connections are gone).
    if (auto running = listener.lock()) post([finish, allowed] { finish(allowed); });
  });
}

void Listener::Impl::finish_publish(uint64_t connection_id, PublishMount* mount,
                                    const StreamRequest& request, bool allowed) {
  Connection* found = find_connection(connection_id);
  if (!found || !found->is_open() || found->is_lingering()) return;
  Connection& connection = *found;
  auto refuse = [&](const std::string& why) {
    GST_INFO("%s: publish to app '%s' refused: %s", connection.peer().c_str(),
             request.application.c_str(), why.c_str());
    connection.session().reject_publish("NetStream.Publish.BadName", why);
    connection.close_after_flush("publish refused: " + why);
  };
  if (!allowed) return refuse("not authorized");
  // The application ran meanwhile: the entry may have moved or gone, look it up again.
  PublishEntry* entry = find_publish_entry(request.application, request.stream_key);
  if (!entry || entry->mount != mount) return refuse("no such stream");
  if (connection.publish_mount) return refuse("this connection already publishes");
  if (entry->publisher != 0) {
    if (!mount->allows_takeover()) return refuse("already publishing");
    if (Connection* previous = find_connection(entry->publisher)) {
      GST_INFO("%s takes over the stream from %s", connection.peer().c_str(),
               previous->peer().c_str());
      end_publish(*previous, "taken over by " + connection.peer());
      previous->session().close("NetStream.Unpublish.Success", "taken over by another publisher");
      previous->close_after_flush("taken over by another publisher");
    }
    entry->publisher = 0;
  }
  connection.session().accept_publish();
  establish(connection);
  connection.publish_mount = mount;
  connection.bytes_reported = 0;  // bytes-in counts the whole connection, handshake included
  connection.set_input_batched(true);
  entry->publisher = connection.id();
  GST_INFO("%s: publishing to app '%s'", connection.peer().c_str(), request.application.c_str());
  mount->publish_started(request);
  // Input held while the decision was pending is now in the session's events.
  session_has_events(connection);
  connection.flush();
}

Listener::Impl::PlayEntry* Listener::Impl::find_play_entry(PlayMount* mount) {
  for (auto& entry : play_mounts)
    if (entry.mount == mount) return &entry;
  return nullptr;
}

void Listener::Impl::refuse_play(Connection& connection, const std::string& app,
                                 const std::string& code, const std::string& why) {
  GST_INFO("%s: play of app '%s' refused: %s", connection.peer().c_str(), app.c_str(),
           why.c_str());
  connection.session().reject_play(code, why);
  connection.close_after_flush("play refused: " + why);
}

void Listener::Impl::handle_play(Connection& connection, const rtmp::SessionEvent& event) {
  StreamRequest request{connection.id(), connection.peer(), event.app, event.stream_key,
                        event.query};
  if (connection.play_hub || connection.publish_mount)
    return refuse_play(connection, event.app, "NetStream.Play.Failed", "this connection is busy");
  PlayMount* mount = find_play_mount(event.app, event.stream_key);
  if (!mount && mount_provider) return ask_mount_provider(connection, request, false);
  if (!mount) return refuse_play(connection, event.app, "NetStream.Play.StreamNotFound", "no such stream");
  const uint64_t id = connection.id();
  decide_then(mount->keep_alive(), [mount, request] { return mount->authorize_play(request); },
              [this, mount, request, id](bool allowed) { finish_play(id, mount, request, allowed); });
}

PlayMount* Listener::Impl::find_play_mount(const std::string& app, const std::string& key) {
  for (auto& entry : play_mounts)
    if (entry.application == app && entry.stream_key == key) return entry.mount;
  return nullptr;
}

void Listener::Impl::ask_mount_provider(Connection& connection, const StreamRequest& request,
                                        bool publish) {
  MountProvider* provider = mount_provider;
  const uint64_t id = connection.id();
  decide_then(provider->keep_alive(),
              [provider, request, publish] { return provider->provide_mount(request, publish); },
              [this, request, publish, id](bool provided) {
                Connection* found = find_connection(id);
                if (!found || !found->is_open() || found->is_lingering()) return;
                if (publish) {
                  PublishEntry* entry = find_publish_entry(request.application, request.stream_key);
                  if (provided && entry) return finish_publish(id, entry->mount, request, true);
                  found->session().reject_publish("NetStream.Publish.BadName", "no such stream");
                  found->close_after_flush("publish refused: no such stream");
                  GST_INFO("%s: publish to app '%s' refused: no such stream (%s)",
                           found->peer().c_str(), request.application.c_str(),
                           provided ? "no mount after all" : "refused by the server");
                  return;
                }
                PlayMount* mount = find_play_mount(request.application, request.stream_key);
                if (provided && mount) return finish_play(id, mount, request, true);
                refuse_play(*found, request.application, "NetStream.Play.StreamNotFound",
                            "no such stream");
              });
}

void Listener::Impl::finish_play(uint64_t connection_id, PlayMount* mount,
                                 const StreamRequest& request, bool allowed) {
  Connection* found = find_connection(connection_id);
  if (!found || !found->is_open() || found->is_lingering()) return;
  Connection& connection = *found;
  if (!allowed)
    return refuse_play(connection, request.application, "NetStream.Play.Failed", "not authorized");
  PlayEntry* entry = find_play_entry(mount);
  if (!entry || !entry->hub)
    return refuse_play(connection, request.application, "NetStream.Play.StreamNotFound", "no such stream");
  if (!entry->hub->admit())
    return refuse_play(connection, request.application, "NetStream.Play.Failed", "too many viewers");
  connection.session().accept_play();
  establish(connection);
  if (!entry->hub->add_player(connection, request)) {
    connection.session().close("NetStream.Play.Failed", "too many viewers");
    connection.close_after_flush("too many viewers");
    return;
  }
  GST_INFO("%s: playing app '%s'", connection.peer().c_str(), request.application.c_str());
  session_has_events(connection);  // commands held while the decision was pending
  connection.flush();
}

void Listener::Impl::end_publish(Connection& connection, const std::string& reason) {
  PublishMount* mount = connection.publish_mount;
  if (!mount) return;
  report_bytes(connection);
  connection.publish_mount = nullptr;
  connection.set_input_batched(false);  // commands again (deleteStream, a new publish...)
  for (auto& entry : publish_mounts) {
    if (entry.mount == mount && entry.publisher == connection.id()) entry.publisher = 0;
  }
  GST_INFO("%s: publish ended: %s", connection.peer().c_str(), reason.c_str());
  mount->publish_stopped(reason);
}

void Listener::Impl::connection_closed(Connection& connection, const std::string& reason) {
  GST_INFO("port %u: connection %" G_GUINT64_FORMAT " from %s closed: %s", bound_port,
           connection.id(), connection.peer().c_str(), reason.c_str());
  end_publish(connection, reason);
  if (connection.play_hub) connection.play_hub->remove_player(connection, reason);
  unestablished_bytes -= connection.budgeted_bytes;
  connection.budgeted_bytes = 0;
  auto it = connections.find(connection.id());
  if (it == connections.end()) return;
  if (!connection.established) {
    auto counted = connections_per_address.find(address_of(connection.peer()));
    if (counted != connections_per_address.end() && --counted->second == 0)
      connections_per_address.erase(counted);
  }
  closed_connections.push_back(std::move(it->second));
  connections.erase(it);
  open_connections = connections.size();
  schedule_reap();
}

void Listener::Impl::schedule_reap() {
  if (reap_source || !context) return;
  reap_source = g_idle_source_new();
  g_source_set_callback(reap_source, on_reap, this, nullptr);
  g_source_attach(reap_source, context);
}

// --- Listener ---

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Listener::~Listener() {
  std::lock_guard lock(registry_mutex());
  auto it = registry().find({impl_->config.address, impl_->config.port});
  if (it != registry().end() && it->second.expired()) registry().erase(it);
  impl_->shutdown();
}

Result<std::shared_ptr<Listener>> Listener::acquire(const ListenerConfig& config) {
  init_debug();
  std::lock_guard lock(registry_mutex());
  ListenerKey key{config.address, config.port};
  auto it = registry().find(key);
  if (it != registry().end()) {
    if (auto existing = it->second.lock()) {
      const ListenerConfig& have = existing->impl_->config;
      if (have.tls_certificate != config.tls_certificate || have.tls_key != config.tls_key) {
        return make_error(Errc::refused,
                          "TLS settings differ from those of another element on " +
                              config.address + ":" + std::to_string(config.port));
      }
      if (have.max_connections != config.max_connections ||
          have.max_connections_per_address != config.max_connections_per_address ||
          have.session.outgoing_chunk_size != config.session.outgoing_chunk_size ||
          have.read_interval_ms != config.read_interval_ms) {
        GST_WARNING("%s:%u is shared: max-connections(-per-address)/chunk-size/read-interval "
                    "of the first element apply",
                    config.address.c_str(), config.port);
      }
      return existing;
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (auto started = impl->start(); !started) return started.error();
  Impl* raw = impl.get();
  std::shared_ptr<Listener> listener(new Listener(std::move(impl)));
  raw->self = listener;
  if (config.port != 0) registry()[key] = listener;  // port 0: a private ephemeral port
  return listener;
}

Result<void> Listener::add_publish_mount(const std::string& application,
                                         const std::string& stream_key, PublishMount* mount) {
  Result<void> result;
  impl_->run_sync([&] {
    for (auto& entry : impl_->publish_mounts) {
      if (entry.application == application && entry.stream_key == stream_key) {
        result = make_error(Errc::refused, "another element already serves application '" +
                                               application + "' with this stream key");
        return;
      }
    }
    impl_->publish_mounts.push_back({application, stream_key, mount, 0});
  });
  return result;
}

void Listener::remove_publish_mount(PublishMount* mount) {
  impl_->run_sync([&] {
    auto& mounts = impl_->publish_mounts;
    for (auto it = mounts.begin(); it != mounts.end(); ++it) {
      if (it->mount != mount) continue;
      if (Connection* publisher = impl_->find_connection(it->publisher)) {
        impl_->end_publish(*publisher, "element stopped");
        publisher->session().close("NetStream.Unpublish.Success", "stream stopped by the server");
        publisher->close_after_flush("element stopped");
      }
      mounts.erase(it);
      return;
    }
  });
}

void Listener::resume_publisher(PublishMount* mount) {
  struct Resume {
    Impl* impl;
    PublishMount* mount;
  };
  // Runs on the I/O thread; dropped unrun if the listener stops first (mounts are gone then).
  g_main_context_invoke_full(
      impl_->context, G_PRIORITY_DEFAULT,
      [](gpointer data) -> gboolean {
        auto* r = static_cast<Resume*>(data);
        for (auto& entry : r->impl->publish_mounts) {
          if (entry.mount != r->mount) continue;
          if (Connection* publisher = r->impl->find_connection(entry.publisher))
            publisher->resume_reading();
        }
        return G_SOURCE_REMOVE;
      },
      std::make_unique<Resume>(Resume{impl_.get(), mount}).release(),
      [](gpointer data) { std::unique_ptr<Resume>(static_cast<Resume*>(data)); });
}

void Listener::read_publisher_now(PublishMount* mount) {
  impl_->run_sync([&] {
    for (auto& entry : impl_->publish_mounts) {
      if (entry.mount != mount) continue;
      if (Connection* publisher = impl_->find_connection(entry.publisher)) publisher->on_input();
    }
  });
}

Result<RelayHub*> Listener::add_play_mount(const std::string& application,
                                           const std::string& stream_key, PlayMount* mount,
                                           const RelayConfig& config) {
  Result<RelayHub*> result = make_error(Errc::closed, "listener stopped");
  impl_->run_sync([&] {
    for (auto& entry : impl_->play_mounts) {
      if (entry.application == application && entry.stream_key == stream_key) {
        result = make_error(Errc::refused, "another element already plays out application '" +
                                               application + "' with this stream key");
        return;
      }
    }
    auto hub = std::make_unique<RelayHub>(impl_->context, impl_->poller, mount, config);
    RelayHub* raw = hub.get();
    impl_->play_mounts.push_back({application, stream_key, mount, std::move(hub)});
    result = raw;
  });
  return result;
}

void Listener::remove_play_mount(PlayMount* mount) {
  impl_->run_sync([&] {
    auto& mounts = impl_->play_mounts;
    auto it = std::find_if(mounts.begin(), mounts.end(),
                           [&](const Impl::PlayEntry& e) { return e.mount == mount; });
    if (it == mounts.end()) return;
    std::vector<uint64_t> players;
    for (auto& [id, connection] : impl_->connections)
      if (connection->play_hub == it->hub.get()) players.push_back(id);
    for (uint64_t id : players) {
      Connection* player = impl_->find_connection(id);
      if (!player) continue;
      it->hub->remove_player(*player, "element stopped");
      player->session().close("NetStream.Play.UnpublishNotify", "stream stopped by the server");
      player->close_after_flush("element stopped");
    }
    it->hub.reset();
    mounts.erase(it);
  });
}

Result<void> Listener::set_mount_provider(MountProvider* provider) {
  Result<void> result;
  impl_->run_sync([&] {
    if (provider && impl_->mount_provider && impl_->mount_provider != provider)
      result = make_error(Errc::refused, "another server object already provides mounts on port " +
                                             std::to_string(impl_->bound_port));
    else
      impl_->mount_provider = provider;
  });
  return result;
}

uint16_t Listener::port() const { return impl_->bound_port; }
bool Listener::uses_tls() const { return impl_->certificate != nullptr; }
uint32_t Listener::read_interval_ms() const { return impl_->config.read_interval_ms; }
const std::shared_ptr<BatchWakeup>& Listener::source_wakeup() const { return impl_->source_wakeup; }
uint32_t Listener::connection_count() const { return impl_->open_connections.load(); }

}  // namespace live::net
