"""Process and port helpers shared by the WHEP benchmarks (whep_latency.py, whep_viewers.py)."""

import os
import shutil
import signal
import socket
import subprocess
import sys


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def require(tool, package):
    """The tool's path; a missing tool ends the benchmark with the Debian package to install."""
    path = shutil.which(tool)
    if path is None:
        sys.exit(f'FAIL: {tool} not found (Debian package {package}; scripts/install-deps.sh)')
    return path


def stop(proc, sig=signal.SIGTERM, wait=5):
    """Stops a process started with start_new_session=True (its whole group), by PID only."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=wait)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
