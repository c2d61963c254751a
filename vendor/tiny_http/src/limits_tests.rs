//! assay patch: tests of the changes listed in README.md, each against a real server on
//! 127.0.0.1 and raw sockets.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Limits, Response, Server};

/// Short limits, so that the tests see them run out.
fn limits() -> Limits {
    Limits {
        head_timeout: Some(Duration::from_millis(500)),
        read_timeout: Some(Duration::from_millis(500)),
        write_timeout: Some(Duration::from_secs(5)),
        max_connections: 16,
        max_head_bytes: 8 * 1024,
        max_headers: 50,
        max_drain_bytes: 64 * 1024,
    }
}

/// A server whose handler answers `/read` after reading the whole body ("read N", or "error" and
/// the error kind), and anything else without reading it ("unread").
fn serve(limits: Limits) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Arc::new(Server::from_listener_with_limits(listener, None, limits).unwrap());
    for _ in 0..4 {
        let server = server.clone();
        thread::spawn(move || loop {
            let Ok(mut rq) = server.recv() else { return };
            let text = if rq.url() == "/read" {
                let mut body = Vec::new();
                match rq.as_reader().read_to_end(&mut body) {
                    Ok(n) => format!("read {n}"),
                    Err(e) => format!("error {:?}", e.kind()),
                }
            } else {
                "unread".to_string()
            };
            let _ = rq.respond(Response::from_string(text));
        });
    }
    port
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Everything the server sends until it closes the connection (or 10 s pass).
fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `request` and returns all the server sends before it closes.
fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = connect(port);
    s.write_all(request).unwrap();
    read_all(&mut s)
}

/// The server still answers a plain request on a new connection.
fn assert_alive(port: u16) {
    let answer = exchange(port, b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
}

#[test]
fn an_unread_body_of_any_declared_length_is_not_allocated_and_closes_the_connection() {
    let port = serve(limits());
    for length in [
        "1152921504606846976",
        "9223372036854775808",
        "18446744073709551615",
    ] {
        let request = format!("GET /x HTTP/1.1\r\nContent-Length: {length}\r\n\r\nAAAA");
        let answer = exchange(port, request.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 200"), "{}: {}", length, answer);
        assert!(
            answer.contains("Connection: close"),
            "{}: {}",
            length,
            answer
        );
        assert!(answer.ends_with("unread"), "{}: {}", length, answer);
    }
    assert_alive(port);
}

#[test]
fn a_length_that_is_not_a_number_is_400_and_never_read_as_a_request() {
    let port = serve(limits());
    for length in ["-1", "abc", "18446744073709551617", "1 2", "0x10", ""] {
        // Upstream ignored such a length and read the body as the next request.
        let request = format!(
            "POST /x HTTP/1.1\r\nContent-Length: {length}\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"
        );
        let answer = exchange(port, request.as_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{:?}: {}",
            length,
            answer
        );
        assert!(
            answer.contains("Content-Length"),
            "{:?}: {}",
            length,
            answer
        );
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "{:?}: {}",
            length,
            answer
        );
    }
    let both = "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert!(exchange(port, both.as_bytes()).starts_with("HTTP/1.1 400"));
    let both = "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(exchange(port, both.as_bytes()).starts_with("HTTP/1.1 400"));
    let gzip = "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
    assert!(exchange(port, gzip.as_bytes()).starts_with("HTTP/1.1 501"));
    assert_alive(port);
}

#[test]
fn a_chunk_size_past_2_64_is_an_error_for_the_reader() {
    let port = serve(limits());
    let request = "POST /read HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                   10000000000000001\r\nAAAA";
    let answer = exchange(port, request.as_bytes());
    assert!(answer.contains("error"), "{}", answer);
    assert!(answer.contains("Connection: close"), "{}", answer);
    assert_alive(port);
}

#[test]
fn a_stalled_body_times_out_for_the_reader_and_the_head_must_arrive_in_time() {
    let port = serve(limits());
    // The body stops: the handler's read fails after read_timeout (idle), not never.
    let mut s = connect(port);
    s.write_all(b"POST /read HTTP/1.1\r\nContent-Length: 100000\r\n\r\nAAAA")
        .unwrap();
    let answer = read_all(&mut s);
    assert!(
        answer.contains("error WouldBlock") || answer.contains("error TimedOut"),
        "{}",
        answer
    );
    assert!(answer.contains("Connection: close"), "{}", answer);
    // A small body is read with the head (upstream's behaviour): stalled, it is 408.
    let answer = exchange(
        port,
        b"POST /read HTTP/1.1\r\nContent-Length: 1000\r\n\r\nAAAA",
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{}", answer);

    // A head that stops half-way is 408 after head_timeout.
    let started = Instant::now();
    let answer = exchange(port, b"GET /x HTTP/1.1\r\nHost: a");
    assert!(answer.starts_with("HTTP/1.1 408"), "{}", answer);
    assert!(started.elapsed() >= Duration::from_millis(500));

    // A connection that sends nothing is closed without an answer; so is an idle keep-alive
    // connection after its answer.
    assert_eq!(read_all(&mut connect(port)), "");
    let answer = exchange(port, b"GET /x HTTP/1.1\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("unread"),
        "{}",
        answer
    );
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{}", answer);
}

#[test]
fn a_slow_body_that_keeps_coming_is_read_whole() {
    // The timeout is idle time, not total: 3 s of body at a byte pair every 0.5 s, against a
    // 2 s timeout.
    let port = serve(Limits {
        read_timeout: Some(Duration::from_secs(2)),
        ..limits()
    });
    let mut s = connect(port);
    s.write_all(b"POST /read HTTP/1.1\r\nContent-Length: 12\r\nConnection: close\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    for _ in 0..6 {
        thread::sleep(Duration::from_millis(500));
        s.write_all(b"ab").unwrap();
    }
    let answer = read_all(&mut s);
    assert!(started.elapsed() > Duration::from_secs(2));
    assert!(answer.ends_with("read 12"), "{}", answer);
}

#[test]
fn heads_are_capped_in_bytes_and_lines() {
    let port = serve(limits());
    let long_line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(10_000));
    assert!(exchange(port, long_line.as_bytes()).starts_with("HTTP/1.1 414"));
    let big_header = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    let answer = exchange(port, big_header.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", answer);
    let many: String = (0..10_000).map(|i| format!("X-{i}: v\r\n")).collect();
    let answer = exchange(port, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", answer);
    assert!(answer.contains("Connection: close"), "{}", answer);
    let not_ascii = "GET / HTTP/1.1\r\nX-Name: caf\u{e9}\r\n\r\n";
    assert!(exchange(port, not_ascii.as_bytes()).starts_with("HTTP/1.1 400"));
    assert_alive(port);
}

#[test]
fn connections_beyond_the_cap_are_refused_with_503() {
    let port = serve(Limits {
        max_connections: 2,
        head_timeout: Some(Duration::from_secs(5)),
        ..limits()
    });
    // Accepted in order: these two are counted before the third is looked at.
    let held: Vec<TcpStream> = (0..2).map(|_| connect(port)).collect();
    let answer = exchange(port, b"GET /x HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 503"), "{}", answer);
    assert!(answer.contains("too many connections"), "{}", answer);
    drop(held);
    let started = Instant::now();
    loop {
        let answer = exchange(port, b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{}", answer);
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pipelined_requests_and_small_unread_bodies_keep_the_connection() {
    let port = serve(limits());
    let answer = exchange(
        port,
        b"POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n\
          "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'z', 5000))
        .chain(*b"POST /read HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
        .chain(*b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
        .collect::<Vec<u8>>()
        .as_slice(),
    );
    let statuses: Vec<&str> = answer.matches("HTTP/1.1 200").collect();
    assert_eq!(statuses.len(), 3, "{}", answer);
    let unread = answer.find("unread").unwrap();
    let read = answer.find("read 3").unwrap();
    assert!(unread < read, "answers in request order: {}", answer);
}

/// A body that gives `good` and then fails.
struct Failing(std::io::Cursor<&'static [u8]>);

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("the report cannot be read")),
            n => Ok(n),
        }
    }
}

#[test]
fn a_chunked_body_that_fails_is_left_without_its_end_and_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Arc::new(Server::from_listener_with_limits(listener, None, limits()).unwrap());
    thread::spawn(move || loop {
        let Ok(rq) = server.recv() else { return };
        let body = Failing(std::io::Cursor::new(b"[{\"part\":1}"));
        let response = Response::new(200.into(), vec![], body, None, None);
        let _ = rq.respond(response);
    });
    let mut s = connect(port);
    // Two requests: the second must not be answered on a connection the first left broken.
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let answer = read_all(&mut s);
    assert!(started.elapsed() < Duration::from_secs(5), "not closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer);
    assert!(answer.contains("Transfer-Encoding: chunked"), "{}", answer);
    assert!(answer.contains("[{\"part\":1}"), "{}", answer);
    assert!(
        !answer.contains("\r\n0\r\n"),
        "the body was ended: {}",
        answer
    );
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{}", answer);
}
