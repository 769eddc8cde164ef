"""Pieces of live_server_bench.py: the media, the two servers, publishers, and PlaylistClock
(the media time a growing HLS playlist lists, and when it listed it).

Process accounting (CPU from /proc/PID/stat, the process tree by PID) is ingest_bench.py's.
"""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("ingest_bench", os.path.join(HERE, "ingest_bench.py"))
ib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ib)

NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
LADDER = [(640, 360, 800), (426, 240, 400)]  # live-server's default --ladder
GOP_S = 2.0
FPS = 30


def require(*tools):
    for tool in tools:
        if not (shutil.which(tool) or os.path.exists(tool)):
            sys.exit(f"FAIL: {tool} not found (scripts/install-deps.sh installs it)")


def make_media(cache_dir, seconds=30):
    """720p30 H.264 (CBR 2.35 Mbit/s, 2 s GOP, B-frames) + AAC 128 kbit/s FLV, ~2.5 Mbit/s, made once."""
    path = os.path.join(cache_dir, f"bench-2500k-720p30-{seconds}s.flv")
    if not os.path.exists(path):
        print(f"making {path} with ffmpeg (once)", flush=True)
        tmp = path + ".tmp.flv"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2350k", "-maxrate", "2350k",
                        "-bufsize", "2350k", "-x264-params", "nal-hrd=cbr", "-g", str(int(GOP_S * FPS)),
                        "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", tmp],
                       check=True)
        os.replace(tmp, path)
    return path


def media_durations(path):
    """(container duration: ffmpeg's loop offset, video duration) in seconds."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,duration",
                          "-of", "default=nw=1", path], capture_output=True, text=True, check=True).stdout
    fmt, video, kind = None, None, None
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key == "codec_type":
            kind = value
        elif key == "duration" and value not in ("N/A", ""):
            if kind == "video" and video is None:
                video = float(value)
            fmt = float(value)  # the format's duration comes last
    return fmt, video or fmt


class Publisher:
    """`ffmpeg -re [-stream_loop L] -i FILE -c copy -f flv URL`; `started` is the wall time of the spawn."""

    def __init__(self, url, media, log, loops=-1):
        self.url = url
        self.started = time.monotonic()
        self.proc = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", str(loops),
                                      "-i", media, "-c", "copy", "-f", "flv", url],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def error(self):
        code = self.proc.poll()
        return None if code in (None, 0) else f"ffmpeg exited with {code}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Server:
    """A server process group started by this script; `tree()` is its process tree (by PID)."""

    def __init__(self, kind, argv, workdir, rtmp_port):
        self.kind, self.rtmp_port, self.workdir = kind, rtmp_port, workdir
        self.log = open(os.path.join(workdir, f"{kind}.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=workdir)

    def wait_ready(self, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before listening "
                                   f"(log: {self.log.name})")
            if ib.listening(self.rtmp_port):
                time.sleep(0.3)
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} is not listening on {self.rtmp_port} after {timeout} s")

    def cpu(self):
        return ib.cpu_seconds(self.proc.pid)

    def rss_mib(self):
        return ib.rss_mib(self.proc.pid)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def start_ours(workdir, ladder, max_streams=16, idle_timeout=10, extra=()):
    """build/examples/live-server on loopback ports; returns (server, rtmp_url_prefix, playlist_dir(name))."""
    binary = os.path.join(os.environ.get("LIVE_BUILD_ROOT", "build"), "examples", "live-server")
    if not os.path.exists(binary):
        sys.exit(f"FAIL: {binary} not found (set LIVE_BUILD_ROOT to the build dir)")
    rtmp, http = ib.free_port(), ib.free_port()
    out = os.path.join(workdir, "ours-out")
    conf = os.path.join(workdir, "live-server.conf")
    with open(conf, "w") as f:
        # Every publisher comes from 127.0.0.1: no per-address limit (a config-file key only).
        f.write("[server]\nmax-connections-per-address=0\n")
    argv = [binary, "--config", conf, "--address", "127.0.0.1", "--rtmp-port", str(rtmp), "--http-port", str(http),
            "--output-dir", out, "--ladder", ladder, "--max-streams", str(max_streams),
            "--idle-timeout", str(idle_timeout), "--status-interval", "0", *extra]
    server = Server("ours", argv, workdir, rtmp)
    server.http_port = http
    server.argv = argv
    if "--hls-in-memory" in extra:  # nothing on disk: the playlists are read over HTTP
        return server, f"rtmp://127.0.0.1:{rtmp}/live", lambda name: f"http://127.0.0.1:{http}/live/{name}"
    return server, f"rtmp://127.0.0.1:{rtmp}/live", lambda name: os.path.join(out, "live", name)


_http_connections = {}


def read_text(location):
    """A playlist's text from a file or an http:// URL; None when it is not there (yet). URLs are
    read over one kept-alive connection per server (a new connection per poll would cost the
    server more than the playlist does)."""
    if not location.startswith("http://"):
        try:
            with open(location) as f:
                return f.read()
        except OSError:
            return None
    url = urllib.parse.urlsplit(location)
    for _ in range(2):  # once more on a fresh connection if the kept one was closed
        conn = _http_connections.get(url.netloc)
        if conn is None:
            conn = _http_connections[url.netloc] = http.client.HTTPConnection(url.netloc, timeout=2)
        try:
            conn.request("GET", url.path)
            r = conn.getresponse()
            body = r.read()
            return body.decode() if r.status == 200 else None
        except (OSError, http.client.HTTPException):
            conn.close()
            del _http_connections[url.netloc]
    return None


def start_printed_pipeline(workdir, ladder, part_ms):
    """live-server's own stream pipeline (`--print-pipeline`, keys 'bench') run by gst-launch-1.0, with
    hlsadaptivesink part-duration set: to try a part duration without changing live-server."""
    binary = os.path.join(os.environ.get("LIVE_BUILD_ROOT", "build"), "examples", "live-server")
    rtmp, http = ib.free_port(), ib.free_port()
    out = os.path.join(workdir, "ours-out")
    desc = subprocess.run([binary, "--print-pipeline", "--rtmp-port", str(rtmp), "--http-port", str(http),
                           "--output-dir", out, "--ladder", ladder], capture_output=True, text=True,
                          check=True).stdout.strip()
    desc = (desc.replace("KEY", "bench").replace("NAME", "bench")
            .replace("rtmpserversrc ", "rtmpserversrc address=127.0.0.1 ")
            .replace("flvrelaysink ", "flvrelaysink address=127.0.0.1 ")
            .replace("hlsadaptivesink name=hls ", f"hlsadaptivesink name=hls part-duration={part_ms * 1000000} "))
    os.makedirs(os.path.join(out, "live", "bench"))
    server = Server("gst-launch", ["gst-launch-1.0", "-e", "-q"] + desc.split(), workdir, rtmp)
    server.http_port = http
    server.argv = desc
    return server, f"rtmp://127.0.0.1:{rtmp}/live"


def _nginx_conf(workdir, port, application_block):
    return f"""load_module {NGINX_RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
{application_block}
  }}
}}
"""


def nginx_ladder_exec(port):
    """The `exec` line of the nginx-rtmp ladder: one ffmpeg, source copied + the two rungs encoded."""
    outs = [f"-map 0 -c copy -f flv rtmp://127.0.0.1:{port}/hls/${{name}}_src"]
    for w, h, kbps in LADDER:
        outs.append(f"-map 0 -c:a copy -c:v libx264 -preset superfast -tune zerolatency -profile:v main "
                    f"-vf scale={w}:{h} -b:v {kbps}k -maxrate {kbps}k -bufsize {kbps}k -force_key_frames source "
                    f"-f flv rtmp://127.0.0.1:{port}/hls/${{name}}_{h}p")
    return (f"/usr/bin/ffmpeg -nostdin -v error -i rtmp://127.0.0.1:{port}/src/$name " + " ".join(outs))


def start_nginx(workdir, mode):
    """Debian's nginx + nginx-rtmp, own prefix and config in workdir. mode 'ladder': application src
    (the publisher) execs the ffmpeg ladder into application hls (`hls_variant` x3); mode 'passthrough':
    application live with `live on; hls on`. Returns (server, rtmp_url_prefix, playlist_path(name, variant))."""
    require("nginx", NGINX_RTMP_MODULE, "ffmpeg")
    port = ib.free_port()
    hls = os.path.join(workdir, "nginx-hls")
    os.makedirs(hls, exist_ok=True)
    for d in (workdir, hls):
        os.chmod(d, 0o777)  # the worker (and the ffmpeg it execs) runs as nobody
    hls_common = f"hls on; hls_path {hls}; hls_fragment 2s; hls_playlist_length 12s;"
    if mode == "ladder":
        variants = " ".join(f"hls_variant _{h}p BANDWIDTH={kbps * 1000 + 128000};" for _, h, kbps in LADDER)
        block = f"""    application src {{
      live on;
      exec {nginx_ladder_exec(port)};
    }}
    application hls {{
      live on; {hls_common} hls_nested on;
      hls_variant _src BANDWIDTH=2600000; {variants}
    }}"""
        prefix = f"rtmp://127.0.0.1:{port}/src"

        def playlist(name, variant):
            return os.path.join(hls, f"{name}_{variant}", "index.m3u8")
    else:
        block = f"    application live {{ live on; record off; {hls_common} }}"
        prefix = f"rtmp://127.0.0.1:{port}/live"

        def playlist(name, variant=None):
            return os.path.join(hls, f"{name}.m3u8")
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(_nginx_conf(workdir, port, block))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    argv = [nginx, "-p", workdir + "/", "-e", f"{workdir}/nginx-error.log", "-c", conf]
    server = Server("nginx", argv, workdir, port)
    server.argv = argv
    server.conf = open(conf).read()
    return server, prefix, playlist


class PlaylistClock:
    """Media time one media playlist lists (complete segments from the first one seen + the parts of
    the open segment) and the wall time it first listed each new end: `events` = [(wall, end_s)]."""

    def __init__(self, path):
        self.path = path
        self.durations = {}
        self.events = []
        self.end = 0.0
        self.ended = False

    def poll(self, now=None):
        text = read_text(self.path)
        if text is None:
            return
        now = time.monotonic() if now is None else now
        seq, extinf, parts = 0, None, 0.0
        for line in text.splitlines():
            if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
                seq = int(line.split(":", 1)[1])
            elif line.startswith("#EXTINF:"):
                extinf = float(line[8:].split(",")[0])
            elif line.startswith("#EXT-X-PART:"):
                for attr in line[12:].split(","):
                    if attr.startswith("DURATION="):
                        parts += float(attr[9:])
            elif line.startswith("#EXT-X-ENDLIST"):
                self.ended = True
            elif line and not line.startswith("#") and extinf is not None:
                self.durations[seq] = extinf
                seq, extinf, parts = seq + 1, None, 0.0
        end = sum(self.durations.values()) + parts
        if end > self.end + 1e-6:
            self.end = end
            self.events.append((now, end))

    def missed_segments(self):
        if not self.durations:
            return 0
        return sum(1 for s in range(min(self.durations), max(self.durations)) if s not in self.durations)

    def rate(self, t_from, t_to):
        """Media seconds listed per wall second between the first and last new end in [t_from, t_to]."""
        ev = [e for e in self.events if t_from <= e[0] <= t_to]
        if len(ev) < 2 or ev[-1][0] <= ev[0][0]:
            return None
        return (ev[-1][1] - ev[0][1]) / (ev[-1][0] - ev[0][0])

    def end_at(self, t):
        ends = [e for w, e in self.events if w <= t]
        return ends[-1] if ends else 0.0
