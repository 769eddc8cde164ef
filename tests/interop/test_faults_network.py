#!/usr/bin/env python3
"""interop-faults-network (issue #9, network impairment): test hosts in network namespaces this
test makes, one viewer's link impaired. The test runs in its own mount and network namespaces
(unshare -m -n, /run/netns a private tmpfs), so every namespace, veth pair and qdisc it makes
vanishes with it, even when it is killed; it also deletes them when it ends.

Hosts (ip netns, veth pairs, addresses 10.77.x.0/24 private to these namespaces):
  pub 10.77.3.2 -> srv 10.77.3.1 (rtmpserversrc ! flvrelaysink, gst-launch)
  srv 10.77.1.1 -> good 10.77.1.2 (unimpaired)
  srv 10.77.2.1 -> bad 10.77.2.2: not a veth pair but impaired_link.py's user-space link (TUN
     devices; this kernel has no sch_netem): by default 400 kbit/s (below the stream's
     ~1.3 Mbit/s), 80 ms delay and 3 % packet loss each way (--impair to change it).
ffmpeg in pub publishes a 15 s 640x360 ~1.2 Mbit/s H.264 (B-frames, 1 s GOP) + AAC file in real
time; in good and bad the harness's RTMP player (a thread switched into the namespace with
setns) plays from before the publish. Checked:
- the good viewer gets every frame: one contiguous run of the source's messages from the first to
  the last, same bytes and timestamps (harness.check_message_run), and no frame more than 1 s
  later than its timestamp says (spread of arrival time minus timestamp);
- the bad viewer degrades alone: it gets fewer video frames than the source, every one a whole
  source frame in source order, and after every gap the next frame is a keyframe (the relay skips
  to keyframes); or it is disconnected for staying behind (rtmp-play-stop);
- the server stays up and ends by itself after the publisher (idle-timeout EOS)."""

import argparse
import ctypes
import os
import shlex
import socket
import subprocess
import sys
import threading
import time

import faults_common as F
import harness as H
from impaired_link import ImpairedLink, parse_impairment

PORT = 1935  # inside the test's own network namespaces
CLONE_NEWNET = 0x40000000
HOSTS = {"good": 1, "bad": 2, "pub": 3}


def ip(*args):
    r = subprocess.run([H.require_tool("ip"), *args], capture_output=True, timeout=20)
    H.check(r.returncode == 0, f"ip {' '.join(args)}: {r.stderr.decode(errors='replace')}")


def make_hosts(impairment):
    """srv, pub and good joined by veth pairs; srv and bad by the user-space impaired link
    (impaired_link.py: TUN devices tsrv/tbad, 10.77.2.1 <-> 10.77.2.2): the server-to-viewer
    direction gets every impairment, the viewer's ACKs and requests the same delay and loss but
    no rate cap. Returns the link (close() it)."""
    ip("netns", "add", "srv")
    ip("-n", "srv", "link", "set", "lo", "up")
    for host, net in HOSTS.items():
        ip("netns", "add", host)
        ip("-n", host, "link", "set", "lo", "up")
        if host == "bad":
            continue
        ip("link", "add", f"v{host}", "type", "veth", "peer", "name", f"s{host}")
        ip("link", "set", f"v{host}", "netns", host)
        ip("link", "set", f"s{host}", "netns", "srv")
        ip("-n", host, "addr", "add", f"10.77.{net}.2/24", "dev", f"v{host}")
        ip("-n", "srv", "addr", "add", f"10.77.{net}.1/24", "dev", f"s{host}")
        ip("-n", host, "link", "set", f"v{host}", "up")
        ip("-n", "srv", "link", "set", f"s{host}", "up")
    H.check(os.path.exists("/dev/net/tun"), "/dev/net/tun is missing: the impaired link needs TUN devices")
    back = dict(impairment, rate_bps=0.0)
    try:
        return ImpairedLink("srv", "tsrv", "10.77.2.1", "bad", "tbad", "10.77.2.2", impairment, back).start()
    except (OSError, RuntimeError) as e:
        raise H.TestFailure(f"the impaired link could not be made: {e}")


def delete_hosts():
    for host in ("srv", *HOSTS):
        subprocess.run(["ip", "netns", "del", host], capture_output=True, timeout=20)


def join_netns(netns):
    """Moves the calling thread (only it: setns is per thread) into network namespace `netns`;
    the error text, or None."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        return None if libc.setns(fd, CLONE_NEWNET) == 0 else f"setns {netns}: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(fd)


class NamespacedRecorder(H.RtmpRecorder):
    """The harness's RTMP player on a thread that first joins network namespace `netns` (setns
    applies to the calling thread only; its sockets stay in that namespace)."""

    def __init__(self, netns, port, app, key, host):
        super().__init__(port, app, key, name=f"viewer-{netns}")
        self.player.host = host
        self.netns = netns

    def run(self):
        self.error = join_netns(self.netns)
        if self.error:
            self.started_playing.set()
            return
        super().run()


def connect_time_in(netns, host, port):
    """Seconds a TCP connect from namespace `netns` to host:port takes (SYN out, SYN-ACK back: one
    round trip of the link), measured on a thread that joins the namespace."""
    result = {}

    def measure():
        error = join_netns(netns)
        if error:
            result["error"] = error
            return
        started = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=10):
                result["seconds"] = time.monotonic() - started
        except OSError as e:
            result["error"] = f"connect {host}:{port} from {netns}: {e}"

    t = threading.Thread(target=measure)
    t.start()
    t.join(15)
    H.check("seconds" in result, result.get("error", "the connect did not end"))
    return result["seconds"]


def listening_in(pid, port):
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            next(f)
            return any(l.split()[3] == "0A" and int(l.split()[1].rsplit(":", 1)[1], 16) == port for l in f)
    except OSError:
        return False


def check_degraded(source, got, what):
    """Fewer frames than the source, each a whole source frame in source order, and a keyframe
    after every gap."""
    exp = [m for m in source if m.kind == "video" and not m.config]
    act = [m for m in got if m.kind == "video" and not m.config]
    index = {m.hash: i for i, m in enumerate(exp)}
    positions = []
    for j, m in enumerate(act):
        H.check(m.hash in index, f"{what}: video frame {j} {m} is no whole frame of the source")
        positions.append(index[m.hash])
    skips = 0
    for j in range(1, len(positions)):
        H.check(positions[j] > positions[j - 1], f"{what}: frame {j} is source frame {positions[j]} after "
                                                 f"{positions[j - 1]}")
        if positions[j] != positions[j - 1] + 1:
            skips += 1
            H.check(exp[positions[j]].key, f"{what}: after a gap, frame {j} (source {positions[j]}) is no keyframe")
    return len(act), skips


def body(h, impairment_text):
    impairment = parse_impairment(impairment_text)
    for tool in ("ffmpeg", "ip", "gst-launch-1.0"):
        H.require_tool(tool)
    src = H.make_test_flv("netem", width=640, height=360, seconds=15, gop=25, video_kbps=1200)
    source = H.flv_file_messages(src)
    os.makedirs("/run/netns", exist_ok=True)
    F.mount_tmpfs("/run/netns", "size=1m")
    link = None
    try:
        link = make_hosts(impairment)
        run(h, src, source, impairment_text, link)
    finally:
        if link:
            link.close()
        delete_hosts()
        F.umount("/run/netns")


def run(h, src, source, impairment_text, link):
    key = "net"
    gst = h.spawn("server", ["ip", "netns", "exec", "srv", H.require_tool("gst-launch-1.0"), "-e", "-m",
                             *shlex.split(f"rtmpserversrc address=0.0.0.0 port={PORT} stream-key={key} idle-timeout=3 "
                                          f"! flvrelaysink address=0.0.0.0 port={PORT} stream-key={key} "
                                          f"max-viewer-lag=1000 viewer-timeout=8000")], env=H.gst_env())
    H.wait_for(lambda: listening_in(gst.pid, PORT) or not gst.alive(), 30, "the server listening")
    H.check(gst.alive(), f"the server exited:\n{H.tail(gst.log())}")
    delay = parse_impairment(impairment_text)["delay_s"]
    rtt = connect_time_in("bad", "10.77.2.1", PORT)
    h.log(f"TCP connect over the impaired link: {rtt * 1000:.0f} ms (2 x {delay * 1000:.0f} ms delay)")
    H.check(rtt >= 2 * delay * 0.95, f"a connect over the impaired link took {rtt * 1000:.0f} ms: the "
                                     f"{delay * 1000:.0f} ms delay each way was not applied")
    viewers = {n: NamespacedRecorder(n, PORT, "live", key, f"10.77.{HOSTS[n]}.1") for n in ("good", "bad")}
    for v in viewers.values():
        v.start()
        v.started_playing.wait(10)
        H.check(v.error is None, f"{v.name}: {v.error}")
    ffmpeg = H.require_tool("ffmpeg")
    pub = h.spawn("publisher", ["ip", "netns", "exec", "pub", ffmpeg, "-hide_banner", "-nostdin", "-re", "-i", src,
                                "-c", "copy", "-f", "flv", f"rtmp://10.77.3.1:{PORT}/live/{key}"])
    rc = pub.wait(60)
    H.check(rc == 0, f"the publisher exited with {rc}:\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, 30, "the publisher left")
    for v in viewers.values():
        v.stop(15)

    good = viewers["good"]
    H.check(good.error is None, f"good viewer: {good.error}")
    start, _ = H.check_message_run(source, good.player.messages, "good viewer", from_start=True, to_end=True)
    frames = [m for m in good.player.messages if m.kind == "video" and not m.config]
    # Arrival minus timestamp: its spread is how much later than the earliest one a frame came.
    offsets = [m.received_at - m.ts / 1000 for m in frames]
    late = max(offsets) - min(offsets)
    H.check(late <= 1.0, f"good viewer: a frame arrived {late:.2f} s later than its timestamp says")
    total = len([m for m in source if m.kind == "video" and not m.config])
    h.log(f"good viewer: all {len(frames)} of {total} video frames, at most {late:.3f} s behind")

    bad = viewers["bad"]
    dropped = [l for l in H.bus_messages(gst.log(), "rtmp-play-stop") if "10.77.2.2" in l]
    got, skips = check_degraded(source, bad.player.messages, "bad viewer")
    stats = link.stats()
    h.log(f"impaired link: {stats}")
    down = stats["srv->bad"]
    rate = parse_impairment(impairment_text)["rate_bps"]
    if 0 < rate < 1_000_000:  # below the stream's rate: the viewer cannot have got every frame
        H.check(got < total, f"bad viewer: all {got} frames arrived through a '{impairment_text}' link: it was "
                             f"not impaired")
    H.check(down["delivered"] > 0, "the impaired link delivered nothing from the server to the bad viewer")
    if parse_impairment(impairment_text)["loss"] > 0:
        H.check(down["lost"] > 0, f"the link was to lose packets but lost none: {down}")
    h.log(f"bad viewer: {got} of {total} video frames, {skips} skips to a keyframe, "
          f"{'disconnected: ' + dropped[0][-160:] if dropped else 'not disconnected'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--impair", default="rate=400kbit delay=80ms loss=3%",
                        help="the bad viewer's link: rate=N[k|m]bit,delay=Nms,loss=N%% (spaces or commas; default %(default)s)")
    options = parser.parse_args()
    parse_impairment(options.impair)  # a bad value fails here, before any namespace is made
    F.in_private_mount_namespace(__file__, sys.argv[1:], network=True)
    H.main("interop-faults-network", lambda h: body(h, options.impair), deadline_s=150)
