#!/usr/bin/env python3
"""What deliveries cost: end-to-end files/s with the callback, Splunk HEC and S3 (samples and
reports) all on, against local receivers, beside the same run with no deliveries.

Usage: scripts/bench-deliveries.py --bin target/release/assay --s3s-fs PATH [--small N] [--rounds R]
(scripts/bench-deliveries.sh builds the release binary and finds s3s-fs.)

Each round starts a fresh server, uploads N files of 4 KiB over 8 keep-alive connections and
waits until every task is processed and, with deliveries, until the outbox is empty (every
callback, HEC event, sample and report delivered). Rounds alternate between the two setups; the
medians are compared. The receivers (a threaded Python HTTP server for the callback and HEC,
s3s-fs for S3) run on the same machine and take their share of its CPU.
"""
import argparse
import http.client
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (scripts/bench.py: start, upload_many, wait_all)


class Receiver(http.server.BaseHTTPRequestHandler):
    """Takes callbacks and HEC events: reads the body, answers 200 (HEC's code 0)."""
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle holds the body back until the
    # client's delayed ACK (40 ms a request on a keep-alive connection).
    disable_nagle_algorithm = True
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"text":"Success","code":0}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with Receiver.lock:
            Receiver.count += 1

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outbox_empty(port, limit=600):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    started = time.time()
    while time.time() - started < limit:
        conn.request("GET", "/srv/tiscale/v1/sysinfo")
        if json.loads(conn.getresponse().read())["outbox"]["pending"] == 0:
            return
        time.sleep(0.05)
    sys.exit("deliveries were not made in time")


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_(binary, config, files, clients, deliveries, s3pid):
    """Files/s end to end, and the CPU ms per file of assay and of s3s-fs."""
    with tempfile.TemporaryDirectory(prefix="assay-bench-deliveries-") as tmp:
        proc, port = bench.start(binary, tmp, config)
        try:
            s3_before = cpu_seconds(s3pid)
            t0 = time.time()
            bench.upload_many(port, files, clients)
            bench.wait_all(port, len(files))
            if deliveries:
                outbox_empty(port)
            rate = len(files) / (time.time() - t0)
            per_file = 1000 / len(files)
            return (rate, cpu_seconds(proc.pid) * per_file,
                    (cpu_seconds(s3pid) - s3_before) * per_file)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--s3s-fs", required=True)
    ap.add_argument("--small", type=int, default=2000, help="files of 4 KiB per round")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    rport = receiver.server_address[1]

    with tempfile.TemporaryDirectory(prefix="assay-bench-s3-") as s3root:
        for bucket in ["samples", "reports"]:
            os.makedirs(os.path.join(s3root, bucket))
        s3port = free_port()
        s3 = subprocess.Popen([args.s3s_fs, "--host", "127.0.0.1", "--port", str(s3port),
                               "--access-key", "benchkey", "--secret-key", "benchsecret",
                               s3root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", s3port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            with_deliveries = f"""
[callback]
url = "http://127.0.0.1:{rport}/callback"
[splunk]
url = "http://127.0.0.1:{rport}"
token = "bench"
[s3]
endpoint = "http://127.0.0.1:{s3port}"
path_style = true
access_key_id = "benchkey"
secret_access_key = "benchsecret"
samples = "samples"
reports = "reports"
"""
            print(f"assay deliveries bench: {os.cpu_count()} cores, {args.small} files of 4 KiB "
                  f"per round, {args.clients} client connections, {args.rounds} rounds each")
            plain, delivered = [], []
            for r in range(args.rounds):
                files = [os.urandom(4096) for _ in range(args.small)]
                plain.append(round_(args.bin, "", files, args.clients, False, s3.pid))
                files = [os.urandom(4096) for _ in range(args.small)]
                delivered.append(
                    round_(args.bin, with_deliveries, files, args.clients, True, s3.pid))
                print(f"round {r + 1}: {plain[-1][0]:7.0f} files/s without deliveries, "
                      f"{delivered[-1][0]:7.0f} files/s with callback + Splunk + S3")

            def med(rows, i):
                return statistics.median(row[i] for row in rows)

            a, b = med(plain, 0), med(delivered, 0)
            cost = (1 - b / a) * 100
            print(f"median: {a:.0f} files/s without, {b:.0f} files/s with every delivery made "
                  f"({Receiver.count} callback and HEC requests received)")
            print(f"CPU per file: assay {med(plain, 1):.2f} ms without, {med(delivered, 1):.2f} ms "
                  f"with deliveries; s3s-fs {med(delivered, 2):.2f} ms (on the same cores)")
            verdict = "within" if cost <= 10 else "OVER"
            print(f"deliveries cost {cost:.1f} % of end-to-end files/s: {verdict} the 10 % target")
        finally:
            s3.terminate()
            s3.wait(timeout=10)


if __name__ == "__main__":
    main()
