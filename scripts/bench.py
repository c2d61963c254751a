#!/usr/bin/env python3
"""Benchmarks a running assay release binary over loopback and prints the figures.

Measures: upload rate and end-to-end (upload -> processed) rate for many small files, MB/s for
1 MiB files, GET task latency (and, on one report of about 5 MB, in each report shape), and the server's peak memory while a large file (2 GiB by default)
is streamed in. Standard library only. Run through scripts/bench.sh.
"""
import argparse
import http.client
import io
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

BOUNDARY = "assayBenchBoundary9f8e7d"


def start(binary, data_dir, config=""):
    conf = os.path.join(data_dir, "bench.toml")
    with open(conf, "w") as f:
        f.write(config)
    proc = subprocess.Popen(
        [binary, "serve", "--config", conf, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(data_dir, "data")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    port = None
    for line in proc.stderr:
        m = re.search(r"listening on http://[\d.]+:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    # Keep draining the log so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    if port is None:
        sys.exit("server did not start")
    return proc, port


def body_for(data, name="f"):
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n").encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _upload_chunk(args):
    port, chunk = args
    conn = http.client.HTTPConnection("127.0.0.1", port)
    mine = []
    for data in chunk:
        conn.request("POST", "/api/tiscale/v1/upload", body=body_for(data), headers=HEADERS)
        r = conn.getresponse()
        text = r.read()
        if r.status != 200:
            sys.exit(f"upload failed: {r.status} {text!r}")
        mine.append(int(json.loads(text)["task_url"].rsplit("/", 1)[1]))
    return mine


def upload_many(port, payloads, clients):
    """Uploads every payload over `clients` keep-alive connections, one client process each (a
    thread each would share Python's lock and measure the client); returns task ids."""
    chunks = [(port, payloads[i::clients]) for i in range(clients)]
    with multiprocessing.Pool(clients) as pool:
        return [i for mine in pool.map(_upload_chunk, chunks) for i in mine]


def wait_all(port, count, limit=600):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    started = time.time()
    while time.time() - started < limit:
        conn.request("GET", "/api/tiscale/v1/task")
        tasks = json.loads(conn.getresponse().read())
        if len(tasks) >= count and all(t["processed"] is not None for t in tasks):
            return
        time.sleep(0.05)
    sys.exit("tasks were not processed in time")


def delete_all(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("DELETE", "/api/tiscale/v1/task?age=0")
    conn.getresponse().read()


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stream_large(port, mib):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"large\"\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = os.urandom(1 << 20)
    conn.putrequest("POST", "/api/tiscale/v1/upload")
    conn.putheader("Content-Type", HEADERS["Content-Type"])
    conn.putheader("Content-Length", str(len(head) + mib * len(block) + len(tail)))
    conn.endheaders()
    conn.send(head)
    for _ in range(mib):
        conn.send(block)
    conn.send(tail)
    r = conn.getresponse()
    text = r.read()
    if r.status != 200:
        sys.exit(f"large upload failed: {r.status} {text!r}")


def shaping(port, files):
    """GET task on one large report (a zip of `files` small text files) in each shape."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(files):
            text = f"file {i}: see http://host{i}.example.com/path?q={i} and mailto:user{i}@example.org\n"
            z.writestr(f"dir{i % 50}/note{i}.txt", text * 20)
    upload_many(port, [buf.getvalue()], 1)
    wait_all(port, 1)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/api/tiscale/v1/task")
    task = json.loads(conn.getresponse().read())[0]["task_id"]
    for query in ["report_type=large", "report_type=medium", "report_type=small",
                  "report_type=large&view=flat", "view=extended&v13=true"]:
        lat = []
        for _ in range(30):
            s = time.perf_counter()
            conn.request("GET", f"/api/tiscale/v1/task/{task}?{query}")
            body = conn.getresponse().read()
            lat.append((time.perf_counter() - s) * 1000)
        print(f"GET task, {files + 1}-entry report, {query}: {len(body) / 1e6:.2f} MB, "
              f"p50 {statistics.median(lat):.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--small", type=int, default=5000, help="number of 4 KiB files")
    ap.add_argument("--medium", type=int, default=300, help="number of 1 MiB files")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--large-mib", type=int, default=2048)
    ap.add_argument("--accept-only", action="store_true",
                    help="only the small-file figures (durable accept rate), then stop")
    ap.add_argument("--report-files", type=int, default=2000,
                    help="files in the zip whose report GET task is timed in each shape")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="assay-bench-") as tmp:
        proc, port = start(args.bin, tmp)
        try:
            print(f"assay bench: {os.cpu_count()} cores, {args.clients} client connections")

            small = [os.urandom(4096) for _ in range(args.small)]
            t0 = time.time()
            upload_many(port, small, args.clients)
            t1 = time.time()
            wait_all(port, len(small))
            t2 = time.time()
            print(f"small files (4 KiB): {len(small)/(t1-t0):8.0f} uploads/s accepted, "
                  f"{len(small)/(t2-t0):8.0f} files/s uploaded and processed")
            if args.accept_only:
                return
            delete_all(port)

            medium = [os.urandom(1 << 20) for _ in range(args.medium)]
            t0 = time.time()
            upload_many(port, medium, args.clients)
            wait_all(port, len(medium))
            t2 = time.time()
            print(f"1 MiB files: {len(medium)/(t2-t0):8.1f} files/s (= MiB/s) uploaded and processed")

            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("GET", "/api/tiscale/v1/task")
            ids = [t["task_id"] for t in json.loads(conn.getresponse().read())][:200]
            lat = []
            for i in range(1000):
                s = time.perf_counter()
                conn.request("GET", f"/api/tiscale/v1/task/{ids[i % len(ids)]}")
                conn.getresponse().read()
                lat.append((time.perf_counter() - s) * 1000)
            lat.sort()
            print(f"GET task (done): p50 {statistics.median(lat):.2f} ms, p99 {lat[int(len(lat)*0.99)]:.2f} ms")
            delete_all(port)

            shaping(port, args.report_files)
            delete_all(port)

            before = vm_hwm_mib(proc.pid)
            t0 = time.time()
            stream_large(port, args.large_mib)
            t1 = time.time()
            wait_all(port, 1)
            t2 = time.time()
            print(f"large upload ({args.large_mib} MiB): streamed at {args.large_mib/(t1-t0):.0f} MiB/s, "
                  f"analysed in {t2-t1:.1f} s; server peak RSS {before:.1f} MiB before, {vm_hwm_mib(proc.pid):.1f} MiB after")
        finally:
            proc.terminate()
            proc.wait(timeout=15)


if __name__ == "__main__":
    main()
