// live-server configuration: defaults, then the config file (GLib key file), then command-line
// flags. docs/operations.md ("Configuration") documents every key.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace live_server {

struct Rung {  // one transcoded rendition of the ladder
  int width = 0;
  int height = 0;
  int kbps = 0;
};

struct StreamSettings {  // [stream:KEY] sections: per publish key
  std::string name;      // public name in URLs and logs (default: the key)
  std::vector<std::string> push;  // extra push targets for this stream
  int record = -1;       // -1: the server's default, 0/1: off/on
};

struct Config {
  // [server]
  std::string address = "0.0.0.0";
  int rtmp_port = 1935;
  std::string application = "live";
  std::string tls_certificate;
  std::string tls_key;
  int max_connections_per_address = 16;
  int http_port = 8080;
  std::string output_dir = "live-output";
  std::string player_dir;  // holds index.html and node_modules/hls.js, served at /
  int idle_timeout = 10;   // s without a publisher before a stream ends
  int status_interval = 30;  // s between status lines (0 = none)
  int max_streams = 16;
  // [hls]
  bool low_latency = true;
  bool hls_in_memory = false;  // HLS served from memory; nothing in output_dir
  std::string segment_format = "fmp4";
  int playlist_length = 6;
  // [ladder]: the source passes through as the top variant; these are transcoded from it.
  std::vector<Rung> ladder = {{640, 360, 800}, {426, 240, 400}};
  std::string encoder_preset = "superfast";
  // [webrtc]: WHEP play at /APP/NAME/whep (whepserversink). Off by default: it costs CPU for
  // every stream even with no WebRTC viewer (AAC -> Opus, and x264 when there is no ladder rung
  // and the source may have B-frames).
  bool webrtc = false;
  std::string stun_server;  // stun://host:port: server-reflexive candidates (a server behind NAT)
  std::string turn_server;  // turn(s)://user:password@host:port: relayed candidates (a secret)
  // [relay]: RTMP / HTTP-FLV viewers (flvrelaysink)
  int video_write_delay = 0;  // ms video waits so that viewers get several frames per write
  // [auth]
  std::vector<std::string> publish_keys;  // allow-list (empty: any key, unless a callback)
  std::string auth_callback;              // URL: POST for publish and play, 2xx allows
  // [push]: for every stream; "{name}" is replaced by the stream's public name
  std::vector<std::string> push;
  // [record]
  bool record = false;
  std::string record_dir = "recordings";
  // [stream:KEY]
  std::map<std::string, StreamSettings> streams;

  bool print_pipeline = false;

  std::string public_name(const std::string& key) const;
  std::vector<std::string> push_targets(const std::string& key) const;
  bool records(const std::string& key) const;
};

// "640x360@800,426x240@400" (empty string: no transcoded rung). false + why on a bad entry.
bool parse_ladder(const std::string& text, std::vector<Rung>& out, std::string& why);

// Fills config from argv (and the file named by --config). Returns 0 to go on, or the exit
// status (0 after --help, 2 after a bad flag or config, with a one-line message printed).
int load_config(int& argc, char**& argv, Config& config, bool& exit_now);

}  // namespace live_server
