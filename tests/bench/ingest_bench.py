#!/usr/bin/env python3
"""RTMP ingest benchmark: server CPU seconds per Gbit ingested, ours vs. nginx-rtmp.

N publishers (default 50) push a ~2.5 Mbit/s H.264+AAC stream in real time into one server on a
loopback port; we read the server's CPU time (utime+stime of the server process and its
children, from /proc) over a measurement window and the bytes the server's sockets received
(`ss`), and report CPU seconds per Gbit. Servers:
  nginx   Debian's nginx with libnginx-mod-rtmp, one worker, `live on`, own config in a temp dir
  ours    one gst-launch-1.0 with N rtmpserversrc elements on one port (keys s0..sN-1), each
          `! fakesink` (or `! rtmpchunkdemux` and `queue ! fakesink` per pad with --ours-demux)
Runs alternate (nginx, ours, ours, nginx, ...) for --rounds rounds; medians are reported.

Publishers (--publisher):
  ffmpeg  (default) N `ffmpeg -re -stream_loop -1 -i FILE -c copy -f flv rtmp://...` processes:
          the real client, writing each chunk as it goes (many small TCP segments).
  python  one Python asyncio process (this one) doing real RTMP publish sessions (handshake,
          connect, createStream, publish, onMetaData, then the FLV file's tags as RTMP messages
          with 4096-byte chunks, one write per message, paced on their timestamps and looped).
The publisher model changes what a server spends per Gbit (nginx-rtmp spends ~3x more with
ffmpeg's small writes), so the two are reported separately, never mixed.

Python 3 standard library only. Not a test: it reports figures, it does not pass or fail.
"""

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

CHUNK_SIZE = 4096
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


# ---------------------------------------------------------------------------------------------
# Media: FLV tags of a ~2.5 Mbit/s file

def make_media(path, seconds):
    ffmpeg = shutil.which("ffmpeg") or sys.exit("ffmpeg is required to make the benchmark media")
    if os.path.exists(path):
        return
    tmp = path + ".tmp.flv"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2350k", "-maxrate", "2350k",
                    "-bufsize", "2350k", "-x264-params", "nal-hrd=cbr", "-g", "60", "-bf", "2",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", tmp], check=True)
    os.replace(tmp, path)


def read_flv_tags(path):
    """[(type, timestamp_ms, payload)] of an FLV file; script data, audio and video tags."""
    data = open(path, "rb").read()
    assert data[:3] == b"FLV", "not an FLV file"
    pos = struct.unpack(">I", data[5:9])[0] + 4
    tags = []
    while pos + 11 <= len(data):
        ttype = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        payload = data[pos + 11:pos + 11 + size]
        if len(payload) < size:
            break
        tags.append((ttype, ts, payload))
        pos += 11 + size + 4
    return tags


# ---------------------------------------------------------------------------------------------
# Minimal RTMP publisher

def amf_string(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_number(v):
    return b"\x00" + struct.pack(">d", v)


def amf_object(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + (amf_string(v) if isinstance(v, str) else amf_number(v))
    return out + b"\x00\x00\x09"


AMF_NULL = b"\x05"


def chunk_body(csid, payload, chunk_size=CHUNK_SIZE):
    """Payload split into chunks; the continuation chunks get fmt-3 basic headers."""
    assert 2 <= csid < 64
    parts = [payload[i:i + chunk_size] for i in range(0, len(payload), chunk_size)] or [b""]
    cont = bytes([0xC0 | csid])
    return cont.join(parts)


def message_header(csid, ts, length, mtype, stream_id):
    # Timestamps here stay below 2^24 ms (4.6 h), so no extended timestamp.
    return (bytes([csid]) + (ts & 0xFFFFFF).to_bytes(3, "big") + length.to_bytes(3, "big") + bytes([mtype]) +
            struct.pack("<I", stream_id))


def message(csid, ts, mtype, stream_id, payload):
    return message_header(csid, ts, len(payload), mtype, stream_id) + chunk_body(csid, payload)


class ChunkReader:
    """Just enough of an RTMP chunk reader to find the server's command replies."""

    def __init__(self):
        self.buf = b""
        self.chunk_size = 128
        self.streams = {}

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            msg = self._one()
            if msg is None:
                return out
            if msg[0] == 1:
                self.chunk_size = struct.unpack(">I", msg[1][:4])[0] & 0x7FFFFFFF
            out.append(msg)

    def _one(self):
        b = self.buf
        if not b:
            return None
        fmt, csid, p = b[0] >> 6, b[0] & 0x3F, 1
        if csid == 0:
            if len(b) < 2:
                return None
            csid, p = 64 + b[1], 2
        elif csid == 1:
            if len(b) < 3:
                return None
            csid, p = 64 + b[1] + 256 * b[2], 3
        st = self.streams.setdefault(csid, {"ts": 0, "len": 0, "type": 0, "sid": 0, "body": b"", "ext": False})
        hlen = (11, 7, 3, 0)[fmt]
        if len(b) < p + hlen:
            return None
        h = b[p:p + hlen]
        p += hlen
        ext = False
        if fmt <= 2:
            ts = int.from_bytes(h[0:3], "big")
            ext = ts == 0xFFFFFF
            if fmt <= 1:
                st["len"], st["type"] = int.from_bytes(h[3:6], "big"), h[6]
            if fmt == 0:
                st["sid"] = struct.unpack("<I", h[7:11])[0]
            st["ext"] = ext
        if st["ext"]:
            if len(b) < p + 4:
                return None
            p += 4
        take = min(self.chunk_size, st["len"] - len(st["body"]))
        if len(b) < p + take:
            return None
        st["body"] += b[p:p + take]
        self.buf = b[p + take:]
        if len(st["body"]) == st["len"]:
            body, st["body"] = st["body"], b""
            return (st["type"], body)
        return self._one() if self.buf else None


def amf_strings(body):
    """The AMF0 strings and numbers at the top level of a command, roughly (enough to match replies)."""
    out, p = [], 0
    while p < len(body):
        t = body[p]
        if t == 0x02:
            n = struct.unpack(">H", body[p + 1:p + 3])[0]
            out.append(body[p + 3:p + 3 + n].decode(errors="replace"))
            p += 3 + n
        elif t == 0x00:
            out.append(struct.unpack(">d", body[p + 1:p + 9])[0])
            p += 9
        elif t == 0x05:
            p += 1
        else:
            # Objects: pick out string values inside without a full decoder.
            rest = body[p:]
            i = 0
            while i < len(rest) - 3:
                if rest[i] == 0x02:
                    n = struct.unpack(">H", rest[i + 1:i + 3])[0]
                    if 0 < n < 200 and i + 3 + n <= len(rest):
                        try:
                            out.append(rest[i + 3:i + 3 + n].decode())
                        except UnicodeDecodeError:
                            pass
                        i += 3 + n
                        continue
                i += 1
            break
    return out


class Publisher:
    def __init__(self, port, app, key, tags, duration_ms, start_delay):
        self.port, self.app, self.key = port, app, key
        self.tags, self.duration_ms, self.start_delay = tags, duration_ms, start_delay
        self.bytes_sent = 0
        self.max_lag = 0.0
        self.state = "new"
        self.error = None
        self.reader = ChunkReader()
        self.replies = []
        self.reply_event = asyncio.Event()

    async def _read_loop(self, r):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    self.error = self.error or "server closed the connection"
                    self.reply_event.set()
                    return
                for mtype, body in self.reader.feed(data):
                    if mtype in (20, 17):
                        self.replies.append(amf_strings(body[1:] if mtype == 17 else body))
                        self.reply_event.set()
        except (ConnectionError, OSError) as e:
            self.error = self.error or str(e)
            self.reply_event.set()

    async def _wait_reply(self, predicate, timeout=10):
        end = time.monotonic() + timeout
        while True:
            for rep in self.replies:
                if predicate(rep):
                    return rep
            if self.error:
                raise ConnectionError(self.error)
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no reply; got {self.replies}")
            self.reply_event.clear()
            try:
                await asyncio.wait_for(self.reply_event.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def run(self, stop):
        await asyncio.sleep(self.start_delay)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", self.port)
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c1 = struct.pack(">II", 0, 0) + random.randbytes(1528)
            w.write(b"\x03" + c1)
            s = await r.readexactly(1 + 1536 + 1536)
            w.write(s[1:1537])  # C2 echoes S1
            reader_task = asyncio.create_task(self._read_loop(r))
            tc_url = f"rtmp://127.0.0.1:{self.port}/{self.app}"
            w.write(message(2, 0, 1, 0, struct.pack(">I", CHUNK_SIZE)))
            w.write(message(3, 0, 20, 0, amf_string("connect") + amf_number(1) + amf_object(
                {"app": self.app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; bench)", "tcUrl": tc_url})))
            w.write(message(3, 0, 20, 0, amf_string("releaseStream") + amf_number(2) + AMF_NULL + amf_string(self.key)))
            w.write(message(3, 0, 20, 0, amf_string("FCPublish") + amf_number(3) + AMF_NULL + amf_string(self.key)))
            w.write(message(3, 0, 20, 0, amf_string("createStream") + amf_number(4) + AMF_NULL))
            await w.drain()
            rep = await self._wait_reply(lambda x: len(x) >= 2 and x[0] == "_result" and x[1] == 4.0)
            sid = int(next(v for v in rep[2:] if isinstance(v, float)))
            w.write(message(4, 0, 20, sid, amf_string("publish") + amf_number(5) + AMF_NULL + amf_string(self.key) +
                            amf_string("live")))
            await w.drain()
            rep = await self._wait_reply(lambda x: any(isinstance(v, str) and v.startswith("NetStream.Publish") for v in x))
            code = next(v for v in rep if isinstance(v, str) and v.startswith("NetStream.Publish"))
            if code != "NetStream.Publish.Start":
                raise ConnectionError(f"publish refused: {code}")
            self.state = "publishing"
            # Pre-chunk every tag once; per send only the 12-byte header with timestamp changes.
            prepared = []
            for ttype, ts, payload in self.tags:
                if ttype == 18:
                    payload = amf_string("@setDataFrame") + payload
                csid = {8: 6, 9: 7, 18: 5}[ttype]
                prepared.append((ttype, ts, csid, len(payload), chunk_body(csid, payload)))
            t0 = time.monotonic()
            loop_index = 0
            while not stop.is_set():
                base = loop_index * self.duration_ms
                for ttype, ts, csid, length, body in prepared:
                    if ttype == 18 and loop_index > 0:
                        continue
                    at = t0 + (base + ts) / 1000.0
                    now = time.monotonic()
                    if at > now:
                        await asyncio.sleep(at - now)
                    else:
                        self.max_lag = max(self.max_lag, now - at)
                    if stop.is_set() or self.error or w.is_closing():
                        break
                    data = message_header(csid, base + ts, length, ttype, sid) + body
                    w.write(data)
                    self.bytes_sent += len(data)
                    if w.transport.get_write_buffer_size() > 1 << 20:
                        await w.drain()
                loop_index += 1
                if self.error or w.is_closing():
                    raise ConnectionError(self.error or "connection closed")
            self.state = "done"
            w.close()
            reader_task.cancel()
        except Exception as e:  # noqa: BLE001 - report, never crash the whole benchmark
            self.error = self.error or f"{type(e).__name__}: {e}"
            self.state = "failed"


class FfmpegPublisher:
    """One ffmpeg process publishing the media file in real time, looped."""

    def __init__(self, port, app, key, media, log):
        self.key = key
        self.proc = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", media, "-c", "copy",
             "-f", "flv", f"rtmp://127.0.0.1:{port}/{app}/{key}"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def error(self):
        code = self.proc.poll()
        return None if code is None else f"ffmpeg exited with {code}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------------------------------------
# Servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def process_tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return pids


def bytes_received(port):
    """Bytes received so far by the established server-side sockets on `port` (from `ss`)."""
    out = subprocess.run(["ss", "-tinH", "state", "established", "sport", "=", f":{port}"],
                         capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in re.findall(r"bytes_received:(\d+)", out))


def cpu_seconds(pid):
    """utime+stime (all threads) of pid and its children still alive, in seconds."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / CLK_TCK


def thread_cpu(pid):
    """CPU seconds per thread name (digits folded, so 50 streaming threads form one group)."""
    groups = {}
    for p in process_tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/stat") as f:
                    text = f.read()
            except OSError:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            name = "".join("N" if c.isdigit() else c for c in name)
            fields = text.rsplit(")", 1)[1].split()
            groups[name] = groups.get(name, 0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return groups


def rss_mib(pid):
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Server:
    def __init__(self, kind, workdir, port, streams, ours_demux, ours_props=""):
        self.kind, self.port = kind, port
        self.log = open(os.path.join(workdir, f"{kind}.log"), "ab")
        if kind == "nginx":
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            conf = os.path.join(workdir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(f"""load_module {NGINX_RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size {CHUNK_SIZE};
    application live {{ live on; record off; }}
  }}
}}
""")
            argv = [nginx, "-p", workdir, "-e", f"{workdir}/nginx-error.log", "-c", conf]
        else:
            parts = []
            for i in range(streams):
                src = f"rtmpserversrc address=127.0.0.1 port={port} application=live stream-key=s{i} max-connections-per-address=0 {ours_props}"
                # async=false: the mounts are independent live branches; with async sinks one
                # mount without a publisher keeps every other mount's sink waiting in preroll.
                if ours_demux:
                    # A queue per demuxed branch, as in any demuxer pipeline: without it the first
                    # sink's preroll blocks the demuxer's thread and the other sink never prerolls.
                    parts.append(f"{src} ! rtmpchunkdemux name=d{i} d{i}.video_0 ! queue ! fakesink sync=false async=false "
                                 f"d{i}.audio_0 ! queue ! fakesink sync=false async=false")
                else:
                    parts.append(f"{src} ! fakesink sync=false async=false")
            argv = ["gst-launch-1.0", "-q"] + shlex.split(" ".join(parts))
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode} before listening")
            if listening(self.port):
                # The first element opened the port; give the others time to register their
                # mounts, or an early publisher is refused as "no such stream".
                time.sleep(1.0)
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} is not listening on {self.port} after {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


async def measure(server, tags, duration_ms, streams, warmup, window):
    stop = asyncio.Event()
    pubs = [Publisher(server.port, "live", f"s{i}", tags, duration_ms, start_delay=i * 0.02) for i in range(streams)]
    tasks = [asyncio.create_task(p.run(stop)) for p in pubs]
    await asyncio.sleep(warmup)
    cpu0, bytes0, t0 = cpu_seconds(server.proc.pid), bytes_received(server.port), time.monotonic()
    threads0 = thread_cpu(server.proc.pid)
    await asyncio.sleep(window)
    cpu1, bytes1, t1 = cpu_seconds(server.proc.pid), bytes_received(server.port), time.monotonic()
    rss = rss_mib(server.proc.pid)
    threads1 = thread_cpu(server.proc.pid)
    lag = max(p.max_lag for p in pubs)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    failed = [f"s{i}: {p.error}" for i, p in enumerate(pubs) if p.error or p.state not in ("publishing", "done")]
    return figures(server.kind, cpu1 - cpu0, (bytes1 - bytes0) * 8, t1 - t0, rss, threads0, threads1, failed,
                   {"max_publisher_lag_s": round(lag, 3)})


def measure_ffmpeg(server, media, streams, warmup, window, workdir):
    log = open(os.path.join(workdir, "ffmpeg-publishers.log"), "ab")
    pubs = []
    try:
        for i in range(streams):
            pubs.append(FfmpegPublisher(server.port, "live", f"s{i}", media, log))
            time.sleep(0.02)
        time.sleep(warmup)
        cpu0, bytes0, t0 = cpu_seconds(server.proc.pid), bytes_received(server.port), time.monotonic()
        threads0 = thread_cpu(server.proc.pid)
        pub0 = sum(cpu_seconds(p.proc.pid) for p in pubs)
        time.sleep(window)
        cpu1, bytes1, t1 = cpu_seconds(server.proc.pid), bytes_received(server.port), time.monotonic()
        threads1 = thread_cpu(server.proc.pid)
        pub1 = sum(cpu_seconds(p.proc.pid) for p in pubs)
        rss = rss_mib(server.proc.pid)
        failed = [f"{p.key}: {p.error()}" for p in pubs if p.error()]
    finally:
        for p in pubs:
            p.stop()
        log.close()
    return figures(server.kind, cpu1 - cpu0, (bytes1 - bytes0) * 8, t1 - t0, rss, threads0, threads1, failed,
                   {"publishers_cpu_s": round(pub1 - pub0, 2)})


def figures(kind, cpu, bits, wall, rss, threads0, threads1, failed, extra):
    by_thread = {k: round(v - threads0.get(k, 0), 2) for k, v in threads1.items() if v - threads0.get(k, 0) >= 0.01}
    res = {
        "server": kind, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3), "gbit": round(bits / 1e9, 4),
        "mbit_per_s": round(bits / 1e6 / wall, 1), "cpu_s_per_gbit": round(cpu / (bits / 1e9), 4) if bits else None,
        "cpu_percent": round(100 * cpu / wall, 1), "rss_mib": round(rss, 1),
        "publishers_failed": failed,
        "cpu_s_by_thread": dict(sorted(by_thread.items(), key=lambda kv: -kv[1])),
    }
    res.update(extra)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=4.0, help="seconds after the publishers start, not measured")
    ap.add_argument("--window", type=float, default=20.0, help="measured seconds per run")
    ap.add_argument("--servers", default="nginx,ours", help="comma list of nginx,ours")
    ap.add_argument("--publisher", choices=("ffmpeg", "python"), default="ffmpeg",
                    help="ffmpeg processes (default) or this script's own asyncio publishers")
    ap.add_argument("--ours-demux", action="store_true", help="ours: rtmpserversrc ! rtmpchunkdemux, queue ! fakesink per pad")
    ap.add_argument("--ours-props", default="", help="extra rtmpserversrc properties, e.g. read-interval=20")
    ap.add_argument("--media", default=None, help="FLV file to publish (default: made by ffmpeg, ~2.5 Mbit/s)")
    ap.add_argument("--json", default=None, help="also write every run's figures here")
    args = ap.parse_args()

    for tool in ("ss", "ffmpeg"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is required (scripts/install-deps.sh installs it)")
    workdir = tempfile.mkdtemp(prefix="ingest-bench-")
    media = args.media or os.path.join(workdir, "bench-2500k.flv")
    if not args.media:
        cache = os.path.join(os.environ.get("LIVE_BUILD_ROOT", tempfile.gettempdir()), "bench-2500k-720p30.flv")
        make_media(cache, 10)
        media = cache
    tags = [t for t in read_flv_tags(media) if t[0] in (8, 9, 18)]
    media_tags = [t for t in tags if t[0] in (8, 9)]
    duration_ms = max(t[1] for t in media_tags) + 33
    rate = sum(len(t[2]) for t in media_tags) * 8 / (duration_ms / 1000) / 1e6
    print(f"media {media}: {len(media_tags)} tags, {duration_ms} ms, {rate:.2f} Mbit/s payload per publisher")
    print(f"publishers: {args.streams} x {args.publisher}")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")

    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    runs = []
    for rnd in range(args.rounds):
        order = kinds if rnd % 2 == 0 else list(reversed(kinds))
        for kind in order:
            port = free_port()
            server = Server(kind, workdir, port, args.streams, args.ours_demux, args.ours_props)
            try:
                server.wait_ready()
                if args.publisher == "ffmpeg":
                    res = measure_ffmpeg(server, media, args.streams, args.warmup, args.window, workdir)
                else:
                    res = asyncio.run(measure(server, tags, duration_ms, args.streams, args.warmup, args.window))
            except Exception as e:  # noqa: BLE001
                res = {"server": kind, "error": str(e)}
            finally:
                server.stop()
            res["round"] = rnd
            runs.append(res)
            print(json.dumps(res), flush=True)
            time.sleep(1)

    print("\nsummary (median over rounds):")
    med = {}
    for kind in kinds:
        ok = [r for r in runs if r["server"] == kind and r.get("cpu_s_per_gbit") and not r.get("publishers_failed")]
        if not ok:
            print(f"  {kind}: no complete run")
            continue
        med[kind] = statistics.median(r["cpu_s_per_gbit"] for r in ok)
        print(f"  {kind}: {med[kind]:.3f} CPU-s per Gbit ingested (runs: {[r['cpu_s_per_gbit'] for r in ok]}, "
              f"{statistics.median(r['mbit_per_s'] for r in ok):.0f} Mbit/s, "
              f"{statistics.median(r['cpu_percent'] for r in ok):.1f}% of one core)")
    if "nginx" in med and "ours" in med:
        print(f"  ratio ours/nginx: {med['ours'] / med['nginx']:.2f} (goal: <= 0.70)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs, "median_cpu_s_per_gbit": med}, f, indent=1)
    if all(not r.get("error") and not r.get("publishers_failed") for r in runs):
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")


if __name__ == "__main__":
    main()
