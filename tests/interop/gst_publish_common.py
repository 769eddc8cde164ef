"""Publishing from a GStreamer pipeline (rtmp2sink or librtmp's rtmpsink) while recording the
exact FLV stream it sends, then checking what our ingest produced against that recording."""

import shlex

import harness as H

VIDEO_FRAMES = 100      # 4 s at 25 fps
AUDIO_BUFFERS = 172     # 1024-sample buffers at 44.1 kHz, ~4 s


def publisher_pipeline(sink, sent_path):
    return (f"videotestsrc is-live=true num-buffers={VIDEO_FRAMES} pattern=ball "
            f"! video/x-raw,width=320,height=240,framerate=25/1 "
            f"! x264enc bframes=2 key-int-max=25 speed-preset=veryfast ! h264parse ! queue ! m.video "
            f"audiotestsrc is-live=true num-buffers={AUDIO_BUFFERS} samplesperbuffer=1024 "
            f"! audio/x-raw,rate=44100,channels=1 ! avenc_aac ! aacparse ! queue ! m.audio "
            f"flvmux name=m streamable=true ! tee name=t "
            f"t. ! queue ! {sink} "
            f"t. ! queue ! filesink location={shlex.quote(sent_path)}")


def run(h, name, sink_element, sink_template):
    for tool in ("ffprobe", "gst-launch-1.0"):
        H.require_tool(tool)
    for element in ("x264enc", "avenc_aac", "flvmux", sink_element):
        H.require_gst_element(element)
    port, key, out = H.free_port(), f"interop-{name}", h.path("out")
    url = f"rtmp://127.0.0.1:{port}/live/{key}"
    gst = h.gst_launch("gst", H.ingest_branch(port, key, out))
    h.wait_listening(port, gst)
    sent = h.path("sent.flv")
    pub = h.gst_launch("publisher", publisher_pipeline(sink_template.format(url=url), sent), messages=False)
    rc = h.wait_exit(pub, 60, f"publishing {VIDEO_FRAMES} frames")
    H.check(rc == 0, f"{sink_element} publisher failed (exit {rc}):\n{H.tail(pub.log())}")
    h.stop_pipeline(gst, H.IDLE_TIMEOUT_S + 15, "the publisher left")

    expected = H.MediaFile(sent)
    h.log(f"publisher sent: {expected.summary()}")
    H.check(len(expected.packets["video"]) == VIDEO_FRAMES,
            f"publisher recording has {len(expected.packets['video'])} video frames, expected {VIDEO_FRAMES}")
    actual = H.read_ingest(out)
    for rec in actual.values():
        h.log(rec.summary())
    H.check(len(actual["video"].packets) == VIDEO_FRAMES,
            f"our output has {len(actual['video'].packets)} video frames, the publisher sent {VIDEO_FRAMES}")
    offset = H.compare_streams(expected, actual)
    dts = [p.dts for p in actual["video"].packets]
    H.check(all(b >= a for a, b in zip(dts, dts[1:])), "video DTS goes backwards")
    h.log(f"{VIDEO_FRAMES} video frames and {len(expected.packets['audio'])} audio frames bit-identical, "
          f"PTS/DTS equal to what {sink_element} sent up to offset {offset / 1e6:.3f} ms")
    H.check(len(H.bus_messages(gst.log(), "rtmp-publish-start")) == 1, "expected one rtmp-publish-start message")
