#!/usr/bin/env python3
"""The server half of scripts/bench-peers.sh: starts assay with a rules directory and N analysis
threads, uploads every file of a directory over HTTP (8 connections, each file streamed from
disk), waits until every task is processed and prints one line of JSON: the server's CPU seconds
from the first upload to the last report (start-up and rule compilation excluded), wall seconds,
peak RSS, files analysed, and the analysis cache's counters from sysinfo. Standard library only.
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import BOUNDARY, HEADERS, start, vm_hwm_mib  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def upload(port, path):
    name = os.path.basename(path)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = os.path.getsize(path)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.putrequest("POST", "/api/tiscale/v1/upload")
    for k, v in HEADERS.items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(len(head) + size + len(tail)))
    conn.endheaders()
    conn.send(head)
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            conn.send(block)
    conn.send(tail)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    if r.status != 200:
        sys.exit(f"upload of {path} failed: {r.status} {body!r}")


def get_json(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return json.loads(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rules", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("dir")
    a = ap.parse_args()
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(a.dir) for f in fs)
    with tempfile.TemporaryDirectory() as work:
        config = f'[yara]\nrules_dir = "{a.rules}"\n[analysis]\nthreads = {a.threads}\n'
        proc, port = start(a.bin, work, config)
        try:
            cpu0, t0 = cpu_seconds(proc.pid), time.time()
            todo, lock = list(files), threading.Lock()

            def client():
                while True:
                    with lock:
                        if not todo:
                            return
                        path = todo.pop()
                    upload(port, path)

            threads = [threading.Thread(target=client) for _ in range(a.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            while True:
                tasks = get_json(port, "/api/tiscale/v1/task")
                if len(tasks) >= len(files) and all(t["processed"] is not None for t in tasks):
                    break
                time.sleep(0.1)
            wall, cpu = time.time() - t0, cpu_seconds(proc.pid) - cpu0
            rss = vm_hwm_mib(proc.pid)
            stats = get_json(port, "/srv/tiscale/v1/stats")
            sysinfo = get_json(port, "/srv/tiscale/v1/sysinfo")
        finally:
            proc.terminate()
            proc.wait()

    def counter(name):
        # Each counter is a list over the windows 1m, 10m, 1h, 8h, 1d: the day holds the run.
        return stats.get(name, [0] * 5)[-1]

    print(json.dumps({
        "files": len(files),
        "cpu": cpu,
        "wall": wall,
        "rss_mib": rss,
        "files_unpacked": counter("files_unpacked"),
        "bytes_unpacked": counter("bytes_unpacked"),
        "cache": sysinfo.get("analysis_cache"),
    }))


if __name__ == "__main__":
    main()
