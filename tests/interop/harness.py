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
        raise TestFailure(f"required GStreamer element '{name}' is not available "
                          f"(gst-inspect-1.0 exit {r.returncode}):\n{tail(r.stdout.decode(errors='replace') + r.stderr.decode(errors='replace'))}")


def gst_env(hosts_our_code=True):
    """Environment for GStreamer tools: the plugin under test from GST_PLUGIN_PATH (meson's test_env).

    In a sanitizer build (tests/meson.build sets LIVE_SANITIZER_PRELOAD) the ASan runtime is
    preloaded: gst-launch-1.0 and gst-inspect-1.0 are not instrumented, and loading our ASan
    plugin into them fails otherwise (the registry scan loads it even where no element of ours is
    used). Leaks are looked for only in processes that run our code: a GStreamer tool that only
    hosts third-party elements (an rtmp2sink publisher) runs with detect_leaks=0."""
    env = dict(os.environ)
    if not env.get("GST_PLUGIN_PATH"):
        raise TestFailure("GST_PLUGIN_PATH is not set: run this test through meson test")
    preload = env.get("LIVE_SANITIZER_PRELOAD")
    if preload:
        env["LD_PRELOAD"] = " ".join(p for p in (preload, env.get("LD_PRELOAD")) if p)
        if not hosts_our_code:
            env["ASAN_OPTIONS"] = ":".join(o for o in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if o)
    return env


# Elements of ours: a gst-launch-1.0 pipeline naming one of them runs our code.
OUR_ELEMENTS = ("rtmpserversrc", "rtmpchunkdemux", "flvrelaysink", "hlsadaptivesink")

# First lines of AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer reports, and the
# error of an uninstrumented program that loaded the plugin without the preloaded runtime.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "SUMMARY: UndefinedBehaviorSanitizer",
                     ": runtime error: ", "ASan runtime does not come first")


def sanitizer_reports(text):
    """Lines of text that start a sanitizer report (empty if none)."""
    return [line for line in text.splitlines() if any(m in line for m in SANITIZER_MARKERS)]


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
        self.dump_stacks()
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
        ours = any(e in pipeline for e in OUR_ELEMENTS)
        return self.spawn(name, argv, env=gst_env(hosts_our_code=ours))

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

    def dump_stacks(self):
        """Where the threads of our running server processes are (a hang past the deadline):
        the full gdb backtraces go to stacks-NAME.txt in the work directory, and one line per
        distinct stack (thread name, innermost functions first, how many threads) to stdout,
        short enough for the end of a CI log. Diagnosis only: without gdb it says so."""
        gdb = shutil.which("gdb")
        with self._lock:
            procs = [p for p in self.processes if p.alive() and
                     (os.path.basename(p.argv[0]) == "live-server" or
                      any(e in " ".join(p.argv) for e in OUR_ELEMENTS))]
        for p in procs:
            if not gdb:
                print(f"----- {p.name}: no thread stacks (gdb is not installed) -----")
                continue
            try:
                out = subprocess.run([gdb, "-p", str(p.pid), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                                     capture_output=True, text=True, errors="replace", timeout=60).stdout
            except (subprocess.TimeoutExpired, OSError) as e:
                print(f"----- {p.name}: no thread stacks ({e}) -----")
                continue
            path = self.path(f"stacks-{p.name}.txt")
            with open(path, "w") as f:
                f.write(out)
            summary = {}
            thread, frames = None, []

            def flush():
                if thread is not None:
                    key = f"{thread}: {' < '.join(frames[:8])}"
                    summary[key] = summary.get(key, 0) + 1
            for line in out.splitlines():
                m = re.match(r'^Thread \d+ .*?"([^"]*)"\)?:', line)
                if m:
                    flush()
                    thread, frames = m.group(1), []
                    continue
                m = re.match(r"^#\d+\s+(?:0x[0-9a-f]+ in )?([^\s(]+)", line)
                if m and thread is not None:
                    frames.append(m.group(1))
            flush()
            print(f"----- {p.name} (pid {p.pid}) thread stacks, full in {path} -----")
            for key, count in sorted(summary.items(), key=lambda kv: -kv[1]):
                print(f"{count:3d} x {key}"[:400])
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
    # A sanitizer report in any process fails the test, even where the test did not look at
    # that process's exit code (the report is in its log; the process stopped at it).
    with h._lock:
        procs = list(h.processes)
    reported = [(p, sanitizer_reports(p.log())) for p in procs]
    reported = [(p, lines) for p, lines in reported if lines]
    if reported:
        for p, lines in reported:
            print(f"FAIL {name}: sanitizer report in {p.name} (pid {p.pid}, log {p.log_path}): {lines[0]}",
                  flush=True)
        h.dump_logs(lines=200)
        sys.exit(1)
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
                  bframes=2, gop=25, video_kbps=None):
    """An FLV file made by ffmpeg: libx264 with B-frames + AAC-LC, cached in the build dir.
    video_kbps: a constant video bitrate (CBR with filler) instead of x264's default quality."""
    ffmpeg = require_tool("ffmpeg")
    rate = f"-{video_kbps}k" if video_kbps else ""
    path = os.path.join(media_cache_dir(), f"{name}-{pattern}-{width}x{height}-{fps}-{seconds}-{tone}-b{bframes}-g{gop}{rate}.flv")
    if os.path.exists(path):
        return path
    tmp = path + f".tmp{os.getpid()}.flv"
    argv = [ffmpeg, "-v", "error", "-y",
            "-f", "lavfi", "-i", f"{pattern}=size={width}x{height}:rate={fps}",
            "-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate=44100",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-bf", str(bframes),
            "-g", str(gop), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", "flv", tmp]
    if video_kbps:
        argv[-3:-3] = ["-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k", "-bufsize", f"{video_kbps}k",
                       "-x264-params", "nal-hrd=cbr"]
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


# ----------------------------------------------------------------------------------------------
# Relay (flvrelaysink): what players receive

NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def check_relayed_run(expected, actual, what, from_start=False, to_end=True, max_av_start_gap_ms=500):
    """Asserts a player's recording (MediaFile) is one contiguous run of the source's packets
    (MediaFile expected): per stream the same bytes in the same order, the same PTS/DTS up to one
    offset shared by audio and video, video starting at a keyframe. from_start: the run starts at
    the source's first packets; to_end: it goes on to the source's last packets. Returns
    (index of the first video packet in the source, offset in ms)."""
    for kind in ("video", "audio"):
        check(actual.codec(kind) == expected.codec(kind),
              f"{what}: {kind} codec {actual.codec(kind)}, source {expected.codec(kind)}")
        check(actual.extradata_hash(kind) == expected.extradata_hash(kind),
              f"{what}: {kind} codec configuration differs from the source's")
    exp_v, act_v = expected.packets["video"], actual.packets.get("video", [])
    check(act_v, f"{what}: no video packets ({actual.summary()})")
    candidates = [i for i, e in enumerate(exp_v) if e.hash == act_v[0].hash and e.size == act_v[0].size]
    check(candidates, f"{what}: the first video packet {act_v[0]} is none of the source's")
    start = candidates[0]
    for i in candidates:  # identical frames are possible: take the one the whole run follows
        if all(e.hash == a.hash for e, a in zip(exp_v[i:], act_v)):
            start = i
            break
    check(exp_v[start].key and act_v[0].key,
          f"{what}: the first video packet is not a keyframe: {act_v[0]} (source packet {start}: {exp_v[start]})")
    offset = act_v[0].dts - exp_v[start].dts
    check(len(act_v) <= len(exp_v) - start,
          f"{what}: {len(act_v)} video packets from source packet {start}, the source has only {len(exp_v) - start}")
    runs = {"video": (exp_v, act_v, start)}
    exp_a, act_a = expected.packets["audio"], actual.packets.get("audio", [])
    check(act_a, f"{what}: no audio packets ({actual.summary()})")
    a_start = next((k for k, e in enumerate(exp_a) if e.dts == act_a[0].dts - offset), None)
    check(a_start is not None, f"{what}: the first audio packet {act_a[0]} is at no source audio DTS "
                               f"(video offset {offset} ms): audio and video out of sync or audio not the source's")
    check(len(act_a) <= len(exp_a) - a_start,
          f"{what}: {len(act_a)} audio packets from source packet {a_start}, the source has only {len(exp_a) - a_start}")
    runs["audio"] = (exp_a, act_a, a_start)
    for kind, (exp, act, first) in runs.items():
        for j, a in enumerate(act):
            e = exp[first + j]
            check(a.size == e.size and a.hash == e.hash,
                  f"{what}: {kind} packet {j} bytes differ from source packet {first + j}: got {a}, expected {e}")
            check(a.dts is not None and a.dts - offset == e.dts and a.pts is not None and a.pts - offset == e.pts,
                  f"{what}: {kind} packet {j} timestamps {a} are not source packet {first + j}'s {e} + {offset} ms")
            check(a.key == e.key, f"{what}: {kind} packet {j} keyframe flag {a.key}, source {e.key}")
        if from_start:
            check(first == 0, f"{what}: {kind} starts at source packet {first}, expected the first one")
        if to_end:
            check(first + len(act) == len(exp),
                  f"{what}: {kind} ends at source packet {first + len(act) - 1} of {len(exp)}: "
                  f"{len(exp) - first - len(act)} missing at the end")
    if not from_start:
        gap = abs(act_a[0].dts - act_v[0].dts)
        check(gap <= max_av_start_gap_ms, f"{what}: audio starts {gap} ms away from the first video keyframe")
    return start, offset


def rss_kib(pid):
    """Resident set size of a process in KiB (VmRSS), None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate until it returns something true; returns it, or fails after timeout s."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise TestFailure(f"{what}: not within {timeout} s")
        time.sleep(interval)


def wait_bus_messages(proc, name, count, timeout):
    """Waits until gst-launch -m printed at least `count` element messages `name`; returns them."""
    def enough():
        found = bus_messages(proc.log(), name)
        if len(found) >= count:
            return found
        check(proc.alive(), f"{proc.name} exited (code {proc.returncode()}) while waiting for {name}:\n{tail(proc.log())}")
        return None
    return wait_for(enough, timeout, f"{proc.name}: {count} {name} message(s)")


def http_get_raw(port, path, method="GET", body_bytes=0, timeout=5.0):
    """One HTTP/1.1 request over a plain socket. Returns (status, headers with lower-case names,
    the first body_bytes raw body bytes (chunk framing included), seconds to the first body byte
    or None). Raw, so Transfer-Encoding and chunk framing are what the server sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: interop\r\n\r\n".encode())
        started = time.monotonic()
        data, first_body_at = b"", None
        while b"\r\n\r\n" not in data:
            block = s.recv(65536)
            if not block:
                break
            data += block
        check(b"\r\n\r\n" in data, f"{method} {path}: no complete response head: {data[:200]!r}")
        head, body = data.split(b"\r\n\r\n", 1)
        if body:
            first_body_at = time.monotonic() - started
        while len(body) < body_bytes:
            try:
                block = s.recv(65536)
            except socket.timeout:
                break
            if not block:
                break
            if first_body_at is None:
                first_body_at = time.monotonic() - started
            body += block
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body[:body_bytes] if body_bytes else body, first_body_at


def start_nginx_rtmp(h, port, name="nginx"):
    """Debian's nginx with the RTMP module as a push target or origin on 127.0.0.1:port: own
    configuration, pid file, logs and temp paths in the work directory, one worker, `live on`.
    Its own process group, so Process.kill() ends master and worker."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    check(nginx is not None, "required tool 'nginx' is not installed (scripts/install-deps.sh installs it)")
    check(os.path.exists(NGINX_RTMP_MODULE),
          f"{NGINX_RTMP_MODULE} is missing: install libnginx-mod-rtmp (scripts/install-deps.sh)")
    root = h.path(name)
    os.makedirs(os.path.join(root, "temp"), exist_ok=True)
    conf = os.path.join(root, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""load_module {NGINX_RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
    application live {{ live on; record off; }}
  }}
}}
""")
    proc = h.spawn(name, [nginx, "-p", root + "/", "-e", f"{root}/error.log", "-c", conf])
    h.wait_listening(port, proc)
    return proc


# --- FLV tags and a minimal RTMP player, to see exactly which messages a viewer gets and when

def read_flv_tags(path):
    """[(type, timestamp ms, payload)] of every tag of an FLV file."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:3] == b"FLV", f"{path} is not an FLV file")
    pos = struct.unpack(">I", data[5:9])[0] + 4
    tags = []
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        payload = data[pos + 11:pos + 11 + size]
        if len(payload) < size:
            break
        tags.append((data[pos] & 0x1F, ts, payload))
        pos += 11 + size + 4
    return tags


class FlvMessage:
    """One audio/video/data message (an FLV tag or an RTMP media message), classified:
    kind video/audio/data, key (a coded video keyframe), config (AVC/AAC sequence header)."""
    __slots__ = ("type", "ts", "size", "hash", "kind", "key", "config", "received_at")

    def __init__(self, mtype, ts, payload, received_at=None):
        self.type, self.ts, self.size, self.received_at = mtype, ts, len(payload), received_at
        self.hash = hashlib.md5(payload).hexdigest()
        self.kind = {8: "audio", 9: "video"}.get(mtype, "data")
        b0 = payload[0] if payload else 0
        b1 = payload[1] if len(payload) > 1 else 0
        if mtype == 9:
            self.config = (b0 & 0x0F) == 7 and b1 != 1  # AVC sequence header / end of sequence
            self.key = (b0 >> 4) == 1 and not self.config
        elif mtype == 8:
            self.config = (b0 >> 4) == 10 and b1 == 0  # AAC AudioSpecificConfig
            self.key = False
        else:
            self.config = self.key = False

    def __repr__(self):
        return f"{self.kind}(ts={self.ts} size={self.size} key={self.key} config={self.config} {self.hash[-8:]})"


def flv_file_messages(path):
    return [FlvMessage(t, ts, p) for (t, ts, p) in read_flv_tags(path)]


def check_message_run(source, got, what, from_start=False, to_end=True):
    """Like check_relayed_run, on FlvMessages (whole RTMP payloads): the frames (sequence headers
    and metadata aside) a viewer got are, per kind, one contiguous run of the source's with the
    same bytes and the same timestamps up to one shared offset; video starts at a keyframe, and a
    sequence header of each kind came before its first frame. Returns (video start, offset)."""
    offset, result = None, None
    for kind in ("video", "audio"):
        exp = [m for m in source if m.kind == kind and not m.config]
        act = [m for m in got if m.kind == kind and not m.config]
        check(act, f"{what}: no {kind} frames")
        first_frame = next(i for i, m in enumerate(got) if m.kind == kind and not m.config)
        check(any(m.kind == kind and m.config for m in got[:first_frame]),
              f"{what}: no {kind} sequence header before the first {kind} frame")
        if kind == "video":
            candidates = [i for i, e in enumerate(exp) if e.hash == act[0].hash]
            check(candidates, f"{what}: the first video frame {act[0]} is none of the source's")
            start = next((i for i in candidates if all(e.hash == a.hash for e, a in zip(exp[i:], act))),
                         candidates[0])
            check(act[0].key, f"{what}: the first video frame is not a keyframe: {act[0]}")
            offset = act[0].ts - exp[start].ts
            result = start
        else:
            start = next((k for k, e in enumerate(exp) if e.ts == act[0].ts - offset), None)
            check(start is not None, f"{what}: the first audio frame {act[0]} is at no source audio "
                                     f"timestamp (video offset {offset} ms)")
        check(len(act) <= len(exp) - start,
              f"{what}: {len(act)} {kind} frames from source frame {start}, the source has {len(exp) - start}")
        for j, a in enumerate(act):
            e = exp[start + j]
            check(a.hash == e.hash and a.size == e.size,
                  f"{what}: {kind} frame {j} differs from source frame {start + j}: got {a}, expected {e}")
            check(a.ts - offset == e.ts,
                  f"{what}: {kind} frame {j} at {a.ts} ms, source frame {start + j} at {e.ts} + {offset} ms")
        if from_start:
            check(start == 0, f"{what}: {kind} starts at source frame {start}, expected the first")
        if to_end:
            check(start + len(act) == len(exp),
                  f"{what}: {kind} stops at source frame {start + len(act) - 1} of {len(exp)}")
    return result, offset


def amf0(value):
    if isinstance(value, bool):
        return b"\x01" + bytes([value])
    if isinstance(value, (int, float)):
        return b"\x00" + struct.pack(">d", value)
    if isinstance(value, str):
        b = value.encode()
        return b"\x02" + struct.pack(">H", len(b)) + b
    if value is None:
        return b"\x05"
    if isinstance(value, dict):
        out = b"\x03"
        for k, v in value.items():
            kb = k.encode()
            out += struct.pack(">H", len(kb)) + kb + amf0(v)
        return out + b"\x00\x00\x09"
    raise TypeError(f"no AMF0 encoding for {value!r}")


def amf0_decode(data):
    """The AMF0 values of a command or data message (numbers, booleans, strings, objects and
    ECMA arrays as dicts, null/undefined as None)."""
    def one(p):
        t = data[p]
        p += 1
        if t == 0x00:
            return struct.unpack(">d", data[p:p + 8])[0], p + 8
        if t == 0x01:
            return data[p] != 0, p + 1
        if t in (0x02, 0x0C):
            n, w = (struct.unpack(">H", data[p:p + 2])[0], 2) if t == 0x02 else (struct.unpack(">I", data[p:p + 4])[0], 4)
            return data[p + w:p + w + n].decode(errors="replace"), p + w + n
        if t in (0x05, 0x06):
            return None, p
        if t in (0x03, 0x08):
            if t == 0x08:
                p += 4
            obj = {}
            while p + 3 <= len(data):
                n = struct.unpack(">H", data[p:p + 2])[0]
                if n == 0 and data[p + 2] == 0x09:
                    return obj, p + 3
                key = data[p + 2:p + 2 + n].decode(errors="replace")
                obj[key], p = one(p + 2 + n)
            return obj, p
        if t == 0x0A:
            n = struct.unpack(">I", data[p:p + 4])[0]
            p += 4
            items = []
            for _ in range(n):
                v, p = one(p)
                items.append(v)
            return items, p
        raise ValueError(f"AMF0 type {t:#x} not handled")
    values, p = [], 0
    while p < len(data):
        v, p = one(p)
        values.append(v)
    return values


def rtmp_chunks(csid, mtype, stream_id, ts, payload, chunk_size):
    """One message as fmt-0 chunk + fmt-3 continuations (csid < 64, ts < 2^24)."""
    out = bytearray([csid]) + (ts & 0xFFFFFF).to_bytes(3, "big") + len(payload).to_bytes(3, "big")
    out += bytes([mtype]) + struct.pack("<I", stream_id)
    for i in range(0, max(len(payload), 1), chunk_size):
        if i:
            out.append(0xC0 | csid)
        out += payload[i:i + chunk_size]
    return bytes(out)


class RtmpChunkReader:
    """Incoming RTMP chunk stream -> complete messages (type, timestamp, stream id, payload):
    all four header formats, timestamp deltas, extended timestamps, Set Chunk Size."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0
        self.chunk_size = 128
        self.streams = {}

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            step = self._chunk()
            if step is None:
                break
            if step is not True:
                if step[0] == 1 and len(step[3]) >= 4:
                    self.chunk_size = struct.unpack(">I", step[3][:4])[0] & 0x7FFFFFFF
                out.append(step)
        del self.buf[:self.pos]
        self.pos = 0
        return out

    def _chunk(self):
        """One chunk: a complete message, True (a chunk of an unfinished message), or None."""
        b, p = self.buf, self.pos
        if p >= len(b):
            return None
        fmt, csid = b[p] >> 6, b[p] & 0x3F
        p += 1
        if csid == 0:
            if len(b) < p + 1:
                return None
            csid, p = 64 + b[p], p + 1
        elif csid == 1:
            if len(b) < p + 2:
                return None
            csid, p = 64 + b[p] + 256 * b[p + 1], p + 2
        st = self.streams.get(csid)
        if st is None:
            st = self.streams[csid] = {"ts": 0, "delta": 0, "len": 0, "type": 0, "sid": 0, "parts": [],
                                       "got": 0, "ext": False}
        hlen = (11, 7, 3, 0)[fmt]
        if len(b) < p + hlen:
            return None
        h = bytes(b[p:p + hlen])
        p += hlen
        field = int.from_bytes(h[0:3], "big") if fmt <= 2 else None
        ext = st["ext"] if fmt == 3 else field == 0xFFFFFF
        if ext:
            if len(b) < p + 4:
                return None
            ext_value = struct.unpack(">I", b[p:p + 4])[0]
            p += 4
            if field is not None:
                field = ext_value
        starting = st["got"] == 0
        if fmt == 0:
            st["ts"], st["delta"] = field, field
        elif fmt <= 2:
            st["delta"] = field
            st["ts"] = (st["ts"] + field) & 0xFFFFFFFF
        elif starting:
            st["ts"] = (st["ts"] + st["delta"]) & 0xFFFFFFFF
        if fmt <= 1:
            st["len"], st["type"] = int.from_bytes(h[3:6], "big"), h[6]
        if fmt == 0:
            st["sid"] = struct.unpack("<I", h[7:11])[0]
        st["ext"] = ext
        take = min(self.chunk_size, st["len"] - st["got"])
        if len(b) < p + take:
            return None
        st["parts"].append(bytes(b[p:p + take]))
        st["got"] += take
        self.pos = p + take
        if st["got"] < st["len"]:
            return True
        payload = b"".join(st["parts"])
        st["parts"], st["got"] = [], 0
        return (st["type"], st["ts"], st["sid"], payload)


class RtmpPlayer:
    """A minimal RTMP player over one blocking socket (plain handshake, connect, createStream,
    play), answering what a server expects of a player (acknowledgements, ping). Keeps every
    audio/video/data message as an FlvMessage with its arrival time (time.monotonic())."""

    def __init__(self, port, app, key, host="127.0.0.1", timeout=10.0):
        self.port, self.app, self.key, self.host, self.timeout = port, app, key, host, timeout
        self.sock = None
        self.reader = RtmpChunkReader()
        self.messages = []          # FlvMessage, media and data only
        self.statuses = []          # onStatus codes in order
        self.media_before_status = {}  # onStatus code -> media/data messages received before it
        self.ended = False          # NetStream.Play.UnpublishNotify / Stop / StreamEOF
        self.closed = False
        self.play_sent_at = None
        self.stream_id = None
        self.window = 2_500_000
        self.received = 0
        self.acked = 0
        self._pending = []

    def _send(self, csid, mtype, payload, stream_id=0):
        self.sock.sendall(rtmp_chunks(csid, mtype, stream_id, 0, payload, 4096))

    def _command(self, csid, *values, stream_id=0):
        self._send(csid, 20, b"".join(amf0(v) for v in values), stream_id)

    def connect_and_play(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c1 = struct.pack(">II", 0, 0) + os.urandom(1528)
        self.sock.sendall(b"\x03" + c1)
        s = self._read_exactly(1 + 1536 + 1536)
        check(s[0] == 3, f"server handshake version {s[0]}, expected 3")
        self.sock.sendall(s[1:1537])
        self._send(2, 1, struct.pack(">I", 4096))
        self._command(3, "connect", 1, {"app": self.app, "flashVer": "LNX 9,0,124,2",
                                        "tcUrl": f"rtmp://{self.host}:{self.port}/{self.app}", "fpad": False,
                                        "capabilities": 15, "audioCodecs": 4071, "videoCodecs": 252,
                                        "videoFunction": 1})
        reply = self._wait_result(1)
        check(reply[0] == "_result", f"connect refused: {reply}")
        self._send(2, 5, struct.pack(">I", self.window))
        self._command(3, "createStream", 2, None)
        reply = self._wait_result(2)
        check(reply[0] == "_result" and isinstance(reply[3], float), f"createStream failed: {reply}")
        self.stream_id = int(reply[3])
        self._send(2, 4, struct.pack(">HII", 3, self.stream_id, 1000))  # SetBufferLength 1 s
        self._command(8, "play", 3, None, self.key, -2000, stream_id=self.stream_id)
        self.play_sent_at = time.monotonic()

    def _read_exactly(self, n):
        data = b""
        while len(data) < n:
            block = self.sock.recv(n - len(data))
            check(block, "the server closed the connection during the handshake")
            data += block
        return data

    def _wait_result(self, transaction):
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            for i, values in enumerate(self._pending):
                if len(values) >= 2 and values[0] in ("_result", "_error") and values[1] == transaction:
                    return self._pending.pop(i)
            check(self.poll(self.timeout), f"server closed the connection waiting for the reply to {transaction}")
        raise TestFailure(f"no reply to command {transaction} within {self.timeout} s")

    def poll(self, timeout):
        """Reads once (up to timeout s) and handles what arrived; False once the connection closed."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 18)
        except socket.timeout:
            return True
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:
            self.closed = True
            return False
        self.received += len(data)
        for mtype, ts, sid, payload in self.reader.feed(data):
            self._handle(mtype, ts, payload, now)
        if self.received - self.acked >= self.window // 2:
            self.acked = self.received
            self._send(2, 3, struct.pack(">I", self.received & 0xFFFFFFFF))
        return True

    def _handle(self, mtype, ts, payload, now):
        if mtype in (8, 9, 18):
            self.messages.append(FlvMessage(mtype, ts, payload, now))
        elif mtype == 20:
            values = amf0_decode(payload)
            if values and values[0] == "onStatus":
                info = next((v for v in values[1:] if isinstance(v, dict)), {})
                code = info.get("code", "")
                self.statuses.append(code)
                self.media_before_status.setdefault(code, len(self.messages))
                if code in ("NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "NetStream.Play.Failed",
                            "NetStream.Play.StreamNotFound"):
                    self.ended = True
            else:
                self._pending.append(values)
        elif mtype == 5 and len(payload) >= 4:
            self.window = max(struct.unpack(">I", payload[:4])[0], 4096)
        elif mtype == 4 and len(payload) >= 2:
            event = struct.unpack(">H", payload[:2])[0]
            if event == 1:
                self.ended = True  # StreamEOF
            elif event == 6:
                self._send(2, 4, struct.pack(">H", 7) + payload[2:6])  # ping -> pong

    def video_keyframe_after_play(self):
        """Seconds from the play command to the first coded video keyframe, and whether the first
        video message was a sequence header and the first coded video frame a keyframe."""
        video = [m for m in self.messages if m.kind == "video"]
        frames = [m for m in video if not m.config]
        if not frames:
            return None, False
        return frames[0].received_at - self.play_sent_at, bool(video[0].config and frames[0].key)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.closed = True


class RtmpRecorder(threading.Thread):
    """An RtmpPlayer reading on its own thread until the stream ends, the server closes, or
    stop(). Errors are kept in .error for the test to report."""

    def __init__(self, port, app, key, name="rtmp-player"):
        super().__init__(name=name, daemon=True)
        self.player = RtmpPlayer(port, app, key)
        self.error = None
        self._stop_event = threading.Event()
        self.started_playing = threading.Event()

    def run(self):
        try:
            self.player.connect_and_play()
            self.started_playing.set()
            while not self._stop_event.is_set() and not self.player.ended:
                if not self.player.poll(0.2):
                    break
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.started_playing.set()
            self.player.close()

    def stop(self, timeout=5):
        self._stop_event.set()
        self.join(timeout)
