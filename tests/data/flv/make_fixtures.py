#!/usr/bin/env python3
"""Builds the Enhanced RTMP FLV test fixtures in this folder from real encoder output.

Inputs (made once with ffmpeg 5.1, see README.md): hevc.mp4 (libx265, B-frames), av1.mp4
(libaom), vp9.mp4 (libvpx), opus.ogg (libopus). ffmpeg 5.1 cannot write Enhanced RTMP, so this
script takes the samples and codec configuration boxes out of the MP4/Ogg files and frames them
by hand as the E-RTMP v2 spec says. It writes:
  hevc.flv, av1.flv, vp9.flv, opus.flv   one track each, with onMetaData
  multitrack.flv  video: hvc1 track 0 + av01 track 1 (ManyTracksManyCodecs sequence start,
                  OneTrack coded frames); audio: two Opus tracks 0 and 1 (ManyTracks)
  *.hvcC.bin / *.av1C.bin / *.vpcC.bin / opus.OpusHead.bin   the raw configuration records
Independent of the C++ code under test: it shares no code with lib/flv.
"""
import struct, os

HERE = os.path.dirname(os.path.abspath(__file__))

def boxes(data, start=0, end=None):
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack('>I4s', data[pos:pos + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack('>Q', data[pos + 8:pos + 16])[0]; hdr = 16
        elif size == 0:
            size = end - pos
        yield typ.decode('latin1'), pos + hdr, pos + size
        pos += size

def find(data, path, start=0, end=None):
    name, rest = path[0], path[1:]
    for typ, b, e in boxes(data, start, end):
        if typ == name:
            return (b, e) if not rest else find(data, rest, b, e)
    return None

def mp4_track(path):
    data = open(path, 'rb').read()
    trak = find(data, ['moov', 'trak'])
    mdhd = find(data, ['mdia', 'mdhd'], *trak)
    v = data[mdhd[0]]
    timescale = struct.unpack('>I', data[mdhd[0] + (20 if v == 1 else 12):][:4])[0]
    stbl = find(data, ['mdia', 'minf', 'stbl'], *trak)
    sb, se = find(data, ['stsd'], *stbl)
    entry_start = sb + 8
    etype = data[entry_start + 4:entry_start + 8].decode()
    width, height = struct.unpack('>HH', data[entry_start + 32:entry_start + 36])
    config = None
    for typ, b, e in boxes(data, entry_start + 86, entry_start + struct.unpack('>I', data[entry_start:entry_start + 4])[0]):
        if typ in ('hvcC', 'av1C', 'vpcC'):
            config = (typ, data[b:e])
    def box(name):
        r = find(data, [name], *stbl)
        return data[r[0]:r[1]] if r else None
    stsz = box('stsz'); fixed, count = struct.unpack('>II', stsz[4:12])
    sizes = [fixed] * count if fixed else list(struct.unpack('>%dI' % count, stsz[12:12 + 4 * count]))
    stco = box('stco'); co64 = box('co64')
    if stco:
        n = struct.unpack('>I', stco[4:8])[0]; chunks = list(struct.unpack('>%dI' % n, stco[8:8 + 4 * n]))
    else:
        n = struct.unpack('>I', co64[4:8])[0]; chunks = list(struct.unpack('>%dQ' % n, co64[8:8 + 8 * n]))
    stsc = box('stsc'); n = struct.unpack('>I', stsc[4:8])[0]
    runs = [struct.unpack('>III', stsc[8 + 12 * i:20 + 12 * i]) for i in range(n)]
    offsets = []
    for ci, off in enumerate(chunks):
        per = [r[1] for r in runs if r[0] <= ci + 1][-1]
        for _ in range(per):
            offsets.append(off); off += sizes[len(offsets) - 1]
    stts = box('stts'); n = struct.unpack('>I', stts[4:8])[0]
    dts, t = [], 0
    for i in range(n):
        c, d = struct.unpack('>II', stts[8 + 8 * i:16 + 8 * i])
        for _ in range(c): dts.append(t); t += d
    ctts = box('ctts'); cts = [0] * count
    if ctts:
        n = struct.unpack('>I', ctts[4:8])[0]; k = 0
        for i in range(n):
            c, o = struct.unpack('>Ii', ctts[8 + 8 * i:16 + 8 * i])
            for _ in range(c): cts[k] = o; k += 1
    stss = box('stss')
    sync = set(struct.unpack('>%dI' % struct.unpack('>I', stss[4:8])[0], stss[8:])) if stss else None
    samples = []
    for i in range(count):
        ms = lambda x: (x * 1000 + timescale // 2) // timescale
        samples.append(dict(data=data[offsets[i]:offsets[i] + sizes[i]], dts=ms(dts[i]),
                            cts=ms(dts[i] + cts[i]) - ms(dts[i]), key=(sync is None or (i + 1) in sync)))
    return etype, width, height, config, samples

def ogg_packets(path):
    data = open(path, 'rb').read(); pos = 0; packets = []; cur = b''
    while pos < len(data):
        assert data[pos:pos + 4] == b'OggS'
        nseg = data[pos + 26]; lace = data[pos + 27:pos + 27 + nseg]; body = pos + 27 + nseg
        for l in lace:
            cur += data[body:body + l]; body += l
            if l < 255: packets.append(cur); cur = b''
        pos = body
    return packets

def tag(typ, ts, payload):
    return (struct.pack('>B', typ) + struct.pack('>I', len(payload))[1:] + struct.pack('>I', ts & 0xFFFFFF)[1:] +
            bytes([(ts >> 24) & 0xFF]) + b'\0\0\0' + payload + struct.pack('>I', 11 + len(payload)))

def flv_header(audio, video):
    return b'FLV\x01' + bytes([(4 if audio else 0) | (1 if video else 0)]) + struct.pack('>II', 9, 0)

def amf_str(s): return struct.pack('>H', len(s)) + s.encode()
def on_meta(fields):
    out = b'\x02' + amf_str('onMetaData') + b'\x08' + struct.pack('>I', len(fields))
    for k, v in fields:
        out += amf_str(k)
        if isinstance(v, bool): out += b'\x01' + bytes([v])
        elif isinstance(v, (int, float)): out += b'\x00' + struct.pack('>d', float(v))
        else: out += b'\x02' + amf_str(v)
    return out + b'\x00\x00\x09'

FOURCC = {'hvc1': b'hvc1', 'hev1': b'hvc1', 'av01': b'av01', 'vp09': b'vp09'}
# E-RTMP v2: ExVideoTagHeader byte = IsExHeader(1) | FrameType(3) | PacketType(4)
SEQ_START, CODED, SEQ_END, CODED_X, MULTITRACK = 0, 1, 2, 3, 6
def ex_video(frame_type, packet_type, fourcc, body):
    return bytes([0x80 | (frame_type << 4) | packet_type]) + fourcc + body

def video_body(fourcc, s):
    # Composition time (SI24) only for avc1/hvc1 CodedFrames; CodedFramesX when it is zero.
    if fourcc == b'hvc1' and s['cts'] != 0:
        return CODED, struct.pack('>i', s['cts'])[1:] + s['data']
    return (CODED_X if fourcc == b'hvc1' else CODED), s['data']

def video_flv(name):
    etype, w, h, (ctype, config), samples = mp4_track(os.path.join(HERE, name + '.mp4'))
    fourcc = FOURCC[etype]
    open(os.path.join(HERE, '%s.%s.bin' % (name, ctype)), 'wb').write(config)
    out = flv_header(False, True)
    out += tag(18, 0, on_meta([('width', w), ('height', h), ('framerate', 25),
                               ('videocodecid', struct.unpack('>I', fourcc)[0])]))
    out += tag(9, 0, ex_video(1, SEQ_START, fourcc, config))
    for s in samples:
        pt, body = video_body(fourcc, s)
        out += tag(9, s['dts'], ex_video(1 if s['key'] else 2, pt, fourcc, body))
    out += tag(9, samples[-1]['dts'], ex_video(1, SEQ_END, fourcc, b''))
    open(os.path.join(HERE, name + '.flv'), 'wb').write(out)
    return fourcc, config, samples

def opus_tracks():
    packets = ogg_packets(os.path.join(HERE, 'opus.ogg'))
    head, frames = packets[0], packets[2:]  # [1] is OpusTags
    open(os.path.join(HERE, 'opus.OpusHead.bin'), 'wb').write(head)
    return head, frames

def ex_audio(packet_type, fourcc, body):  # SoundFormat 9 = ExHeader
    return bytes([0x90 | packet_type]) + fourcc + body

def main():
    hevc = video_flv('hevc'); av1 = video_flv('av1'); video_flv('vp9')
    head, frames = opus_tracks()
    out = flv_header(True, False)
    out += tag(18, 0, on_meta([('audiocodecid', struct.unpack('>I', b'Opus')[0]), ('audiosamplerate', 48000),
                               ('stereo', True)]))
    out += tag(8, 0, ex_audio(0, b'Opus', head))
    for i, f in enumerate(frames):  # libopus default: 20 ms per packet
        out += tag(8, 20 * i, ex_audio(1, b'Opus', f))
    open(os.path.join(HERE, 'opus.flv'), 'wb').write(out)

    # multitrack.flv
    out = flv_header(True, True)
    # ManyTracksManyCodecs: per track FourCC, track id, SI24 size, body
    seq = b''
    for fourcc, config, tid in ((hevc[0], hevc[1], 0), (av1[0], av1[1], 1)):
        seq += fourcc + bytes([tid]) + struct.pack('>I', len(config))[1:] + config
    out += tag(9, 0, bytes([0x80 | (1 << 4) | MULTITRACK, (2 << 4) | SEQ_START]) + seq)
    # Audio ManyTracks (AudioPacketType.Multitrack = 5): shared FourCC, per track id + size
    def many_tracks(pt, bodies):
        return bytes([0x90 | 5, (1 << 4) | pt]) + b'Opus' + b''.join(
            bytes([tid]) + struct.pack('>I', len(b))[1:] + b for tid, b in bodies)
    out += tag(8, 0, many_tracks(0, [(0, head), (1, head)]))
    n = min(len(hevc[2]), len(av1[2]))
    events = []
    for i in range(n):
        for fourcc, s, tid in ((hevc[0], hevc[2][i], 0), (av1[0], av1[2][i], 1)):
            pt, body = video_body(fourcc, s)
            # OneTrack: shared FourCC, track id, body (no size)
            events.append((s['dts'], 9, bytes([0x80 | ((1 if s['key'] else 2) << 4) | MULTITRACK, (0 << 4) | pt])
                           + fourcc + bytes([tid]) + body))
    for i, f in enumerate(frames[:25]):
        events.append((20 * i, 8, many_tracks(1, [(0, f), (1, f)])))
    events.sort(key=lambda e: (e[0], e[1]))
    for ts, typ, payload in events:
        out += tag(typ, ts, payload)
    open(os.path.join(HERE, 'multitrack.flv'), 'wb').write(out)

if __name__ == '__main__':
    main()
