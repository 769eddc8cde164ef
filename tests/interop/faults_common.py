"""Shared helpers of the fault tests (test_faults_*.py, issue #9 part 4): live-server started on
free ports, its HLS playlists read over HTTP, and a private mount namespace for tests that mount
their own tmpfs. Python 3 standard library only; the server helpers of test_live_server_streams
are reused."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import harness as H
from test_live_server_streams import (fetch, ffprobe_streams, master, media_sequence,  # noqa: F401
                                      segment_uris, variants_of)

NAMESPACE_MARK = "LIVE_FAULTS_IN_NAMESPACE"


def in_private_mount_namespace(script, args, network=False):
    """Runs this test again inside a private mount namespace (unshare -m; -n as well with
    network=True: a network namespace of its own; -r when not root, so a user namespace maps the
    caller to root there) and exits with its status. Mounts (and network namespaces) the test
    makes there vanish with it, even when it is killed. Returns only in the namespace."""
    if os.environ.get(NAMESPACE_MARK) == "1":
        return
    unshare = H.require_tool("unshare")
    argv = [unshare, "-m", "--propagation", "private"] + (["-n"] if network else []) + \
        ([] if os.geteuid() == 0 else ["-r"])
    argv += [sys.executable, os.path.abspath(script), *args]
    env = dict(os.environ, **{NAMESPACE_MARK: "1"})
    try:
        rc = subprocess.run(argv, env=env, timeout=900).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: the test in its mount namespace did not end within 900 s", flush=True)
        rc = 1
    if rc != 0 and rc is not None:
        print(f"(the test ran in a private mount namespace: {' '.join(argv[:5])} ...; exit {rc})", flush=True)
    sys.exit(1 if rc else 0)


def mount_tmpfs(path, options):
    """A tmpfs at path (inside the test's mount namespace): e.g. 'size=1m' or 'ro,size=64k'."""
    os.makedirs(path, exist_ok=True)
    mount = H.require_tool("mount")
    r = subprocess.run([mount, "-t", "tmpfs", "-o", options, "tmpfs", path], capture_output=True, timeout=20)
    H.check(r.returncode == 0, f"mount -t tmpfs -o {options} tmpfs {path}: {r.stderr.decode(errors='replace')}")


def umount(path):
    subprocess.run([H.require_tool("umount"), "-l", path], capture_output=True, timeout=20)


def live_server_binary():
    path = os.path.join(os.environ["LIVE_BUILD_ROOT"], "examples", "live-server")
    H.check(os.path.exists(path), f"{path} was not built")
    return path


def start_live_server(h, *extra, name="live-server", rtmp_port=None, http_port=None, output_dir=None):
    """live-server on 127.0.0.1 with free ports, source-only ladder (no transcoding: the faults
    are about I/O, and CI has 2 cores), status lines every 2 s. Returns (process, rtmp, http)."""
    rtmp, http = rtmp_port or H.free_port(), http_port or H.free_port()
    argv = [live_server_binary(), "--address", "127.0.0.1", "--rtmp-port", str(rtmp), "--http-port", str(http),
            "--output-dir", output_dir or h.path("live-output"), "--ladder", "", "--status-interval", "2", *extra]
    server = h.spawn(name, argv, env=H.gst_env())
    h.wait_listening(rtmp, server, timeout=60)
    h.wait_listening(http, server, timeout=10)
    return server, rtmp, http


def wait_server(what, predicate, timeout, server, interval=0.1, describe=None):
    """Polls predicate until true; fails at once if the server exited. describe() (optional)
    adds what the server reported to the failure message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        H.check(server.alive(), f"{server.name} exited (code {server.returncode()}) while waiting for {what}:\n"
                                f"{H.tail(server.log())}")
        if time.monotonic() >= deadline:
            seen = f"\n{describe()}" if describe else ""
            raise H.TestFailure(f"{what}: not within {timeout} s{seen}\n{H.tail(server.log())}")
        time.sleep(interval)


def source_playlist_url(http, name):
    """URL of the first (source) variant's media playlist of a live-server stream, or None."""
    text = master(http, name)
    if not text or not variants_of(text):
        return None
    return f"http://127.0.0.1:{http}/live/{name}/{variants_of(text)[0][1]}"


def try_fetch(url, timeout=3):
    try:
        return fetch(url, timeout=timeout)
    except OSError:
        return None


def http_status(url, timeout=5):
    """HTTP status of a GET (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def fetch_bytes(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def api_streams(http):
    text = try_fetch(f"http://127.0.0.1:{http}/api/streams")
    return json.loads(text).get("streams", []) if text else []


def segments_of(text):
    """(media sequence of each listed segment, URI, discontinuity before it) of a media playlist."""
    seq = media_sequence(text)
    out, disc = [], False
    for line in text.splitlines():
        if line.startswith("#EXT-X-DISCONTINUITY") and not line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE"):
            disc = True
        elif line and not line.startswith("#"):
            out.append((seq, line, disc))
            seq, disc = seq + 1, False
    return out


def ffmpeg_loop(h, name, src, url):
    """ffmpeg publishing src in a loop in real time (-c copy)."""
    ffmpeg = H.require_tool("ffmpeg")
    return h.spawn(name, [ffmpeg, "-hide_banner", "-nostdin", "-re", "-stream_loop", "-1", "-i", src,
                          "-c", "copy", "-f", "flv", url])


def log_lines(proc, pattern):
    return [line for line in proc.log().splitlines() if re.search(pattern, line)]
