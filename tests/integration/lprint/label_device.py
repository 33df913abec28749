#!/usr/bin/env python3
"""The device behind the LPrint printer: a raw TCP socket ("socket://127.0.0.1:PORT", the
AppSocket/JetDirect protocol LPrint's socket: device speaks: the job's bytes on one connection,
closed at the end of the job). Each connection's bytes are written to <out>/<n>.zpl, so the suite
counts the jobs that reached the device and reads what was printed.

While <out>/stall exists, a new connection is accepted but not read (a printer whose buffer is
full): LPrint's job stays processing until the file is removed.

usage: label_device.py <port> <out-dir>
"""
import os
import socket
import sys
import threading
import time

port = int(sys.argv[1])
out = sys.argv[2]
lock = threading.Lock()
# Numbered on from what an earlier device process kept in the folder.
count = len([f for f in os.listdir(out) if f.endswith(".zpl")])


def serve(conn):
    global count
    stall = os.path.join(out, "stall")
    while os.path.exists(stall):
        time.sleep(0.05)
    data = bytearray()
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if bytes(data).strip() == b"~HQES":
            # LPrint asks for the printer's status (ZPL II Programming Guide, ~HQES "Host
            # Query, Error Status") before it answers Get-Printer-Attributes, and waits for the
            # answer: no errors, no warnings.
            conn.sendall(b"\x02\r\n  PRINTER STATUS\r\n"
                         b"   ERRORS:         0 00000000 00000000\r\n"
                         b"   WARNINGS:       0 00000000 00000000\r\n\x03\r\n")
            break
    conn.close()
    with lock:
        count += 1
        n = count
    tmp = os.path.join(out, ".%04d.tmp" % n)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(out, "%04d.zpl" % n))


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# A small receive buffer, so that a stalled device holds the sender back soon.
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
listener.bind(("127.0.0.1", port))
listener.listen(16)
with open(os.path.join(out, "ready"), "w") as f:
    f.write(str(os.getpid()))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
