"""Shared helpers for the interop tests: tools, free ports, processes with hard timeouts,
waiting for a listening socket, media made at test time, packet comparison.

Python 3 standard library only. Every process a test starts is killed when the test ends,
whatever way it ends (pass, failure, exception, watchdog). A missing tool fails the test.
"""

import atexit
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback


class TestFailure(Exception):
    """An assertion about what the user would see did not hold."""


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def require_tool(name):
    """Path of a tool the test needs. A missing tool is a failure, never a skip."""
    path = shutil.which(name)
    if path is None:
        raise TestFailure(f"required tool '{name}' is not installed (scripts/install-deps.sh installs it)")
    return path


def require_gst_element(name):
    inspect = require_tool("gst-inspect-1.0")
    r = subprocess.run([inspect, "--exists", name], env=gst_env(), capture_output=True, timeout=60)
    if r.returncode != 0:
        raise TestFailure(f"required GStreamer element '{name}' is not available")


def gst_env():
    """Environment for GStreamer tools: the plugin under test from GST_PLUGIN_PATH (meson's test_env)."""
    env = dict(os.environ)
    if not env.get("GST_PLUGIN_PATH"):
        raise TestFailure("GST_PLUGIN_PATH is not set: run this test through meson test")
    return env


def test_data_dir():
    d = os.environ.get("LIVE_TEST_DATA")
    if not d:
        raise TestFailure("LIVE_TEST_DATA is not set: run this test through meson test")
    return d


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_ports():
    """Local TCP ports in LISTEN state, read from /proc without connecting (a probe connection
    would look like a client to the server under test)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


class Process:
    def __init__(self, name, argv, popen, log_path):
        self.name = name
        self.argv = argv
        self.popen = popen
        self.log_path = log_path
        self.started = time.monotonic()

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def wait(self, timeout):
        """Exit code, or None if still running after timeout seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        if self.alive():
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.signal(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class Harness:
    """One test: a work directory, the processes it started, and a watchdog that kills
    everything and fails the test when the hard deadline passes."""

    def __init__(self, name, deadline_s):
        self.name = name
        root = os.environ.get("LIVE_BUILD_ROOT")
        base = os.path.join(root, "tests", "interop-work") if root else None
        if base:
            os.makedirs(base, exist_ok=True)
        self.workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=base)
        self.processes = []
        self._lock = threading.Lock()
        self.deadline_s = deadline_s
        self._watchdog = threading.Timer(deadline_s, self._deadline_passed)
        self._watchdog.daemon = True
        self._watchdog.start()
        atexit.register(self.kill_all)
        self.log(f"work directory {self.workdir}")

    def log(self, message):
        print(f"[{self.name} {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def path(self, name):
        return os.path.join(self.workdir, name)

    def _deadline_passed(self):
        print(f"FAIL {self.name}: hard deadline of {self.deadline_s} s passed; killing every process",
              flush=True)
        self.dump_logs()
        self.kill_all()
        os._exit(1)

    def spawn(self, name, argv, env=None):
        log_path = self.path(f"{name}.log")
        logf = open(log_path, "wb")
        self.log(f"start {name}: {' '.join(shlex.quote(a) for a in argv)}")
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                 env=env, start_new_session=True)
        logf.close()
        proc = Process(name, argv, popen, log_path)
        with self._lock:
            self.processes.append(proc)
        return proc

    def gst_launch(self, name, pipeline, messages=True):
        """gst-launch-1.0 -e [-m] PIPELINE with the plugin under test."""
        tool = require_tool("gst-launch-1.0")
        argv = [tool, "-e"] + (["-m"] if messages else []) + shlex.split(pipeline)
        return self.spawn(name, argv, env=gst_env())

    def run(self, name, argv, timeout, env=None):
        """Runs a short command to completion (killed at timeout); returns (rc, output)."""
        proc = self.spawn(name, argv, env=env)
        rc = proc.wait(timeout)
        if rc is None:
            proc.kill()
            raise TestFailure(f"{name} did not finish within {timeout} s:\n{tail(proc.log())}")
        return rc, proc.log()

    def kill_all(self):
        with self._lock:
            procs = list(self.processes)
        for p in procs:
            p.kill()

    def dump_logs(self, lines=40):
        with self._lock:
            procs = list(self.processes)
        for p in procs:
            rc = p.returncode()
            print(f"----- {p.name} (pid {p.pid}, exit {rc if rc is not None else 'running'}) last {lines} lines -----")
            print(tail(p.log(), lines))
        sys.stdout.flush()

    def wait_listening(self, port, server, timeout=15):
        """Waits until something listens on port; fails at once if the server process exits."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if port in listening_ports():
                return
            if not server.alive():
                raise TestFailure(f"{server.name} exited (code {server.returncode()}) before listening "
                                  f"on port {port}:\n{tail(server.log())}")
            time.sleep(0.05)
        raise TestFailure(f"nothing listens on port {port} after {timeout} s:\n{tail(server.log())}")

    def wait_exit(self, proc, timeout, what):
        rc = proc.wait(timeout)
        if rc is None:
            raise TestFailure(f"{proc.name} still running {timeout} s after {what}:\n{tail(proc.log())}")
        return rc

    def stop_pipeline(self, gst, timeout, reason):
        """Waits for a gst-launch pipeline that should end by itself (idle-timeout EOS). If it does
        not, sends SIGINT (gst-launch -e turns it into EOS so the file is finalized for diagnosis)
        and fails the test."""
        rc = gst.wait(timeout)
        if rc is None:
            gst.signal(signal.SIGINT)
            gst.wait(10)
            raise TestFailure(f"{gst.name} did not end by itself within {timeout} s after {reason} "
                              f"(expected EOS from idle-timeout):\n{tail(gst.log())}")
        if rc != 0:
            raise TestFailure(f"{gst.name} exited with code {rc}:\n{tail(gst.log())}")
        return rc


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def main(name, body, deadline_s):
    """Runs body(harness); exit status 0 only if it returned without a failure."""
    h = Harness(name, deadline_s)
    try:
        body(h)
    except TestFailure as e:
        print(f"FAIL {name}: {e}", flush=True)
        h.dump_logs()
        h.kill_all()
        sys.exit(1)
    except Exception:
        print(f"FAIL {name}: unexpected exception", flush=True)
        traceback.print_exc()
        h.dump_logs()
        h.kill_all()
        sys.exit(1)
    h.kill_all()
    print(f"PASS {name}", flush=True)
    if os.environ.get("LIVE_KEEP_WORK"):
        print(f"work directory kept: {h.workdir}")
    else:
        shutil.rmtree(h.workdir, ignore_errors=True)
    sys.exit(0)


# ----------------------------------------------------------------------------------------------
# Media

def media_cache_dir():
    root = os.environ.get("LIVE_BUILD_ROOT")
    d = os.path.join(root, "tests", "interop-media") if root else tempfile.mkdtemp(prefix="interop-media-")
    os.makedirs(d, exist_ok=True)
    return d


def make_test_flv(name, width=320, height=240, fps=25, seconds=5, pattern="testsrc2", tone=440,
                  bframes=2, gop=25):
    """An FLV file made by ffmpeg: libx264 with B-frames + AAC-LC, cached in the build dir."""
    ffmpeg = require_tool("ffmpeg")
    path = os.path.join(media_cache_dir(), f"{name}-{pattern}-{width}x{height}-{fps}-{seconds}-{tone}-b{bframes}-g{gop}.flv")
    if os.path.exists(path):
        return path
    tmp = path + f".tmp{os.getpid()}.flv"
    argv = [ffmpeg, "-v", "error", "-y",
            "-f", "lavfi", "-i", f"{pattern}=size={width}x{height}:rate={fps}",
            "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=44100",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-bf", str(bframes),
            "-g", str(gop), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "flv", tmp]
    r = subprocess.run(argv, capture_output=True, timeout=120)
    if r.returncode != 0:
        raise TestFailure(f"ffmpeg could not make test media: {r.stderr.decode(errors='replace')}")
    os.replace(tmp, path)
    return path


class Packet:
    __slots__ = ("kind", "pts", "dts", "size", "hash", "key")

    def __init__(self, kind, pts, dts, size, hash_, key):
        self.kind, self.pts, self.dts, self.size, self.hash, self.key = kind, pts, dts, size, hash_, key

    def __repr__(self):
        return f"{self.kind}(dts={self.dts} pts={self.pts} size={self.size} key={self.key} {self.hash[-8:]})"


class MediaFile:
    """Packets of a media file per stream kind as ffprobe reads them, in file order, with
    timestamps in milliseconds, plus each stream's codec and codec configuration hash."""

    def __init__(self, path):
        ffprobe = require_tool("ffprobe")
        if not os.path.exists(path):
            raise TestFailure(f"output file {path} was not written")
        if os.path.getsize(path) == 0:
            raise TestFailure(f"output file {path} is empty")
        r = subprocess.run([ffprobe, "-v", "error", "-show_streams", "-show_packets", "-show_data_hash", "MD5",
                            "-of", "json", path], capture_output=True, timeout=120)
        if r.returncode != 0:
            raise TestFailure(f"ffprobe cannot read {path}: {r.stderr.decode(errors='replace')}")
        info = json.loads(r.stdout)
        self.path = path
        self.streams = {}
        index_kind = {}
        for s in info.get("streams", []):
            kind = s.get("codec_type")
            index_kind[s["index"]] = kind
            self.streams[kind] = s
        self.packets = {"video": [], "audio": []}
        for p in info.get("packets", []):
            kind = index_kind.get(p["stream_index"], p.get("codec_type"))
            tb = self.streams[kind]["time_base"]
            num, den = (int(x) for x in tb.split("/"))

            def ms(v):
                return None if v in (None, "N/A") else int(v) * 1000 * num // den
            self.packets.setdefault(kind, []).append(
                Packet(kind, ms(p.get("pts")), ms(p.get("dts")), int(p["size"]), p.get("data_hash", ""),
                       "K" in p.get("flags", "")))

    def codec(self, kind):
        return self.streams.get(kind, {}).get("codec_name")

    def extradata_hash(self, kind):
        return self.streams.get(kind, {}).get("extradata_hash")

    def summary(self):
        parts = []
        for kind in ("video", "audio"):
            pk = self.packets.get(kind, [])
            if pk:
                parts.append(f"{kind}: {len(pk)} packets, {self.codec(kind)}, dts {pk[0].dts}..{pk[-1].dts} ms")
            else:
                parts.append(f"{kind}: none")
        s = self.streams.get("video")
        if s:
            parts.append(f"{s.get('width')}x{s.get('height')}")
        return "; ".join(parts)


GST_CLOCK_TIME_NONE = (1 << 64) - 1
GDP_HEADER_LENGTH = 62
GDP_PAYLOAD_BUFFER = 1
GDP_PAYLOAD_CAPS = 2
GDP_PAYLOAD_EVENT_BASE = 64
GST_EVENT_EOS = 28174
GST_EVENT_SEGMENT = 17934
GST_EVENT_STREAM_START = 10254
GST_BUFFER_FLAG_DELTA_UNIT = 1 << 13


class GstPacket:
    __slots__ = ("kind", "pts", "dts", "size", "hash", "key")

    def __init__(self, kind, pts, dts, size, hash_, key):
        self.kind, self.pts, self.dts, self.size, self.hash, self.key = kind, pts, dts, size, hash_, key

    def __repr__(self):
        def t(v):
            return "none" if v is None else f"{v / 1e6:.3f}ms"
        return f"{self.kind}(dts={t(self.dts)} pts={t(self.pts)} size={self.size} key={self.key} {self.hash[-8:]})"


class GdpRecording:
    """What one pad of our pipeline produced, recorded by stock gdppay ! filesink: every buffer
    with its exact PTS/DTS (ns), flags and bytes, every caps and every event, in order. Muxers
    are no oracle here (flvmux 1.22 rewrites B-frame timestamps), GDP keeps buffers verbatim."""

    def __init__(self, path, kind):
        if not os.path.exists(path):
            raise TestFailure(f"output file {path} was not written (no {kind} pad linked?)")
        with open(path, "rb") as f:
            data = f.read()
        self.path, self.kind = path, kind
        self.packets, self.caps, self.events = [], [], []
        i = 0
        while i + GDP_HEADER_LENGTH <= len(data):
            h = data[i:i + GDP_HEADER_LENGTH]
            check(h[0] == 1 and h[1] == 0, f"{path}: not a GDP 1.0 stream at byte {i}")
            ptype, plen = struct.unpack(">HI", h[4:10])
            pts = struct.unpack(">Q", h[10:18])[0]
            flags = struct.unpack(">H", h[42:44])[0]
            dts = struct.unpack(">Q", h[44:52])[0]
            payload = data[i + GDP_HEADER_LENGTH:i + GDP_HEADER_LENGTH + plen]
            check(len(payload) == plen, f"{path}: truncated GDP record at byte {i}")
            i += GDP_HEADER_LENGTH + plen
            if ptype == GDP_PAYLOAD_BUFFER:
                self.packets.append(GstPacket(kind, None if pts == GST_CLOCK_TIME_NONE else pts,
                                              None if dts == GST_CLOCK_TIME_NONE else dts, plen,
                                              "MD5:" + hashlib.md5(payload).hexdigest(),
                                              not flags & GST_BUFFER_FLAG_DELTA_UNIT))
            elif ptype == GDP_PAYLOAD_CAPS:
                self.caps.append(payload.rstrip(b"\0").decode(errors="replace"))
            elif ptype >= GDP_PAYLOAD_EVENT_BASE:
                self.events.append((ptype - GDP_PAYLOAD_EVENT_BASE, len(self.packets)))
        check(i == len(data), f"{path}: {len(data) - i} trailing bytes after the last GDP record")

    def codec_data_hash(self):
        if not self.caps:
            return None
        m = re.search(r"codec_data=\(buffer\)([0-9a-fA-F]+)", self.caps[-1])
        return "MD5:" + hashlib.md5(bytes.fromhex(m.group(1))).hexdigest() if m else None

    def event_positions(self, event_type):
        """Packet indices before which an event of that type was recorded."""
        return [pos for (t, pos) in self.events if t == event_type]

    def summary(self):
        p = self.packets
        if not p:
            return f"{self.kind}: no packets"
        return (f"{self.kind}: {len(p)} packets, dts {p[0]!r} .. {p[-1]!r}, caps {self.caps[-1][:60] if self.caps else None}")


def check_caps(rec):
    check(rec.caps, f"{rec.kind} pad carried no caps")
    caps = rec.caps[-1]
    if rec.kind == "video":
        check(caps.startswith("video/x-h264") and "stream-format=(string)avc" in caps and "alignment=(string)au" in caps,
              f"video caps are not H.264 avc/au: {caps}")
    else:
        check(caps.startswith("audio/mpeg") and "mpegversion=(int)4" in caps and "stream-format=(string)raw" in caps,
              f"audio caps are not raw AAC: {caps}")
    check("codec_data=(buffer)" in caps, f"{rec.kind} caps have no codec_data: {caps}")


def compare_streams(expected, actual, kinds=("video", "audio"), exact_count=True, offset_ns=None):
    """Asserts our pipeline's pads (actual: kind -> GdpRecording) carry expected's packets
    (a MediaFile, ms timestamps) bit-identically with the same PTS and DTS, up to one constant
    offset shared by all streams (a live ingest may rebase time, but must keep every interval
    and A/V sync). Returns the offset in ns."""
    for kind in kinds:
        exp, rec = expected.packets.get(kind, []), actual[kind]
        act = rec.packets
        check(len(exp) > 0, f"expected file has no {kind} packets")
        check(len(act) > 0, f"output has no {kind} packets (expected {len(exp)})")
        check_caps(rec)
        check(rec.codec_data_hash() == expected.extradata_hash(kind),
              f"{kind} codec_data differs from the input's: {rec.caps[-1]}")
        if offset_ns is None:
            check(act[0].dts is not None, f"first {kind} buffer has no DTS: {act[0]}")
            offset_ns = act[0].dts - exp[0].dts * 1_000_000
        for i, (e, a) in enumerate(zip(exp, act)):
            check(a.size == e.size and a.hash == e.hash,
                  f"{kind} packet {i} bytes differ: got {a}, expected {e}")
            check(a.dts is not None and a.dts - offset_ns == e.dts * 1_000_000,
                  f"{kind} packet {i} DTS wrong: got {a}, expected {e} (offset {offset_ns / 1e6} ms)")
            check(a.pts is not None and a.pts - offset_ns == e.pts * 1_000_000,
                  f"{kind} packet {i} PTS wrong: got {a}, expected {e} (offset {offset_ns / 1e6} ms)")
            check(a.key == e.key, f"{kind} packet {i} keyframe flag {a.key}, expected {e.key}: {a}")
        if exact_count:
            check(len(act) == len(exp), f"{kind}: {len(act)} packets in output, expected exactly {len(exp)}")
    return offset_ns


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Our ingest pipeline

IDLE_TIMEOUT_S = 3


def ingest_branch(port, key, out_prefix, name="in", extra="", idle_timeout=IDLE_TIMEOUT_S, application="live",
                  audio=True, sink_async=True):
    """gst-launch description of one mount: rtmpserversrc ! rtmpchunkdemux, each elementary stream
    recorded verbatim by gdppay into out_prefix-video.gdp / out_prefix-audio.gdp. sink_async=False
    for several independent mounts in one pipeline: async sinks would wait for every mount's
    preroll, i.e. for every mount to have a publisher (stock GStreamer behaviour)."""
    q = "queue max-size-time=0 max-size-buffers=0 max-size-bytes=0"
    # Unbuffered: a test that looks at the files while the stream runs sees what came out so far.
    sink = "filesink buffer-mode=unbuffered" + ("" if sink_async else " async=false")
    desc = (f"rtmpserversrc name={name}src address=127.0.0.1 port={port} application={application} "
            f"stream-key={key} idle-timeout={idle_timeout} {extra} "
            f"! rtmpchunkdemux name={name}d "
            f"{name}d.video_0 ! {q} ! gdppay ! {sink} location={shlex.quote(out_prefix + '-video.gdp')} ")
    if audio:
        desc += f"{name}d.audio_0 ! {q} ! gdppay ! {sink} location={shlex.quote(out_prefix + '-audio.gdp')} "
    return desc


def read_ingest(out_prefix, audio=True):
    out = {"video": GdpRecording(out_prefix + "-video.gdp", "video")}
    if audio:
        out["audio"] = GdpRecording(out_prefix + "-audio.gdp", "audio")
    return out


def bus_messages(log, name):
    """Element messages named `name` that gst-launch -m printed."""
    return [line for line in log.splitlines() if name in line and "Got message" in line]


def ffmpeg_publish(h, name, src, url, realtime=True, extra=()):
    ffmpeg = require_tool("ffmpeg")
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info"]
    if realtime:
        argv += ["-re"]
    argv += ["-i", src, "-c", "copy", *extra, "-f", "flv", url]
    return h.spawn(name, argv)
