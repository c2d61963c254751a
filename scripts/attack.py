#!/usr/bin/env python3
"""Replays hostile HTTP clients against a running assay Worker, with plain sockets and no token.

Usage: scripts/attack.py HOST:PORT [--service-token T]

Each case sends what an attacker on the same network could send (absurd or malformed
Content-Length and Transfer-Encoding, huge heads, stalled bodies, hundreds of idle connections,
pipelining...), checks the answer it gets, and then checks that the Worker still answers
`GET /srv/tiscale/v1/available`. Prints one `ok -` or `not ok -` line per check and exits 1 if any
check failed. tests/integration/edge.rs runs it against the real binary and then checks the
Worker's memory and that it answers within a second.
"""

import socket
import sys
import time

TIMEOUT = 30  # seconds any single answer may take
failures = 0


def report(ok, what, detail=""):
    global failures
    if ok:
        print(f"ok - {what}")
    else:
        failures += 1
        print(f"not ok - {what}: {detail}")


def connect():
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_closed(s, limit=1 << 20):
    """Everything the server sends until it closes the connection; a reset ends it too."""
    out = b""
    try:
        while len(out) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return out


def exchange(raw, shutdown_write=False):
    """Sends raw bytes on a new connection; returns all the server answers before closing."""
    s = connect()
    try:
        try:
            s.sendall(raw)
            if shutdown_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before it has read everything: the answer still counts
        return read_until_closed(s)
    finally:
        s.close()


def status(answer):
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def head_and_body(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def available_request(method="GET"):
    auth = f"Authorization: Token {SERVICE_TOKEN}\r\n" if SERVICE_TOKEN else ""
    return (f"{method} /srv/tiscale/v1/available HTTP/1.1\r\nHost: a\r\n{auth}"
            "Connection: close\r\n\r\n").encode()


def still_answers(after):
    """The Worker answers /available (200) on a new connection. Connections an attacker just
    closed take a moment to be counted out: a 503 "too many connections" is retried for 5 s."""
    started = time.monotonic()
    while True:
        try:
            answer = exchange(available_request())
        except OSError as e:
            answer = repr(e).encode()
        busy = status(answer) == 503 and b"too many connections" in answer
        if not busy or time.monotonic() - started > 5:
            break
        time.sleep(0.05)
    took = time.monotonic() - started
    report(status(answer) == 200, f"the Worker still answers after {after} ({took:.2f} s)",
           answer[:200])


def expect(what, raw, statuses, body_has=None, **kw):
    answer = exchange(raw, **kw)
    got = status(answer)
    ok = got in statuses and (body_has is None or body_has in answer)
    report(ok, f"{what}: {'/'.join(map(str, statuses))}", answer[:300])
    return answer


def content_lengths():
    for value, statuses in [
        ("2147483648", [404]),              # 2^31
        ("1152921504606846976", [404]),     # 2^60: upstream allocated it and aborted
        ("9223372036854775808", [404]),     # 2^63: upstream panicked and lost a thread
        ("18446744073709551617", [400]),    # 2^64 + 1: not a length
        ("-1", [400]),
        ("12abc", [400]),
    ]:
        expect(f"GET with Content-Length {value}",
               f"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\nAAAA".encode(),
               statuses)
        expect(f"POST /upload with no token and Content-Length {value}",
               (f"POST /api/tiscale/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n\r\nAAAA").encode(),
               [401] if statuses == [404] else statuses)
    # Upstream lost one HTTP thread per request like this; 16 is twice the default pool.
    for i in range(16):
        answer = exchange(b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n")
        if status(answer) != 404:
            report(False, f"2^63 request {i + 1} of 16: 404", answer[:200])
            return
    report(True, "16 requests declaring 2^63-byte bodies: 404 each")
    still_answers("absurd Content-Length values")


def transfer_encodings():
    expect("a chunk size of 2^64 + 1",
           (b"POST /api/tiscale/v1/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n10000000000000001\r\nAAAA"),
           [401])
    expect("a chunk size of 2^64 + 1 on a path that reads nothing",
           b"GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nAAAA",
           [404])
    expect("Transfer-Encoding: gzip", b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", [501])
    expect("Content-Length and Transfer-Encoding together",
           b"POST /x HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           [400])
    expect("two Content-Lengths that disagree",
           b"POST /x HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nAAAAA", [400])
    still_answers("hostile Transfer-Encoding")


def heads():
    expect("a 1 MB header", b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", [431])
    many = b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
    expect("10,000 headers", b"GET /x HTTP/1.1\r\n" + many + b"\r\n", [431])
    expect("a 1 MB path", b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n", [414])
    answer = expect("a 60 KB path", b"GET /" + b"b" * 60_000 + b" HTTP/1.1\r\nConnection: close\r\n\r\n",
                    [404])
    _, body = head_and_body(answer)
    report(len(body) < 400, "a 404 echoes at most 200 characters of the path",
           f"{len(body)} bytes of body")
    expect("a request line that is not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
           [400])
    expect("a header that is not ASCII", "GET /x HTTP/1.1\r\nX: café\r\n\r\n".encode(), [400])
    expect("HTTP/2.0", b"GET /x HTTP/2.0\r\n\r\n", [505])
    expect("Expect: something", b"GET /x HTTP/1.1\r\nExpect: coffee\r\n\r\n", [417])
    still_answers("oversized and malformed heads")


def pipelining():
    one = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    answer = exchange(one * 3 + available_request(), shutdown_write=False)
    answers = answer.count(b"HTTP/1.1 ")
    report(answers == 4 and status(answer) == 404, "4 pipelined requests: 4 answers in order",
           answer[:300])
    answer = exchange(available_request("HEAD"))
    head, body = head_and_body(answer)
    report(status(answer) == 200 and body == b"", "HEAD /available: 200 without a body", answer[:300])
    still_answers("pipelining")


def hold(count, first_bytes):
    """Opens `count` connections, sends `first_bytes` on each and leaves them open."""
    held = []
    for _ in range(count):
        try:
            s = connect()
            if first_bytes:
                s.sendall(first_bytes)
            held.append(s)
        except OSError:
            break
    return held


def release(held):
    for s in held:
        try:
            s.close()
        except OSError:
            pass


def stalled_bodies():
    held = hold(64, (b"POST /api/tiscale/v1/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n"
                     b"Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n"))
    report(len(held) == 64, "64 connections that declare a body and stop sending", f"{len(held)} opened")
    # Each is answered (401, no token) and closed, instead of holding an HTTP thread.
    statuses = []
    for s in held:
        statuses.append(status(read_until_closed(s)))
    report(all(st == 401 for st in statuses), "64 stalled bodies: 401 each, then closed", statuses)
    release(held)
    still_answers("64 stalled bodies")


def idle_connections():
    held = hold(500, b"")
    report(len(held) == 500, "500 idle connections opened", f"{len(held)} opened")
    still_answers("opening 500 idle connections (while they are held)")
    release(held)
    held = hold(64, b"GET /x HTTP/1.1\r\nHost: a\r\n")  # half a head each
    still_answers("64 half-sent heads (while they are held)")
    release(held)
    held = hold(1000, b"")
    answers = [status(read_until_closed(s)) for s in held[-10:]]
    report(503 in answers, "connections beyond http.max_connections: 503", answers)
    release(held)
    still_answers("1,000 idle connections")


def garbage():
    for raw in [b"\r\n\r\n", b"\x00" * 1000, b"GET\r\n\r\n", b"GET / HTTP/1.1\r\n:\r\n\r\n",
                b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n", bytes(range(256)) * 4]:
        exchange(raw, shutdown_write=True)
    report(True, "garbage requests sent")
    still_answers("garbage")


def main():
    global HOST, PORT, SERVICE_TOKEN
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    HOST, PORT = args[0].rsplit(":", 1)
    PORT = int(PORT)
    SERVICE_TOKEN = args[args.index("--service-token") + 1] if "--service-token" in args else None
    started = time.monotonic()
    for case in [content_lengths, transfer_encodings, heads, pipelining, stalled_bodies,
                 idle_connections, garbage]:
        print(f"# {case.__name__}")
        case()
    print(f"# {failures} failed, {time.monotonic() - started:.1f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
