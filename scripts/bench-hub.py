#!/usr/bin/env python3
"""What a Hub costs: uploads/s and MiB/s of 1 MiB uploads straight to one Worker and through a
Hub to the same Worker, in one run, and the Hub's peak memory while a 2 GiB upload streams
through it.

Usage: scripts/bench-hub.py --bin target/release/assay [--files N] [--rounds R] [--large-mib M]
(scripts/bench-hub.sh builds the release binary first.)

Each round sends N files of 1 MiB over 8 keep-alive connections and counts until the last upload
is answered (accepted: the Worker has the file on disk and its task committed); rounds alternate
between the two paths and the medians are compared. Between rounds the Worker's tasks are deleted
so that its queue and spool stay small. The Hub must keep at least 80 % of the direct rate, and
its peak RSS for the large upload must stay under 64 MiB.
"""
import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (scripts/bench.py: start, upload_many, stream_large, vm_hwm_mib)


def wait_available(port, limit=30):
    started = time.time()
    while time.time() - started < limit:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/srv/tiscale/v1/available")
        if conn.getresponse().status == 200:
            return
        time.sleep(0.1)
    sys.exit("the Hub never saw its Worker available")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--files", type=int, default=300, help="1 MiB files per round")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--large-mib", type=int, default=2048)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="assay-bench-hub-") as tmp:
        # One analysis thread: the Worker's analysis competes with the uploads for the cores in
        # both paths alike; the figure is the upload path's.
        for d in ["worker", "hub"]:
            os.makedirs(os.path.join(tmp, d))
        worker, wport = bench.start(args.bin, os.path.join(tmp, "worker"),
                                    "[analysis]\nthreads = 1\n")
        hub, hport = bench.start(
            args.bin, os.path.join(tmp, "hub"),
            f'[hub]\npoll_secs = 1\n[[hub.workers]]\nurl = "http://127.0.0.1:{wport}"\n')
        try:
            wait_available(hport)
            print(f"assay hub bench: {args.files} files of 1 MiB per round, {args.clients} "
                  f"client connections, {args.rounds} rounds each")
            direct, via_hub = [], []
            for r in range(args.rounds):
                for port, rates in [(wport, direct), (hport, via_hub)]:
                    files = [os.urandom(1 << 20) for _ in range(args.files)]
                    t0 = time.time()
                    bench.upload_many(port, files, args.clients)
                    rates.append(len(files) / (time.time() - t0))
                    bench.delete_all(wport)
                print(f"round {r + 1}: {direct[-1]:6.1f} uploads/s (= MiB/s) direct, "
                      f"{via_hub[-1]:6.1f} through the Hub")
            a, b = statistics.median(direct), statistics.median(via_hub)
            share = b / a * 100
            print(f"median: {a:.1f} uploads/s direct, {b:.1f} through the Hub: "
                  f"{share:.0f} % of direct: {'within' if share >= 80 else 'BELOW'} the 80 % target")

            before = bench.vm_hwm_mib(hub.pid)
            t0 = time.time()
            bench.stream_large(hport, args.large_mib)
            took = time.time() - t0
            peak = bench.vm_hwm_mib(hub.pid)
            print(f"large upload through the Hub ({args.large_mib} MiB): {args.large_mib / took:.0f} "
                  f"MiB/s; Hub peak RSS {before:.1f} MiB before, {peak:.1f} MiB after: "
                  f"{'within' if peak < 64 else 'OVER'} the 64 MiB target")
        finally:
            for proc in (hub, worker):
                proc.terminate()
                proc.wait(timeout=20)


if __name__ == "__main__":
    main()
