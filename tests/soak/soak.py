#!/usr/bin/env python3
"""Soak run of examples/live-server (issue #9, part 5): N publishers, M viewers, HLS on, for an hour.

Not a CI test: a script whose result goes into the reliability report. It starts live-server from
--build on free loopback ports (`--ladder ""`: source only, so the CPU goes to serving, not to
transcoding), P ffmpeg publishers (`-re -stream_loop -1 -c copy` of a small H.264+AAC FLV made
once), and M viewers in this one asyncio process, spread over the streams and three protocols:

  rtmp     raw RTMP play client: handshake, connect, createStream, play, then chunk parsing
  flv      HTTP-FLV (GET /live/KEY.flv over HTTP/1.0), FLV tag parsing
  hls      LL-HLS poller: the media playlist every ~1 s, each new segment fetched once

Per viewer: media messages received, timestamp regressions, the largest wall-clock gap between
messages, the largest lag behind real time, disconnects with their reason. Per HLS poller:
media-sequence continuity (every segment that left the window had been listed to us, the
sequence never goes back), no new EXT-X-DISCONTINUITY, no ENDLIST, every segment non-empty.
Every minute: the server's VmRSS/VmHWM, threads, fds, CPU seconds, and the load average.

Exit status 1 if a viewer that kept up (read at line rate: all of ours do, and this process's
own event-loop lag is recorded to show it) was dropped, a playlist had a gap, timestamps went
back, a publisher died, or VmRSS went above --rss-limit-mb. Everything started is stopped by PID.
Loopback only. Standard library + ffmpeg.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

FPS = 25
GOP_S = 2
T0 = time.monotonic()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_media(cache_dir, seconds=60):
    """640x360 25 fps H.264 1 Mbit/s, 2 s GOP, no B-frames + AAC 96 kbit/s, FLV; made once."""
    path = os.path.join(cache_dir, f"soak-360p25-1m-{seconds}s.flv")
    if not os.path.exists(path):
        tmp = path + ".tmp.flv"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1000k", "-maxrate", "1000k",
                        "-bufsize", "1000k", "-g", str(GOP_S * FPS), "-keyint_min", str(GOP_S * FPS),
                        "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-b:a", "96k", "-f", "flv", tmp], check=True)
        os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------
# /proc sampling

def proc_sample(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key.lower() + "_mb"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                out["threads"] = int(value)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["cpu_s"] = round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
    with open("/proc/loadavg") as f:
        out["loadavg"] = [float(x) for x in f.read().split()[:3]]
    return out


def own_runqueue_wait_s():
    """Seconds this process spent runnable but waiting for a CPU (a starved client falls behind)."""
    with open("/proc/self/schedstat") as f:
        return round(int(f.read().split()[1]) / 1e9, 1)


def own_cpu_s():
    t = os.times()
    return round(t.user + t.system, 2)


# ---------------------------------------------------------------------------------------------
# viewers

class Viewer:
    def __init__(self, index, protocol, stream):
        self.index, self.protocol, self.stream = index, protocol, stream
        self.messages = {"video": 0, "audio": 0, "other": 0}
        self.bytes = 0
        self.ts_regressions = 0
        self.max_ts_jump_ms = 0  # largest forward step of a media timestamp (a skip shows here)
        self.jumps = []  # forward steps > 1 s: [(t since start, kind, from ms, to ms)], the first 20
        self.first_media = None  # (wall, ts ms) of the first video message: media rate vs wall
        self.last_media = None
        self.max_gap_s = 0.0  # largest wall-clock gap between two media messages
        self.max_lag_s = 0.0  # how far behind real time the media timestamps fell
        self.disconnects = []  # [(wall seconds since start, reason)]
        self.started = None
        self._last_wall = None
        self._last_ts = {}
        self._origin = None  # (wall time of the first video message, lowest wall - media time)
        self.t0 = T0

    def media(self, kind, ts_ms, now, config=False):
        self.messages[kind] += 1
        if config:
            return  # a sequence header keeps the timestamp it was published with (GOP cache)
        last = self._last_ts.get(kind)
        if last is not None:
            if ts_ms < last:
                self.ts_regressions += 1
            else:
                self.max_ts_jump_ms = max(self.max_ts_jump_ms, ts_ms - last)
                if ts_ms - last > 1000 and len(self.jumps) < 20:
                    self.jumps.append((round(now - self.t0, 1), kind, last, ts_ms))
        self._last_ts[kind] = ts_ms
        if self._last_wall is not None:
            self.max_gap_s = max(self.max_gap_s, now - self._last_wall)
        self._last_wall = now
        if kind == "video":
            # wall time minus media time: its lowest value is the live edge; how far above it
            # a message arrives is how far behind real time this viewer is (the GOP cache burst
            # of the first seconds excluded)
            if self.first_media is None:
                self.first_media = (now, ts_ms)
            self.last_media = (now, ts_ms)
            behind = now - ts_ms / 1000
            if self._origin is None:
                self._origin = (now, behind)
            self._origin = (self._origin[0], min(self._origin[1], behind))
            if now - self._origin[0] >= 5:
                self.max_lag_s = max(self.max_lag_s, behind - self._origin[1])

    def result(self):
        return {"index": self.index, "protocol": self.protocol, "stream": self.stream,
                "messages": self.messages, "bytes": self.bytes, "ts_regressions": self.ts_regressions,
                "max_ts_jump_ms": self.max_ts_jump_ms, "max_gap_s": round(self.max_gap_s, 3),
                "max_lag_s": round(self.max_lag_s, 3), "disconnects": self.disconnects, "jumps": self.jumps,
                "media_rate": self.media_rate()}

    def media_rate(self):
        """Media seconds received per wall second after the first video message (1.0 = real time)."""
        if not self.first_media or self.last_media[0] - self.first_media[0] < 10:
            return None
        return round((self.last_media[1] - self.first_media[1]) / 1000 /
                     (self.last_media[0] - self.first_media[0]), 3)


# AMF0 values and chunked messages as our raw test publisher writes them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from rtmp_raw import _amf_number, _amf_object, _amf_string, _message as _rtmp_message  # noqa: E402


class ChunkParser:
    """RTMP chunk stream -> whole messages (type, timestamp, payload), as chunk_reader does."""

    def __init__(self):
        self.buf = bytearray()
        self.chunk_size = 128
        self.streams = {}  # csid -> dict(ts, delta, length, type, sid, ext, partial)

    def feed(self, data):
        self.buf += data
        out = []
        pos = 0
        buf = self.buf
        n = len(buf)
        while True:
            if pos >= n:
                break
            start = pos
            b0 = buf[pos]
            fmt, csid = b0 >> 6, b0 & 0x3F
            pos += 1
            if csid == 0:
                if pos + 1 > n:
                    pos = start
                    break
                csid = 64 + buf[pos]
                pos += 1
            elif csid == 1:
                if pos + 2 > n:
                    pos = start
                    break
                csid = 64 + buf[pos] + buf[pos + 1] * 256
                pos += 2
            hlen = (11, 7, 3, 0)[fmt]
            if pos + hlen > n:
                pos = start
                break
            s = self.streams.get(csid)
            if s is None:
                if fmt != 0:
                    raise ValueError(f"chunk stream {csid} starts with fmt {fmt}")
                s = self.streams[csid] = {"ts": 0, "delta": 0, "length": 0, "type": 0, "sid": 0,
                                          "ext": False, "partial": None, "got": None}
            field = None
            if fmt <= 2:
                field = int.from_bytes(buf[pos:pos + 3], "big")
            if fmt <= 1:
                length = int.from_bytes(buf[pos + 3:pos + 6], "big")
                mtype = buf[pos + 6]
            if fmt == 0:
                sid = int.from_bytes(buf[pos + 7:pos + 11], "little")
            pos += hlen
            ext = (field == 0xFFFFFF) if field is not None else s["ext"]
            if ext:
                if pos + 4 > n:
                    pos = start
                    break
                ext_value = int.from_bytes(buf[pos:pos + 4], "big")
                pos += 4
                if field is not None:
                    field = ext_value
            starting = s["got"] is None
            total = (length if fmt <= 1 else s["length"]) if starting else s["length"]
            take = min(self.chunk_size, total - (0 if starting else s["got"]))
            if pos + take > n:
                pos = start
                break
            # commit the header
            s["ext"] = ext
            if fmt <= 1:
                s["length"], s["type"] = length, mtype
            if fmt == 0:
                s["sid"], s["ts"], s["delta"] = sid, field, 0
            elif fmt in (1, 2):
                s["delta"] = field
                if starting:
                    s["ts"] = (s["ts"] + field) & 0xFFFFFFFF
            elif starting:  # fmt 3 starting a new message: the previous delta again
                s["ts"] = (s["ts"] + s["delta"]) & 0xFFFFFFFF
            if starting:
                s["got"] = 0
                s["partial"] = bytearray()
            # media payloads are not kept (only their first bytes): saves copying at line rate
            if s["type"] in (8, 9):
                if starting:
                    s["partial"] = bytes(buf[pos:pos + min(take, 2)])
            else:
                s["partial"] += buf[pos:pos + take]
            s["got"] += take
            done = s["got"] >= s["length"]
            payload = bytes(s["partial"])
            if done:
                s["got"] = None
            pos += take
            if done:
                if s["type"] == 1 and len(payload) >= 4:
                    self.chunk_size = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                out.append((s["type"], s["ts"], payload, s["length"]))
        del self.buf[:pos]
        return out


async def rtmp_viewer(v, port, app, key, deadline, loop_start):
    reader = writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x03" + struct.pack(">II", 0, 0) + os.urandom(1528))
        s = await asyncio.wait_for(reader.readexactly(3073), 10)
        writer.write(s[1:1537])
        tc_url = f"rtmp://127.0.0.1:{port}/{app}"
        writer.write(_rtmp_message(3, 20, 0, _amf_string("connect") + _amf_number(1) + _amf_object(
            {"app": app, "flashVer": "LNX 9,0,124,2", "tcUrl": tc_url, "fpad": 0, "capabilities": 15,
             "audioCodecs": 3191, "videoCodecs": 252, "videoFunction": 1})))
        writer.write(_rtmp_message(2, 5, 0, struct.pack(">I", 5000000)))  # window ack size
        parser = ChunkParser()
        state = "connect"
        received = 0
        acked = 0
        window = 2500000
        while True:
            data = await asyncio.wait_for(reader.read(1 << 18), 15)
            if not data:
                raise ConnectionError("server closed the connection")
            now = time.monotonic()
            received += len(data)
            v.bytes += len(data)
            for mtype, ts, payload, length in parser.feed(data):
                if mtype in (8, 9):  # AVC / AAC packet type 0: a sequence header
                    v.media("video" if mtype == 9 else "audio", ts, now, len(payload) > 1 and payload[1] == 0)
                elif mtype == 5 and len(payload) >= 4:
                    window = int.from_bytes(payload[:4], "big")
                elif mtype == 4 and len(payload) >= 6 and payload[:2] == b"\x00\x06":
                    writer.write(_rtmp_message(2, 4, 0, b"\x00\x07" + payload[2:6]))  # ping -> pong
                elif mtype == 20:
                    if b"_error" in payload[:10]:
                        raise ConnectionError(f"command error: {payload[:200]!r}")
                    if state == "connect" and b"NetConnection.Connect.Success" in payload:
                        writer.write(_rtmp_message(3, 20, 0, _amf_string("createStream") + _amf_number(2) + b"\x05"))
                        state = "createStream"
                    elif state == "createStream" and payload.startswith(_amf_string("_result")):
                        stream_id = int(struct.unpack(">d", payload[-8:])[0])
                        writer.write(_rtmp_message(3, 4, 0, struct.pack(">HII", 3, stream_id, 3000)))  # buffer len
                        writer.write(_rtmp_message(8, 20, stream_id, _amf_string("play") + _amf_number(3) + b"\x05" +
                                                   _amf_string(key)))
                        state = "play"
                    elif b"NetStream.Play.StreamNotFound" in payload or b"NetStream.Play.Failed" in payload:
                        raise ConnectionError(f"play refused: {payload[:200]!r}")
                    elif b"NetStream.Play.Stop" in payload or b"NetStream.Play.UnpublishNotify" in payload:
                        v.disconnects.append((round(now - loop_start, 1), "server said Play.Stop/Unpublish"))
                elif mtype == 18 and b"onStatus" in payload[:20] and b"StreamEOF" in payload:
                    v.disconnects.append((round(now - loop_start, 1), "StreamEOF"))
            if received - acked >= window // 2:
                writer.write(_rtmp_message(2, 3, 0, struct.pack(">I", received & 0xFFFFFFFF)))
                acked = received
            if now >= deadline:
                return
    except (OSError, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
        v.disconnects.append((round(time.monotonic() - loop_start, 1), f"{type(e).__name__}: {e}"))
    finally:
        if writer:
            writer.close()


async def flv_viewer(v, port, app, key, deadline, loop_start):
    writer = None
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /{app}/{key}.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status_line:
            raise ConnectionError(f"HTTP answer {status_line!r}")
        buf = bytearray()
        need_header = True
        while True:
            data = await asyncio.wait_for(reader.read(1 << 18), 15)
            if not data:
                raise ConnectionError("server closed the connection")
            now = time.monotonic()
            v.bytes += len(data)
            buf += data
            pos = 0
            if need_header:
                if len(buf) < 13:
                    continue
                if buf[:3] != b"FLV":
                    raise ValueError("not FLV")
                pos = int.from_bytes(buf[5:9], "big") + 4
                need_header = False
            n = len(buf)
            while pos + 11 <= n:
                size = int.from_bytes(buf[pos + 1:pos + 4], "big")
                if pos + 11 + size + 4 > n:
                    break
                tag = buf[pos] & 0x1F
                ts = int.from_bytes(buf[pos + 4:pos + 7], "big") | (buf[pos + 7] << 24)
                v.media("video" if tag == 9 else "audio" if tag == 8 else "other", ts, now,
                        tag in (8, 9) and size > 1 and buf[pos + 12] == 0)
                pos += 11 + size + 4
            del buf[:pos]
            if now >= deadline:
                return
    except (OSError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            asyncio.TimeoutError, ValueError) as e:
        v.disconnects.append((round(time.monotonic() - loop_start, 1), f"{type(e).__name__}: {e}"))
    finally:
        if writer:
            writer.close()


class HttpClient:
    """HTTP/1.1 keep-alive GETs on one connection (reopened when the server closes it)."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None
        self.reconnects = 0

    async def get(self, path, timeout=10):
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.reconnects += 1
            try:
                return await asyncio.wait_for(self._get(path), timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as e:
                self.close()
                if attempt:
                    raise ConnectionError(f"GET {path}: {e}") from e

    async def _get(self, path):
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, val = line.partition(":")
            headers[k.strip().lower()] = val.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
                if size == 0:
                    break
            body = bytes(body)
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None


class HlsPoller(Viewer):
    def __init__(self, index, stream):
        super().__init__(index, "hls", stream)
        self.polls = 0
        self.segments_fetched = 0
        self.segment_bytes = 0
        self.empty_segments = 0
        self.gaps = []  # [(t, text)]
        self.sequence_back = 0
        self.new_discontinuities = []
        self.endlist = False
        self.errors = []  # failed requests [(t, text)]
        self.first_msn = None
        self.last_msn = None
        self.max_fetch_s = 0.0

    def result(self):
        r = super().result()
        r.update({"polls": self.polls, "segments_fetched": self.segments_fetched,
                  "segment_bytes": self.segment_bytes, "empty_segments": self.empty_segments,
                  "gaps": self.gaps, "sequence_back": self.sequence_back,
                  "new_discontinuities": self.new_discontinuities, "endlist": self.endlist,
                  "errors": self.errors[:20], "error_count": len(self.errors),
                  "first_msn": self.first_msn, "last_msn": self.last_msn,
                  "max_fetch_s": round(self.max_fetch_s, 3)})
        return r


def parse_media_playlist(text):
    """(media sequence, discontinuity sequence, [(uri, discontinuity before it)], endlist)."""
    msn, dsn, segs, endlist, disc = 0, 0, [], False, False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            dsn = int(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            disc = True
        elif line == "#EXT-X-ENDLIST":
            endlist = True
        elif line and not line.startswith("#"):
            segs.append((line, disc))
            disc = False
    return msn, dsn, segs, endlist


def resolve(base, uri):
    if uri.startswith("/"):
        return uri
    if "://" in uri:
        return "/" + uri.split("://", 1)[1].split("/", 1)[1]
    return base.rsplit("/", 1)[0] + "/" + uri


async def hls_poller(v, port, app, key, deadline, loop_start, interval=1.0):
    http = HttpClient(port)
    t0 = time.monotonic()
    media_path = None
    seen = {}  # sequence number -> uri
    last_msn = None
    last_dsn = None
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            try:
                if media_path is None:
                    status, body = await http.get(f"/{app}/{key}/master.m3u8")
                    if status != 200:
                        raise ConnectionError(f"master playlist: HTTP {status}")
                    uris = [ln.strip() for ln in body.decode().splitlines() if ln.strip() and not ln.startswith("#")]
                    media_path = resolve(f"/{app}/{key}/master.m3u8", uris[0])
                start = time.monotonic()
                status, body = await http.get(media_path)
                v.max_fetch_s = max(v.max_fetch_s, time.monotonic() - start)
                if status != 200:
                    raise ConnectionError(f"media playlist: HTTP {status}")
                v.polls += 1
                msn, dsn, segs, endlist = parse_media_playlist(body.decode())
                t = round(time.monotonic() - loop_start, 1)
                if endlist and not v.endlist:
                    v.endlist = True
                    v.disconnects.append((t, "EXT-X-ENDLIST"))
                if v.first_msn is None:
                    v.first_msn = msn
                if last_msn is not None:
                    if msn < last_msn:
                        v.sequence_back += 1
                        v.gaps.append((t, f"media sequence went back {last_msn} -> {msn}"))
                    for seq in range(last_msn, msn):
                        if seq not in seen:
                            v.gaps.append((t, f"segment {seq} left the window unseen"))
                    if dsn != last_dsn:
                        v.new_discontinuities.append((t, f"discontinuity sequence {last_dsn} -> {dsn}"))
                for i, (uri, disc) in enumerate(segs):
                    seq = msn + i
                    if seq in seen:
                        if seen[seq] != uri:
                            v.gaps.append((t, f"segment {seq} changed uri {seen[seq]} -> {uri}"))
                        continue
                    if disc and last_msn is not None:
                        v.new_discontinuities.append((t, f"EXT-X-DISCONTINUITY before segment {seq}"))
                    if last_msn is not None and seen and seq > max(seen) + 1:
                        v.gaps.append((t, f"segments {max(seen) + 1}..{seq - 1} never listed"))
                    seen[seq] = uri
                    if last_msn is None and i < len(segs) - 1:
                        continue  # the window at join time: only the newest segment is fetched
                    start = time.monotonic()
                    status, data = await http.get(resolve(media_path, uri))
                    v.max_fetch_s = max(v.max_fetch_s, time.monotonic() - start)
                    if status != 200:
                        v.errors.append((t, f"segment {seq}: HTTP {status}"))
                        continue
                    v.segments_fetched += 1
                    v.segment_bytes += len(data)
                    v.bytes += len(data)
                    if not data:
                        v.empty_segments += 1
                    v.media("video", int((time.monotonic() - t0) * 1000), time.monotonic())
                for old in [s for s in seen if s < msn - 50]:
                    del seen[old]
                last_msn, last_dsn = msn, dsn
                v.last_msn = msn
            except (OSError, ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                    asyncio.LimitOverrunError, ValueError, IndexError) as e:
                v.errors.append((round(time.monotonic() - loop_start, 1), f"{type(e).__name__}: {e}"))
                http.close()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - now)))
    finally:
        http.close()


# ---------------------------------------------------------------------------------------------
# processes

class Procs:
    """Everything this script started, stopped by PID."""

    def __init__(self):
        self.items = []

    def start(self, argv, log, **kw):
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0), **kw)
        self.items.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.items):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.items):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)


def ffmpeg_speed(progress_file):
    """The last speed= of an ffmpeg -progress file (1.0 = real time), None before the first."""
    try:
        with open(progress_file) as f:
            speeds = re.findall(r"^speed=\s*([0-9.]+)x", f.read(), re.M)
        return float(speeds[-1]) if speeds else None
    except OSError:
        return None


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


async def loop_lag_probe(stats, deadline):
    """How late this process's own event loop runs: evidence that the viewers read at line rate."""
    while time.monotonic() < deadline:
        t = time.monotonic()
        await asyncio.sleep(0.1)
        late = time.monotonic() - t - 0.1
        stats["max_loop_lag_s"] = max(stats["max_loop_lag_s"], late)
        stats["loop_lag_over_100ms"] += late > 0.1


async def run(args, procs, workdir):
    binary = os.path.join(os.path.abspath(args.build), "examples", "live-server")
    if not os.access(binary, os.X_OK):
        sys.exit(f"FAIL: {binary} not found (build it: ninja -C {args.build} examples/live-server)")
    if not shutil.which("ffmpeg"):
        sys.exit("FAIL: ffmpeg not found (scripts/install-deps.sh installs it)")
    media = make_media(args.cache_dir)
    rtmp_port, http_port = free_port(), free_port()
    conf = os.path.join(workdir, "live-server.conf")
    with open(conf, "w") as f:
        f.write("[server]\nmax-connections-per-address=0\n")  # every viewer comes from 127.0.0.1
    out_dir = os.path.join(workdir, "out")
    argv = [binary, "--config", conf, "--address", "127.0.0.1", "--rtmp-port", str(rtmp_port),
            "--http-port", str(http_port), "--output-dir", out_dir, "--ladder", "",
            "--max-streams", str(max(16, args.publishers)), "--status-interval", "60"]
    server_log = open(os.path.join(workdir, "live-server.log"), "ab")
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(os.path.abspath(args.build), "gst"),
               GST_REGISTRY=os.path.join(workdir, "gst-registry.bin"))
    server = procs.start(argv, server_log, cwd=workdir, env=env)
    await wait_for(lambda: server.poll() is not None or (listening(rtmp_port) and listening(http_port)), 20,
                   "live-server to listen")
    if server.poll() is not None:
        sys.exit(f"FAIL: live-server exited with {server.returncode} (log {server_log.name})")

    keys = [f"soak{i}" for i in range(args.publishers)]
    pub_log = open(os.path.join(workdir, "publishers.log"), "ab")
    publishers = {}

    def publish(key):
        # -progress: ffmpeg's own speed= (1.0 = real time) every 10 s, to tell a starved publisher
        return procs.start(["ffmpeg", "-nostdin", "-v", "error", "-progress", os.path.join(workdir, f"{key}.progress"),
                            "-stats_period", "10", "-re", "-stream_loop", "-1", "-i", media,
                            "-c", "copy", "-f", "flv", f"rtmp://127.0.0.1:{rtmp_port}/live/{key}"], pub_log)
    for key in keys:
        publishers[key] = publish(key)
    # Viewers join once every stream has HLS segments (so the first playlist is never a 404).
    for key in keys:
        await wait_for(lambda: os.path.exists(os.path.join(out_dir, "live", key, "master.m3u8")), 30,
                       f"HLS of {key}")
    await asyncio.sleep(GOP_S * 2)

    loop_start = time.monotonic()
    deadline = loop_start + args.minutes * 60
    protocols = ["rtmp", "flv", "hls"]
    viewers, tasks = [], []
    for i in range(args.viewers):
        proto, key = protocols[i % 3], keys[(i // 3) % len(keys)]
        if proto == "hls":
            v = HlsPoller(i, key)
            coro = hls_poller(v, http_port, "live", key, deadline, loop_start)
        else:
            v = Viewer(i, proto, key)
            coro = (rtmp_viewer if proto == "rtmp" else flv_viewer)(
                v, rtmp_port if proto == "rtmp" else http_port, "live", key, deadline, loop_start)
        viewers.append(v)
        tasks.append(asyncio.ensure_future(coro))
        await asyncio.sleep(0.02)  # a join rate, not a burst

    loop_stats = {"max_loop_lag_s": 0.0, "loop_lag_over_100ms": 0}
    tasks.append(asyncio.ensure_future(loop_lag_probe(loop_stats, deadline)))
    samples = []
    publisher_deaths = []
    cpu0 = proc_sample(server.pid)["cpu_s"]
    own0, wait0 = own_cpu_s(), own_runqueue_wait_s()
    minute = 0
    while True:
        now = time.monotonic()
        if server.poll() is not None:
            publisher_deaths.append((round(now - loop_start, 1), f"live-server exited with {server.returncode}"))
            break
        sample = proc_sample(server.pid)
        sample["t_min"] = round((now - loop_start) / 60, 2)
        sample["own_cpu_s"] = round(own_cpu_s() - own0, 1)
        sample["own_runqueue_wait_s"] = round(own_runqueue_wait_s() - wait0, 1)
        sample["viewers_connected"] = sum(1 for v, t in zip(viewers, tasks) if not t.done() and not v.disconnects)
        sample["max_loop_lag_s"] = round(loop_stats["max_loop_lag_s"], 3)
        sample["publisher_speed"] = {key: ffmpeg_speed(os.path.join(workdir, f"{key}.progress")) for key in keys}
        samples.append(sample)
        print(f"[{sample['t_min']:6.2f} min] rss {sample['vmrss_mb']} MB hwm {sample['vmhwm_mb']} MB "
              f"threads {sample['threads']} fds {sample['fds']} cpu {sample['cpu_s'] - cpu0:.0f} s "
              f"load {sample['loadavg']} viewers {sample['viewers_connected']}/{len(viewers)} "
              f"loop lag max {sample['max_loop_lag_s']} s own cpu {sample['own_cpu_s']} s waited {sample['own_runqueue_wait_s']} s publisher speed {list(sample['publisher_speed'].values())}",
              flush=True)
        for key, p in publishers.items():
            if p.poll() is not None:
                publisher_deaths.append((round(now - loop_start, 1), f"publisher {key} exited with {p.returncode}"))
                publishers[key] = publish(key)
        if now >= deadline:
            break
        minute += 1
        await asyncio.sleep(max(0.0, min(loop_start + minute * 60, deadline) - time.monotonic()))
    for t in tasks:
        if not t.done():
            try:
                await asyncio.wait_for(t, 20)
            except asyncio.TimeoutError:
                t.cancel()
    return server, argv, samples, viewers, loop_stats, publisher_deaths, cpu0


def summarise(args, argv, samples, viewers, loop_stats, publisher_deaths, cpu0, workdir):
    failures = []
    dropped = [v for v in viewers if v.disconnects]
    kept_up = [v for v in viewers if v.protocol != "hls"]
    ts_back = [v for v in viewers if v.ts_regressions]
    gaps = [v for v in viewers if isinstance(v, HlsPoller) and (v.gaps or v.new_discontinuities or v.empty_segments)]
    hls_errors = [v for v in viewers if isinstance(v, HlsPoller) and v.errors]
    rss = [s["vmrss_mb"] for s in samples]
    if dropped:
        failures.append(f"{len(dropped)} viewers dropped")
    if gaps:
        failures.append(f"{len(gaps)} HLS pollers saw a gap, a new discontinuity or an empty segment")
    if hls_errors:
        failures.append(f"{len(hls_errors)} HLS pollers had failed requests")
    if ts_back:
        failures.append(f"{len(ts_back)} viewers saw timestamps go back")
    if publisher_deaths:
        failures.append(f"publisher/server deaths: {publisher_deaths}")
    no_media = [v for v in viewers if sum(v.messages.values()) == 0]
    if no_media:
        failures.append(f"{len(no_media)} viewers received nothing")
    if args.rss_limit_mb and rss and max(rss) > args.rss_limit_mb:
        failures.append(f"VmRSS {max(rss)} MB above the limit {args.rss_limit_mb} MB")
    elapsed_min = samples[-1]["t_min"] if samples else 0
    by_proto = {}
    for v in viewers:
        p = by_proto.setdefault(v.protocol, {"viewers": 0, "dropped": 0, "messages": 0, "bytes": 0,
                                             "max_gap_s": 0.0, "max_lag_s": 0.0, "max_ts_jump_ms": 0})
        p["viewers"] += 1
        p["dropped"] += bool(v.disconnects)
        p["messages"] += sum(v.messages.values())
        p["bytes"] += v.bytes
        p["max_gap_s"] = max(p["max_gap_s"], round(v.max_gap_s, 3))
        p["max_lag_s"] = max(p["max_lag_s"], round(v.max_lag_s, 3))
        p["max_ts_jump_ms"] = max(p["max_ts_jump_ms"], v.max_ts_jump_ms)
    hls = [v for v in viewers if isinstance(v, HlsPoller)]
    if hls:
        by_proto["hls"].update({"polls": sum(v.polls for v in hls), "segments_fetched": sum(v.segments_fetched for v in hls),
                                "gaps": sum(len(v.gaps) for v in hls), "sequence_back": sum(v.sequence_back for v in hls),
                                "new_discontinuities": sum(len(v.new_discontinuities) for v in hls),
                                "empty_segments": sum(v.empty_segments for v in hls),
                                "request_errors": sum(len(v.errors) for v in hls),
                                "max_fetch_s": max(v.max_fetch_s for v in hls),
                                "segments_advanced_min": min((v.last_msn or 0) - (v.first_msn or 0) for v in hls)})
    report = {"minutes": args.minutes, "elapsed_min": elapsed_min, "publishers": args.publishers,
              "viewers": len(viewers), "server_argv": argv, "workdir": workdir,
              "rss_limit_mb": args.rss_limit_mb, "samples": samples,
              "rss_mb": {"start": rss[0] if rss else None, "peak": max(rss) if rss else None,
                         "end": rss[-1] if rss else None},
              "vmhwm_mb_end": samples[-1]["vmhwm_mb"] if samples else None,
              "server_cpu_s": round(samples[-1]["cpu_s"] - cpu0, 1) if samples else None,
              "by_protocol": by_proto, "loop": {k: round(v, 3) for k, v in loop_stats.items()},
              "publisher_deaths": publisher_deaths, "failures": failures,
              "viewers_detail": [v.result() for v in viewers]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print("\n=== soak summary ===")
    print(f"{elapsed_min} min, {args.publishers} publishers, {len(viewers)} viewers "
          f"({', '.join(k + ' ' + str(p['viewers']) for k, p in by_proto.items())})")
    if rss:
        print(f"VmRSS MB: start {rss[0]}, peak {max(rss)}, end {rss[-1]}; VmHWM end {samples[-1]['vmhwm_mb']}; "
              f"threads {samples[0]['threads']}->{samples[-1]['threads']}; fds {samples[0]['fds']}->{samples[-1]['fds']}")
        cpu = samples[-1]["cpu_s"] - cpu0
        print(f"server CPU {cpu:.0f} s over {elapsed_min} min = {cpu / max(elapsed_min * 60, 1) * 100:.0f} % of a core; "
              f"load avg range {min(s['loadavg'][0] for s in samples)}..{max(s['loadavg'][0] for s in samples)}")
    for k, p in by_proto.items():
        print(f"{k}: {json.dumps(p)}")
    print(f"this process: max event-loop lag {loop_stats['max_loop_lag_s']:.3f} s, "
          f"{loop_stats['loop_lag_over_100ms']} probes late > 100 ms")
    for v in dropped[:10]:
        print(f"dropped: viewer {v.index} {v.protocol} {v.stream}: {v.disconnects[:3]}")
    for v in gaps[:10]:
        print(f"hls: viewer {v.index} {v.stream}: gaps {v.gaps[:3]} disc {v.new_discontinuities[:3]} empty {v.empty_segments}")
    for v in hls_errors[:10]:
        print(f"hls errors: viewer {v.index} {v.stream}: {v.errors[:3]}")
    print("RESULT:", "PASS" if not failures else "FAIL: " + "; ".join(failures))
    return not failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--viewers", type=int, default=200)
    ap.add_argument("--publishers", type=int, default=4)
    ap.add_argument("--build", default="build", help="meson build dir holding examples/live-server")
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--rss-limit-mb", type=float, default=RSS_LIMIT_MB,
                    help="fail if the server's VmRSS goes above this (0 = no limit)")
    ap.add_argument("--workdir", help="where logs and HLS output go (default: a new temp dir)")
    ap.add_argument("--client-nice", type=int, default=-10,
                    help="nice value of this viewer process (needs root below 0): on a machine busy with other "
                         "work the viewers must still read at line rate; the server and publishers keep nice 0")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "live-soak-media"))
    args = ap.parse_args()
    os.makedirs(args.cache_dir, exist_ok=True)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, args.client_nice)
    except PermissionError:
        print(f"warning: cannot set nice {args.client_nice} (not root): the viewers may fall behind on a busy "
              "machine", flush=True)
    workdir = args.workdir or tempfile.mkdtemp(prefix="live-soak-")
    os.makedirs(workdir, exist_ok=True)
    print(f"workdir {workdir}", flush=True)
    procs = Procs()
    loop = asyncio.new_event_loop()
    main_task = loop.create_task(run(args, procs, workdir))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel)
    ok = False
    try:
        server, argv, samples, viewers, loop_stats, deaths, cpu0 = loop.run_until_complete(main_task)
        ok = summarise(args, argv, samples, viewers, loop_stats, deaths, cpu0, workdir)
    except asyncio.CancelledError:
        print("interrupted", flush=True)
    finally:
        procs.stop_all()
        loop.close()
    sys.exit(0 if ok else 1)


# The bound, from the first runs (reliability report): VmRSS about 40 MB once the 4 streams run,
# then +30 MB/min while the HTTP FileCache of each stream's HLS site fills with the segments the
# pollers fetch (kMaxCachedBytes, 32 MiB per site, gst/http/file_cache.h), flat at about 165 MB from
# minute 5. 200 MB leaves room for GOP caches and allocator slack, and catches any growth with time.
RSS_LIMIT_MB = 200

if __name__ == "__main__":
    main()
