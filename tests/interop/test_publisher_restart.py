#!/usr/bin/env python3
"""interop-publisher-restart: an ffmpeg publisher is SIGKILLed mid-stream and a new one publishes
to the same key. One pipeline, one continuous output: no EOS in between (the pipeline keeps
running and the same recording goes on), what arrived of the first session is an intact prefix of
its input, the second session arrives complete and bit-identical, DTS never goes backwards, and
the second session follows the first on the clock (the DTS gap is about as long as the publisher
was away, not longer)."""

import signal
import time

import harness as H

IDLE_TIMEOUT = 5
GAP_TOLERANCE_MS = 1500


def split_at(actual_packets, second_packets):
    """Index of the first output packet that is the second session's first packet."""
    first = second_packets[0]
    for i, p in enumerate(actual_packets):
        if p.hash == first.hash and p.size == first.size:
            return i
    return None


def body(h):
    for tool in ("ffmpeg", "ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    src1 = H.make_test_flv("f1", seconds=8)
    src2 = H.make_test_flv("f2", pattern="testsrc", tone=660, seconds=4)
    exp1, exp2 = H.MediaFile(src1), H.MediaFile(src2)
    port, key, out = H.free_port(), "interop-restart", h.path("out")
    url = f"rtmp://127.0.0.1:{port}/live/{key}"
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out, idle_timeout=IDLE_TIMEOUT))
    h.wait_listening(port, gst)

    pub1 = H.ffmpeg_publish(h, "ffmpeg-1", src1, url)
    time.sleep(3.5)
    H.check(pub1.alive(), f"first publisher ended early (exit {pub1.returncode()}):\n{H.tail(pub1.log())}")
    pub1.signal(signal.SIGKILL)
    t_kill = time.monotonic()
    pub1.wait(5)
    h.log("first publisher killed with SIGKILL after 3.5 s")
    time.sleep(0.5)
    H.check(gst.alive(), f"our pipeline ended when the publisher was killed:\n{H.tail(gst.log())}")
    H.check("Got EOS" not in gst.log(), "the pipeline posted EOS after the publisher was killed")

    pub2 = H.ffmpeg_publish(h, "ffmpeg-2", src2, url)
    wall_gap_ms = (time.monotonic() - t_kill) * 1000
    rc = h.wait_exit(pub2, 40, "publishing a 4 s file")
    H.check(rc == 0, f"second publisher failed (exit {rc}):\n{H.tail(pub2.log())}")
    h.stop_pipeline(gst, IDLE_TIMEOUT + 15, "the second publisher left")

    actual = H.read_ingest(out)
    for kind, rec in actual.items():
        h.log(rec.summary())
        pk = rec.packets
        cut = split_at(pk, exp2.packets[kind])
        H.check(cut is not None, f"{kind}: the second session's first packet is not in the output")
        first_part, second_part = pk[:cut], pk[cut:]
        exp_first = exp1.packets[kind]
        H.check(len(first_part) >= (10 if kind == "video" else 20),
                f"{kind}: only {len(first_part)} packets of the first session before the restart")
        H.check(len(first_part) <= len(exp_first), f"{kind}: more first-session packets than the input has")
        for i, (a, e) in enumerate(zip(first_part, exp_first)):
            H.check(a.hash == e.hash and a.size == e.size,
                    f"{kind}: first-session packet {i} is not the input's packet {i}: {a} vs {e}")
        off1 = first_part[0].dts - exp_first[0].dts * 1_000_000
        for i, (a, e) in enumerate(zip(first_part, exp_first)):
            H.check(a.dts - off1 == e.dts * 1_000_000 and a.pts - off1 == e.pts * 1_000_000,
                    f"{kind}: first-session packet {i} timestamps moved: {a} vs {e} (offset {off1 / 1e6} ms)")
        exp_second = exp2.packets[kind]
        H.check(len(second_part) == len(exp_second),
                f"{kind}: {len(second_part)} packets after the restart, the second publisher sent {len(exp_second)}")
        off2 = second_part[0].dts - exp_second[0].dts * 1_000_000
        for i, (a, e) in enumerate(zip(second_part, exp_second)):
            H.check(a.hash == e.hash and a.size == e.size, f"{kind}: second-session packet {i} differs: {a} vs {e}")
            H.check(a.dts - off2 == e.dts * 1_000_000 and a.pts - off2 == e.pts * 1_000_000,
                    f"{kind}: second-session packet {i} timestamps: {a} vs {e} (offset {off2 / 1e6} ms)")
        dts = [p.dts for p in pk]
        back = [i for i in range(1, len(dts)) if dts[i] < dts[i - 1]]
        H.check(not back, f"{kind}: DTS goes backwards at output packets {back[:5]}: "
                          f"{[pk[i - 1] for i in back[:2]]} -> {[pk[i] for i in back[:2]]}")
        gap_ms = (second_part[0].dts - first_part[-1].dts) / 1e6
        # The second session must follow on the clock: its first frame comes about as long after
        # the first session's last frame as the publisher was away (plus connect time), not later.
        H.check(gap_ms <= wall_gap_ms + GAP_TOLERANCE_MS,
                f"{kind}: the second session starts {gap_ms:.0f} ms after the first one's last packet, but the "
                f"publisher was away only {wall_gap_ms:.0f} ms (tolerance {GAP_TOLERANCE_MS} ms): "
                f"{first_part[-1]} -> {second_part[0]}")
        h.log(f"{kind}: {len(first_part)} packets of session 1 (intact prefix), {len(second_part)} of session 2 "
              f"(complete), DTS gap across the restart {gap_ms:.1f} ms (publisher away {wall_gap_ms:.0f} ms), monotonic")
    starts = H.bus_messages(gst.log(), "rtmp-publish-start")
    H.check(len(starts) == 2, f"expected two rtmp-publish-start messages, got {len(starts)}")


if __name__ == "__main__":
    H.main("interop-publisher-restart", body, deadline_s=180)
