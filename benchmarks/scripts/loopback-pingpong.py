#!/usr/bin/env python3
"""Loopback socket traffic shaped like one token stream, for the interference experiment of
benchmarks/README.md ("ServerBenchmark"): one small message and its echo every ~0.5 ms, between two
threads over a local socket pair, for DURATION seconds. Run it next to `ServerBenchmark --only local`
to see what such traffic alone costs a decoder on the other vCPU."""
import socket
import sys
import threading
import time

duration = float(sys.argv[1]) if len(sys.argv) > 1 else 25.0
a, b = socket.socketpair()


def echo():
    while True:
        d = b.recv(64)
        if not d:
            return
        b.send(d)


threading.Thread(target=echo, daemon=True).start()
end = time.time() + duration
n = 0
while time.time() < end:
    a.send(b"x" * 60)  # about the size of a Token frame
    a.recv(64)
    n += 1
    time.sleep(0.0004)
print(f"{n} round trips in {duration:.0f} s ({n / duration:.0f}/s)")
