"""A point-to-point link between two network namespaces that delays, loses and rate-limits IP
packets in user space, for kernels without sch_netem (this project's CI machine has none, and no
iptables/nft either). Each end is a TUN device; this process reads every packet one end sends and
writes it into the other end, so the namespaces' own TCP stacks see real loss, delay and a
bandwidth cap (retransmissions, shrinking windows, full send queues), as they would behind netem.

Per direction, like `netem delay D loss P` over `tbf rate R limit ...`:
- loss: each packet is dropped with probability `loss` (seeded generator: the same seed drops
  the same packet numbers);
- rate: packets leave one after another at `rate_bps`; one that would wait more than
  `queue_limit_s` behind the packets already queued is dropped (tail drop, like tbf's latency);
- delay: each packet is delivered `delay_s` after it left the rate limiter.
Python standard library only; needs /dev/net/tun and CAP_NET_ADMIN in the caller's namespace."""

import collections
import fcntl
import os
import random
import select
import struct
import subprocess
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def parse_impairment(text):
    """'rate=400kbit delay=80ms loss=3%' (or comma-separated) -> dict(rate_bps=400000, delay_s=0.08,
    loss=0.03).
    Missing keys mean no impairment of that kind; an unknown key or a bad value raises ValueError."""
    units = {"bit": 1, "kbit": 1e3, "mbit": 1e6}
    out = {"rate_bps": 0.0, "delay_s": 0.0, "loss": 0.0}
    for item in text.replace(",", " ").split():
        key, _, value = item.partition("=")
        if key == "rate":
            number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
            unit = value[len(number):] or "bit"
            if unit not in units:
                raise ValueError(f"rate unit {unit!r}: use bit, kbit or mbit")
            out["rate_bps"] = float(number) * units[unit]
        elif key == "delay":
            if not value.endswith("ms"):
                raise ValueError(f"delay {value!r}: give it in ms, e.g. delay=80ms")
            out["delay_s"] = float(value[:-2]) / 1000
        elif key == "loss":
            if not value.endswith("%"):
                raise ValueError(f"loss {value!r}: give it in percent, e.g. loss=3%")
            out["loss"] = float(value[:-1]) / 100
        else:
            raise ValueError(f"unknown impairment {key!r} (rate=, delay=, loss=)")
    if not 0 <= out["loss"] < 1:
        raise ValueError("loss must be in [0, 100)%")
    return out


def _open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class _Direction:
    """One direction of the link: packets read from `src_fd`, written to `dst_fd`."""

    def __init__(self, name, src_fd, dst_fd, rate_bps, delay_s, loss, queue_limit_s, rng):
        self.name, self.src_fd, self.dst_fd = name, src_fd, dst_fd
        self.rate_bps, self.delay_s, self.loss, self.queue_limit_s = rate_bps, delay_s, loss, queue_limit_s
        self.rng = rng
        self.pending = collections.deque()  # (deliver_at, packet), deliver_at never decreasing
        self.cond = threading.Condition()
        self.link_free_at = 0.0
        self.stats = {"packets": 0, "bytes": 0, "lost": 0, "queue_dropped": 0, "delivered": 0, "write_errors": 0}

    def accept(self, packet, now):
        self.stats["packets"] += 1
        self.stats["bytes"] += len(packet)
        if self.loss and self.rng.random() < self.loss:
            self.stats["lost"] += 1
            return
        departs = now
        if self.rate_bps:
            start = max(now, self.link_free_at)
            if start - now > self.queue_limit_s:
                self.stats["queue_dropped"] += 1
                return
            departs = start + len(packet) * 8 / self.rate_bps
            self.link_free_at = departs
        with self.cond:
            self.pending.append((departs + self.delay_s, packet))
            self.cond.notify()

    def deliver_loop(self, stopping):
        while not stopping.is_set():
            with self.cond:
                while not self.pending and not stopping.is_set():
                    self.cond.wait(0.2)
                if stopping.is_set():
                    return
                due, packet = self.pending[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self.cond.wait(min(wait, 0.2))
                    continue
                self.pending.popleft()
            try:
                os.write(self.dst_fd, packet)
                self.stats["delivered"] += 1
            except OSError:
                self.stats["write_errors"] += 1  # the device went down (link being deleted)


class ImpairedLink:
    """TUN device `a_dev` in namespace `a_ns` (address a_addr) <-> `b_dev` in `b_ns` (b_addr),
    both /32 point-to-point. `a_to_b` and `b_to_a` are parse_impairment() dicts. start() makes
    the devices and starts the forwarding threads; close() stops them and removes the devices."""

    def __init__(self, a_ns, a_dev, a_addr, b_ns, b_dev, b_addr, a_to_b, b_to_a, seed=1, queue_limit_s=0.4):
        self.ends = [(a_ns, a_dev, a_addr, b_addr), (b_ns, b_dev, b_addr, a_addr)]
        self.impairment = (a_to_b, b_to_a)
        self.seed, self.queue_limit_s = seed, queue_limit_s
        self.fds, self.threads, self.directions = [], [], []
        self.stopping = threading.Event()

    def start(self):
        for ns, dev, _, _ in self.ends:
            self.fds.append(_open_tun(dev))
            _ip("link", "set", dev, "netns", ns)
        for ns, dev, local, peer in self.ends:
            _ip("-n", ns, "addr", "add", local, "peer", peer, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        rng = random.Random(self.seed)
        (a_ns, a_dev, _, _), (b_ns, b_dev, _, _) = self.ends
        for (src, dst, name), imp in zip(((0, 1, f"{a_ns}->{b_ns}"), (1, 0, f"{b_ns}->{a_ns}")), self.impairment):
            d = _Direction(name, self.fds[src], self.fds[dst], imp["rate_bps"], imp["delay_s"], imp["loss"],
                           self.queue_limit_s, random.Random(rng.random()))
            self.directions.append(d)
            t = threading.Thread(target=d.deliver_loop, args=(self.stopping,), name=f"link-{name}", daemon=True)
            t.start()
            self.threads.append(t)
        reader = threading.Thread(target=self._read_loop, name="link-reader", daemon=True)
        reader.start()
        self.threads.append(reader)
        return self

    def _read_loop(self):
        by_fd = {d.src_fd: d for d in self.directions}
        while not self.stopping.is_set():
            ready, _, _ = select.select(list(by_fd), [], [], 0.2)
            now = time.monotonic()
            for fd in ready:
                while True:
                    try:
                        packet = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        return
                    by_fd[fd].accept(packet, now)

    def stats(self):
        return {d.name: dict(d.stats) for d in self.directions}

    def close(self):
        self.stopping.set()
        for d in self.directions:
            with d.cond:
                d.cond.notify_all()
        for t in self.threads:
            t.join(5)
        for fd in self.fds:
            os.close(fd)  # a TUN device without IFF_PERSIST goes away with its last descriptor
        self.fds = []


def _ip(*args):
    r = subprocess.run(["ip", *args], capture_output=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.decode(errors='replace').strip()}")
