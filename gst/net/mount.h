// Mounts: what an element registers on a shared listener to receive (publish) or serve (play)
// one stream, named by RTMP application + stream key. The authorize_* decisions run on a
// DecisionRunner thread (application code: a signal handler may even stop the pipeline);
// every other method is called on the listener's I/O thread and must return quickly and never
// block it (no waiting for the streaming thread, no state changes, no signals or messages:
// post those through DecisionRunner::notify).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rtmp/message.h"

namespace live::net {

// Who asks to publish or play, as the listener saw it.
struct StreamRequest {
  uint64_t connection_id = 0;
  std::string client_address;  // "ip:port" of the peer
  std::string application;     // from connect, without query
  std::string stream_key;      // from publish/play, without query (a secret: log at DEBUG only)
  std::string query;           // query string from the stream name or tcUrl
};

// A receiving end for one published stream (rtmpserversrc).
class PublishMount {
 public:
  virtual ~PublishMount() = default;
  // Keeps the element (and so this mount) alive while a decision or notification task that
  // uses it is queued or running, which may be after the mount was removed.
  virtual std::shared_ptr<void> keep_alive() = 0;
  // The application's decision (e.g. the authorize-publish signal), on a decision thread.
  // false -> BadName.
  virtual bool authorize_publish(const StreamRequest& request) = 0;
  // Whether a new publisher for this mount replaces a current one (else: refused as busy).
  virtual bool allows_takeover() const = 0;
  // A publisher was accepted; media follows until publish_stopped.
  virtual void publish_started(const StreamRequest& request) = 0;
  // One audio (8), video (9) or data (18) message of the current publisher. Returns false when
  // the mount wants no more for now: the listener stops reading that connection (TCP flow
  // control pushes back to the publisher) until Listener::resume_publisher(mount).
  virtual bool media(rtmp::Message&& message) = 0;
  // Raw bytes read from the current publisher's connection (for stats). Called after the
  // media() calls of each read (count may be 0). Returns the BatchWakeup bits of the consumer
  // to wake (0: none); it sleeps on Listener::source_wakeup(), and the listener wakes all such
  // consumers with one call at the end of the read batch.
  virtual uint32_t bytes_received(uint64_t count) = 0;
  // The current publisher ended (unpublish, disconnect, error, takeover, shutdown).
  virtual void publish_stopped(const std::string& reason) = 0;
};

// A sending end for one stream to players (flvrelaysink). The listener keeps the stream's
// RelayHub (viewers, GOP cache); the mount only decides and is told. A play request for a
// mount nobody registered is refused with NetStream.Play.StreamNotFound.
class PlayMount {
 public:
  virtual ~PlayMount() = default;
  virtual std::shared_ptr<void> keep_alive() = 0;  // as PublishMount::keep_alive()
  // The application's decision (the authorize-play signal), on a decision thread; RTMP and
  // HTTP-FLV viewers alike. false -> NetStream.Play.Failed / HTTP 403.
  virtual bool authorize_play(const StreamRequest& request) = 0;
  // A viewer started or stopped ("rtmp" or "http-flv"); on the I/O thread: post, do not act.
  virtual void play_started(const StreamRequest& request, const char* protocol) = 0;
  virtual void play_stopped(const StreamRequest& request, const char* protocol,
                            const std::string& reason) = 0;
  // A push target started publishing (connected) or stopped (reason); `location` has no key.
  // Called from a DecisionRunner notification thread.
  virtual void push_state_changed(const std::string& location, bool connected,
                                  const std::string& reason) = 0;
};

// Asked about a publish or play that no mount serves (GstLiveServer, the process-wide server
// object): the application may create the element that serves it, then answer true.
class MountProvider {
 public:
  virtual ~MountProvider() = default;
  virtual std::shared_ptr<void> keep_alive() = 0;  // as PublishMount::keep_alive()
  // On a decision thread; may take its time (it builds and starts a pipeline). true: a mount
  // for the request is registered now, and the request is authorized (the new mount's own
  // authorize_* is not asked again). false: refused as no such stream.
  virtual bool provide_mount(const StreamRequest& request, bool publish) = 0;
};

}  // namespace live::net
