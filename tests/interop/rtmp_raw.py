"""A minimal RTMP publisher written for tests that need to misbehave where real clients cannot:
plain handshake, connect, createStream, publish (AMF0 commands on chunk stream 3, 128-byte
chunks), then whatever bytes the test wants to send. Loopback only."""

import os
import socket
import struct
import time


def _amf_string(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def _amf_number(n):
    return b"\x00" + struct.pack(">d", n)


def _amf_object(props):
    out = b"\x03"
    for k, v in props.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb
        out += _amf_string(v) if isinstance(v, str) else _amf_number(v)
    return out + b"\x00\x00\x09"


def _message(csid, type_id, stream_id, payload, chunk_size=128):
    """One message as fmt-0 chunk then fmt-3 continuation chunks."""
    header = bytes([csid]) + struct.pack(">I", 0)[1:] + struct.pack(">I", len(payload))[1:] + bytes([type_id])
    header += struct.pack("<I", stream_id)
    out = header + payload[:chunk_size]
    for at in range(chunk_size, len(payload), chunk_size):
        out += bytes([0xC0 | csid]) + payload[at:at + chunk_size]
    return out


class RawPublisher:
    def __init__(self, port, app, key, timeout=10, wait_for_answer=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.received = b""
        self._handshake()
        tc_url = f"rtmp://127.0.0.1:{port}/{app}"
        self.sock.sendall(_message(3, 20, 0, _amf_string("connect") + _amf_number(1) + _amf_object(
            {"app": app, "type": "nonprivate", "flashVer": "FMLE/3.0 (raw test client)", "tcUrl": tc_url})))
        self._wait_for(b"NetConnection.Connect.Success")
        self.sock.sendall(_message(3, 20, 0, _amf_string("createStream") + _amf_number(2) + b"\x05"))
        self._wait_for(b"_result", after=b"NetConnection.Connect.Success")
        self.sock.sendall(_message(8, 20, 1, _amf_string("publish") + _amf_number(3) + b"\x05" +
                                   _amf_string(key) + _amf_string("live")))
        self.accepted = self._wait_for(b"NetStream.Publish.Start", fail_on=b"NetStream.Publish.BadName") \
            if wait_for_answer else None

    def _handshake(self):
        c1 = struct.pack(">II", 0, 0) + os.urandom(1528)
        self.sock.sendall(b"\x03" + c1)
        s = b""
        while len(s) < 3073:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed during the handshake")
            s += chunk
        self.sock.sendall(s[1:1537])  # C2 echoes S1
        self.received = s[3073:]

    def _wait_for(self, marker, after=b"", fail_on=None, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tail = self.received.split(after, 1)[-1] if after else self.received
            if marker in tail:
                return True
            if fail_on and fail_on in self.received:
                return False
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.received += chunk
        raise TimeoutError(f"no {marker!r} from the server")

    def send(self, data):
        self.sock.sendall(data)

    def send_message(self, type_id, timestamp, payload):
        """One audio (8) / video (9) / data (18) message on the published stream."""
        csid = {8: 4, 9: 6, 18: 5}.get(type_id, 7)
        header = bytes([csid]) + struct.pack(">I", timestamp & 0xFFFFFF)[1:] + \
            struct.pack(">I", len(payload))[1:] + bytes([type_id]) + struct.pack("<I", 1)
        out = header + payload[:128]
        for at in range(128, len(payload), 128):
            out += bytes([0xC0 | csid]) + payload[at:at + 128]
        self.sock.sendall(out)

    def close(self):
        self.sock.close()


def read_flv_tags(path):
    """[(type, timestamp ms, payload)] of an FLV file."""
    data = open(path, "rb").read()
    assert data[:3] == b"FLV", path
    pos = struct.unpack(">I", data[5:9])[0] + 4
    tags = []
    while pos + 11 <= len(data):
        type_id = data[pos]
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        tags.append((type_id, ts, data[pos + 11:pos + 11 + size]))
        pos += 11 + size + 4
    return tags
