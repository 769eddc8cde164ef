// StreamPipeline: one published stream's pipeline, built when its publisher arrives:
//
//   rtmpserversrc (publish key) ! tee ! queue ! flvrelaysink (public name: RTMP, HTTP-FLV, push)
//                                   tee ! queue ! rtmpchunkdemux
//   demux video -> parse -> tee -> hlsadaptivesink video_0 (the source, passed through)
//                              \-> decode once -> tee -> scale + x264enc per rung -> video_1..N
//   demux audio -> aacparse (or decode + avenc_aac) -> tee -> hlsadaptivesink audio_0
//   with --webrtc, from those tees through leaky queues (never holding HLS or the relay):
//     top rung's H.264 (x264, no B-frames), else Baseline source H.264 as it is, else the source
//     decoded and encoded once (x264enc tune=zerolatency bframes=0) -> whepserversink video
//     AAC -> avdec_aac -> audioconvert -> audioresample -> opusenc -> whepserversink audio
//
// hlsadaptivesink takes its pads before it starts, so it is added when the demuxer has found
// every track (no-more-pads); until then the branches wait on blocked pads. The source's
// keyframes define the segments; the sink asks the rung encoders for key units there.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config.h"

namespace live_server {

class Recorder;

// What /api/streams and /metrics report of one stream (read from the elements' stats).
struct StreamSnapshot {
  std::string name;
  int64_t since_unix_s = 0;
  bool publishing = false;
  std::string video_codec, audio_codec;  // e.g. "H.264", "AAC"
  int width = 0, height = 0;
  uint64_t bitrate_in = 0;               // bit/s over the last 5 s
  uint64_t bytes_in = 0, bytes_out_relay = 0;
  uint64_t bitrate_out_relay = 0;        // bit/s to RTMP and HTTP-FLV viewers, last ~5 s
  uint64_t hls_bytes_written = 0;        // segments and parts of every variant
  uint32_t rtmp_viewers = 0, http_flv_viewers = 0;
  bool webrtc = false;                   // a WHEP endpoint is served (--webrtc, a track arrived)
  uint32_t webrtc_viewers = 0;           // WHEP sessions now
  uint64_t dropped_frames = 0;           // relay drops for slow viewers + HLS drops
  std::vector<std::string> variants;     // "1280x720 source", "640x360 800 kbit/s"
  std::vector<std::pair<std::string, std::string>> push_targets;  // location (no key), state
  int64_t packaging_latency_p99_us = 0;
  uint64_t segments = 0;
  std::string recording;                 // file being written, or ""
  std::string hls_error;                 // HLS cut off after a write failure: why (else "")
};

class StreamPipeline {
 public:
  // Builds the pipeline for publish key `key` served as `name` and sets it to PLAYING (the
  // rtmpserversrc mount exists when this returns). nullptr + why on failure.
  static std::unique_ptr<StreamPipeline> start(const Config& config, const std::string& key,
                                               const std::string& name, std::string& why);
  ~StreamPipeline();  // sets the pipeline to NULL

  GstElement* pipeline() const { return pipeline_; }
  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }
  StreamSnapshot snapshot() const;
  // Ends the stream cleanly: EOS from the source (playlists get ENDLIST, viewers StreamEOF).
  void send_eos();
  // A publisher started or stopped (element messages, main thread): the recorder's files.
  void publish_started();
  void publish_stopped();
  // An ERROR from `source`: if it is this stream's HLS sink (disk full, folder unwritable), cuts
  // HLS off and returns true: RTMP, HTTP-FLV, push and recording go on (main thread).
  bool drop_failed_hls(GstObject* source, const std::string& reason);
  // An error from the WebRTC branch (whepserversink, its queues and transcoders) stops WebRTC
  // for this stream only: logged, the sink removed. true if `message` was such an error.
  // Main thread.
  bool handle_webrtc_error(GstMessage* message);
  // The "authorize-play" handler for the play outputs made later (whepserversink, at the first
  // track). Set before media flows (the publisher is answered after the pipeline is made).
  void set_play_authorizer(GCallback handler, gpointer data) {
    play_authorizer_ = handler;
    play_authorizer_data_ = data;
  }

 private:
  StreamPipeline(const Config& config, std::string key, std::string name);
  bool build(std::string& why);
  static void on_pad_added(GstElement* demux, GstPad* pad, gpointer self);
  static void on_no_more_pads(GstElement* demux, gpointer self);
  // The bus's sync handler (the posting thread): the first WebRTC error sets webrtc_stopped_
  // before the failing element returns its flow error, so the tees never see it.
  static GstBusSyncReply on_sync_message(GstBus* bus, GstMessage* message, gpointer self);
  bool from_webrtc(GstObject* source);
  void remove_webrtc_sink(GstElement* sink);
  bool only_hls_and_relay() const;
  void add_video_branch(GstPad* pad, const GstStructure* caps);
  void add_audio_branch(GstPad* pad, const GstStructure* caps);
  // A branch end that waits (blocked) for hlsadaptivesink's pad of that name.
  // Holds a branch's output until hlsadaptivesink is attached. in_demux_thread: the branch runs
  // in the demuxer's streaming thread (no encoder), so its buffers are kept aside in a probe and
  // pushed on at attach_hls, in that thread; otherwise a queue (a thread) blocks.
  void hold_for_hls(GstElement* last, const std::string& hls_pad, bool in_demux_thread);
  // Adds hlsadaptivesink and links the held branches to it (lock_ held); returns it (a ref) to
  // be started without lock_ (then hls_started_), or nullptr (attached before, or no video:
  // fakesinks instead).
  GstElement* attach_hls();
  // Then (lock_ held) lets the held branches flow: returns the buffers kept aside, to push
  // after lock_ is released.
  std::vector<std::pair<GstPad*, std::vector<GstBuffer*>>> release_held();
  void start_new_elements();
  // --webrtc: the stream's whepserversink, made and started with the first track (lock_ not
  // held); removed at no-more-pads if no track feeds it.
  void start_webrtc_sink();
  void drop_unfed_webrtc_sink();
  // tee ! queue (leaky: WebRTC never holds the tee) ! factories... ! whepserversink's `pad`.
  void feed_webrtc(GstElement* tee, std::initializer_list<GstElement*> chain, const char* pad);
  GstElement* add(const char* factory, const char* name = nullptr);
  uint64_t relay_bitrate(uint64_t bytes_out) const;
  bool link_chain(std::initializer_list<GstElement*> elements);

  const Config& config_;
  const std::string key_, name_;
  const int64_t since_unix_s_;
  GstElement* pipeline_ = nullptr;
  GstElement* source_ = nullptr;
  GstElement* relay_ = nullptr;
  GstElement* demux_ = nullptr;
  GstElement* hls_ = nullptr;  // added at no-more-pads
  GstElement* dropped_hls_ = nullptr;  // a ref to the sink drop_failed_hls took out: its later errors are known
  GstElement* video_tee_ = nullptr;  // parsed source video (record)
  GstElement* audio_tee_ = nullptr;  // parsed AAC (record)
  std::unique_ptr<Recorder> recorder_;

  std::mutex webrtc_lock_;  // webrtc_elements_ (read by the sync handler on any thread)
  std::vector<GstElement*> webrtc_elements_;  // the WebRTC branch: queues, transcoders, the sink
  std::atomic<bool> webrtc_stopped_{false};  // after an error there: its inputs drop everything
  // WHEP sessions now (from whepserversink's messages, in the sync handler): the WebRTC transcode
  // decodes and encodes only while there is one (gate_webrtc_transcode).
  std::atomic<uint32_t> webrtc_sessions_{0};
  // When the last offer passed the play policy (monotonic us): the transcode starts then, not
  // once the session exists, so its decoder reaches a keyframe while ICE gathers (up to 2 s).
  std::atomic<int64_t> webrtc_offer_at_us_{0};
  static gboolean note_webrtc_offer(GstElement*, const gchar*, const gchar*, const gchar*, const gchar*, gpointer self);
  // The transcode's input thread only: its first GOP passes (the encoder's caps and SPS/PPS
  // let whepserversink answer offers), then it is gated; open while sessions exist.
  int webrtc_transcode_keyframes_ = 0;
  bool webrtc_transcode_open_ = false;
  static GstPadProbeReturn gate_webrtc_transcode(GstPad* pad, GstPadProbeInfo* info, gpointer self);

  mutable std::mutex lock_;  // the fields below: streaming thread (pads) vs main thread (stats)
  struct KeptBuffers;  // buffers a probe keeps aside until attach_hls (demuxer thread only)
  struct HeldPad {
    GstPad* pad;       // src pad of the branch's last queue or tee (a ref)
    gulong probe;      // the blocking or keeping probe
    std::string hls_pad;
    KeptBuffers* kept;  // the keeping probe's data (freed with the probe), or null
  };
  std::vector<HeldPad> held_;
  // Set by the pads' isolating probe when the HLS sink returned an error: its inputs are dropped
  // from then on, so the sink's flow error never reaches the tees, the relay and the source.
  std::atomic<bool> hls_failed_{false};
  std::string hls_error_;  // why HLS was cut off (main thread)
  static GstPadProbeReturn isolate_hls(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  bool hls_attached_ = false;
  bool hls_started_ = false;  // hls_'s start returned: snapshot() may read its stats
  GCallback play_authorizer_ = nullptr;
  gpointer play_authorizer_data_ = nullptr;
  GstElement* whep_ = nullptr;  // --webrtc: whepserversink, added with the first track
  bool webrtc_failed_ = false;
  std::string video_codec_, audio_codec_;
  int width_ = 0, height_ = 0;
  std::vector<std::string> variants_;
  // (monotonic µs, relay bytes out) of recent snapshots, for bitrate_out_relay.
  mutable std::vector<std::pair<int64_t, uint64_t>> out_samples_;
};

}  // namespace live_server
