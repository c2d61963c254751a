#!/usr/bin/env python3
"""What deliveries cost: end-to-end files/s with the callback, Splunk HEC and S3 (samples and
reports) all on, against local receivers, beside the same run with no deliveries.

Usage: scripts/bench-deliveries.py --bin target/release/assay --s3s-fs PATH [--small N] [--rounds R]
       [--size-kib K] [--outbox-threads T] [--shared]
(scripts/bench-deliveries.sh builds the release binary and finds s3s-fs.)

Each round starts a fresh server, uploads N files of 4 KiB (the small-file row of scripts/bench.py;
`--size-kib 1024 --small 300` is its 1 MiB row) over 8 keep-alive connections and
waits until every task is processed and every delivery made (callback, HEC event, sample and
report). Rounds alternate between the two setups; the medians are compared.

Where things run: in production the receivers are other machines. Here they share this one, so
they get cores of their own: the upper half of the cores this script may use go to the receivers
(s3s-fs, and a Python process taking callbacks and HEC events), the lower half to assay and the
upload client, in both setups alike. On a 2-core machine that is one core each. What the run
with deliveries loses is then what sending them costs the Worker, not what receiving them costs
the stand-ins. `--shared` runs everything on every core instead.
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
    """Takes callbacks and HEC events: reads the body, answers 200 (HEC's code 0). GET answers
    how many requests it took."""
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle holds the body back until the
    # client's delayed ACK (40 ms a request on a keep-alive connection).
    disable_nagle_algorithm = True
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with Receiver.lock:
            Receiver.count += 1
        self.answer(b'{"text":"Success","code":0}')

    def do_GET(self):
        self.answer(str(Receiver.count).encode())

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def receive():
    """The receiver process: prints its port, then serves until killed."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_done(port, count, limit=600):
    """Waits until every task is processed and every delivery made. Asks sysinfo until nothing
    is queued or waits in the outbox, then checks the list of tasks (asked for again and again,
    the list of every task would cost the server more than what is measured)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    started = time.time()
    while time.time() - started < limit:
        conn.request("GET", "/srv/tiscale/v1/sysinfo")
        info = json.loads(conn.getresponse().read())
        if info["queue_size"] == 0 and info["outbox"]["pending"] == 0:
            conn.request("GET", "/api/tiscale/v1/task")
            tasks = json.loads(conn.getresponse().read())
            if len(tasks) >= count and all(t["processed"] is not None for t in tasks):
                return
        time.sleep(0.05)
    sys.exit("tasks were not processed, or deliveries not made, in time")


def thread_cpu(pid):
    """CPU seconds of a process's threads, by name without its number (http, analysis...)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
        except OSError:
            continue
        name = head.split("(", 1)[1].rstrip("0123456789-")
        fields = rest.split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        out[name] = out.get(name, 0) + cpu
    return out


def cpu_seconds(pid):
    """User and system CPU time of a process so far, its ended threads' included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_(binary, config, files, clients, receivers):
    """Files/s end to end; CPU ms per file of assay's threads by name (http, analysis,
    delivery), of the client and of the receivers; the seconds from the last upload to the
    end."""
    with tempfile.TemporaryDirectory(prefix="assay-bench-deliveries-") as tmp:
        proc, port = bench.start(binary, tmp, config)
        try:
            before = [cpu_seconds(pid) for _, pid in receivers]
            client = os.times()
            client = client.user + client.system
            t0 = time.time()
            bench.upload_many(port, files, clients)
            uploaded = time.time()
            wait_done(port, len(files))
            done = time.time()
            rate = len(files) / (done - t0)
            per_file = 1000 / len(files)
            cpu = {k: v * per_file for k, v in thread_cpu(proc.pid).items()}
            end = os.times()
            cpu["client"] = (end.user + end.system - client) * per_file
            for (name, pid), b in zip(receivers, before):
                cpu[name] = (cpu_seconds(pid) - b) * per_file
            return rate, cpu, done - uploaded
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def placement(shared):
    """The cores of assay and the client, and those of the receivers."""
    cores = sorted(os.sched_getaffinity(0))
    if shared or len(cores) < 2:
        return cores, cores
    half = len(cores) // 2
    return cores[:half], cores[half:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--s3s-fs")
    ap.add_argument("--small", type=int, default=3000, help="files per round")
    ap.add_argument("--size-kib", type=int, default=4, help="size of each file (default 4 KiB)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--outbox-threads", type=int, default=2,
                    help="outbox.threads with deliveries (default 2, the server's default)")
    ap.add_argument("--shared", action="store_true",
                    help="receivers, assay and the client all on every core")
    ap.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receive:
        return receive()
    if not args.bin or not args.s3s_fs:
        ap.error("--bin and --s3s-fs are needed")

    worker_cores, receiver_cores = placement(args.shared)

    def on_receiver_cores():
        os.sched_setaffinity(0, receiver_cores)

    receiver = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--receive"],
                                stdout=subprocess.PIPE, text=True, preexec_fn=on_receiver_cores)
    rport = int(receiver.stdout.readline())
    # assay (started by this process) and the upload client (this process) share the rest.
    os.sched_setaffinity(0, worker_cores)

    with tempfile.TemporaryDirectory(prefix="assay-bench-s3-") as s3root:
        for bucket in ["samples", "reports"]:
            os.makedirs(os.path.join(s3root, bucket))
        s3port = free_port()
        s3 = subprocess.Popen([args.s3s_fs, "--host", "127.0.0.1", "--port", str(s3port),
                               "--access-key", "benchkey", "--secret-key", "benchsecret",
                               s3root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=on_receiver_cores)
        receivers = [("receiver", receiver.pid), ("s3s-fs", s3.pid)]
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
[outbox]
threads = {args.outbox_threads}
"""
            where = ("everything on every core" if worker_cores == receiver_cores else
                     f"assay and the upload client on core(s) {worker_cores}, the receivers "
                     f"(s3s-fs, callback and HEC) on core(s) {receiver_cores}")
            print(f"assay deliveries bench: {args.small} files of {args.size_kib} KiB per round, "
                  f"{args.clients} client connections, {args.rounds} rounds each; {where}")
            plain, delivered = [], []
            for r in range(args.rounds):
                files = [os.urandom(args.size_kib * 1024) for _ in range(args.small)]
                plain.append(round_(args.bin, "", files, args.clients, receivers))
                files = [os.urandom(args.size_kib * 1024) for _ in range(args.small)]
                delivered.append(
                    round_(args.bin, with_deliveries, files, args.clients, receivers))
                print(f"round {r + 1}: {plain[-1][0]:7.0f} files/s without deliveries, "
                      f"{delivered[-1][0]:7.0f} files/s with callback + Splunk + S3")

            def med(rows, key=None):
                if key is None:
                    return statistics.median(rate for rate, _, _ in rows)
                return statistics.median(sum(v for k, v in cpu.items() if key(k))
                                         for _, cpu, _ in rows)

            a, b = med(plain), med(delivered)
            conn = http.client.HTTPConnection("127.0.0.1", rport)
            conn.request("GET", "/")
            received = int(conn.getresponse().read())
            print(f"median: {a:.0f} files/s without, {b:.0f} files/s with every delivery made "
                  f"({received} callback and HEC requests received)")
            print("CPU per file, ms (medians)           without   with")
            for label, key in [("assay: uploads (http threads)", lambda k: k == "http"),
                               ("assay: analysis", lambda k: k == "analysis"),
                               ("assay: deliveries", lambda k: k == "delivery"),
                               ("assay: all",
                                lambda k: k not in ("client", "s3s-fs", "receiver")),
                               ("upload client (Python)", lambda k: k == "client"),
                               ("receiver: s3s-fs", lambda k: k == "s3s-fs"),
                               ("receiver: callback + HEC (Python)", lambda k: k == "receiver")]:
                print(f"  {label:<34} {med(plain, key):7.2f} {med(delivered, key):6.2f}")
            tail = statistics.median(t for _, _, t in delivered)
            print(f"with deliveries, the last one was made {tail:.2f} s (median) after the last "
                  f"upload")
            cost = (1 - b / a) * 100
            verdict = "within" if cost <= 10 else "OVER"
            print(f"deliveries cost {cost:.1f} % of end-to-end files/s: {verdict} the 10 % target")
        finally:
            s3.terminate()
            s3.wait(timeout=10)
            receiver.terminate()
            receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
