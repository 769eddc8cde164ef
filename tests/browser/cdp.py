"""A minimal Chrome DevTools Protocol client (Python standard library only): enough to drive a
headless chromium the way a user would (read the page, click, take a screenshot).

chromium started with --remote-debugging-port=0 writes the port it picked to
<user-data-dir>/DevToolsActivePort; Page.connect() finds the page target there and talks to it
over a WebSocket (RFC 6455, text frames, client frames masked)."""

import base64
import json
import os
import socket
import struct
import time
import urllib.request


class CdpError(Exception):
    pass


def devtools_port(profile_dir, timeout):
    path = os.path.join(profile_dir, 'DevToolsActivePort')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                first = f.readline().strip()
            if first:
                return int(first)
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise CdpError(f'{path} not written within {timeout} s (chromium did not start its DevTools server)')


class Page:
    def __init__(self, ws_url, timeout=10.0):
        host_port, _, path = ws_url.split('://', 1)[1].partition('/')
        host, _, port = host_port.rpartition(':')
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        # No Origin header: chromium accepts DevTools WebSocket clients that send none.
        self.sock.sendall((f'GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\n'
                           f'Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n'
                           'Sec-WebSocket-Version: 13\r\n\r\n').encode())
        head = b''
        while b'\r\n\r\n' not in head:
            block = self.sock.recv(4096)
            if not block:
                raise CdpError('DevTools closed the connection during the WebSocket handshake')
            head += block
        head, self.buffer = head.split(b'\r\n\r\n', 1)
        if not head.startswith(b'HTTP/1.1 101'):
            raise CdpError('DevTools WebSocket handshake refused: ' + head.decode('latin-1').splitlines()[0])
        self.next_id = 0

    @classmethod
    def connect(cls, profile_dir, url_prefix, timeout=15.0):
        """The page target whose URL starts with url_prefix."""
        port = devtools_port(profile_dir, timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=5) as r:
                targets = json.load(r)
            for t in targets:
                if t.get('type') == 'page' and t.get('url', '').startswith(url_prefix):
                    return cls(t['webSocketDebuggerUrl'])
            time.sleep(0.2)
        raise CdpError(f'no page at {url_prefix} among the DevTools targets: {targets}')

    def close(self):
        self.sock.close()

    def _send(self, text):
        payload = text.encode()
        n = len(payload)
        if n < 126:
            header = struct.pack('!BB', 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack('!BBH', 0x81, 0x80 | 126, n)
        else:
            header = struct.pack('!BBQ', 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _exact(self, n):
        while len(self.buffer) < n:
            block = self.sock.recv(max(65536, n - len(self.buffer)))
            if not block:
                raise CdpError('DevTools closed the connection')
            self.buffer += block
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _message(self):
        data = b''
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack('!H', self._exact(2))[0]
            elif n == 127:
                n = struct.unpack('!Q', self._exact(8))[0]
            mask = self._exact(4) if b1 & 0x80 else None
            payload = self._exact(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0f
            if opcode == 0x8:
                raise CdpError('DevTools closed the WebSocket')
            if opcode in (0x9, 0xA):  # ping / pong: chromium does not ping its clients; ignore
                continue
            data += payload
            if b0 & 0x80:
                return data.decode()

    def call(self, method, **params):
        self.next_id += 1
        call_id = self.next_id
        self._send(json.dumps({'id': call_id, 'method': method, 'params': params}))
        while True:
            message = json.loads(self._message())
            if message.get('id') == call_id:
                if 'error' in message:
                    raise CdpError(f'{method}: {message["error"]}')
                return message.get('result', {})
            # Events (none are enabled) and other answers are dropped.

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call('Runtime.evaluate', expression=expression, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in result:
            raise CdpError(f'{expression!r} threw: {result["exceptionDetails"]}')
        return result['result'].get('value')

    def click(self, selector):
        """A real mouse click (pressed + released) at the middle of the element."""
        rect = self.evaluate(f'(() => {{ const e = document.querySelector({json.dumps(selector)}); '
                             'if (!e) return null; e.scrollIntoView({block: "center"}); '
                             'const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()')
        if rect is None:
            raise CdpError(f'nothing on the page matches {selector}')
        x, y = rect
        for kind in ('mouseMoved', 'mousePressed', 'mouseReleased'):
            self.call('Input.dispatchMouseEvent', type=kind, x=x, y=y, button='left',
                      clickCount=0 if kind == 'mouseMoved' else 1)

    def screenshot(self, path):
        data = self.call('Page.captureScreenshot', format='png')['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        return path
