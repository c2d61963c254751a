use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{HTTPVersion, Method, StatusCode};
use crate::util::{is_timeout, Control, RefinedTcpStream};
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::{Header, Request, Response};

/// assay patch: how long a closing connection keeps reading (and throwing away) what the client
/// still sends, so that the client reads the answer before the connection is reset.
const LINGER: Duration = Duration::from_secs(2);
/// assay patch: most bytes read while lingering.
const LINGER_BYTES: usize = 1024 * 1024;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    // assay patch: the connection's limits and state, shared with the requests it hands out
    control: Arc<Control>,

    // assay patch: true once a byte of the request being read has arrived
    started: bool,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
    /// assay patch: a head over the limits: status (414 or 431) and why
    TooLarge(u16, &'static str),
    /// assay patch: a request no answer can follow safely: status (400 or 501) and why
    Refused(u16, &'static str),
    /// assay patch: the connection was closed after the previous answer
    Closed,
}

/// assay patch: why a line of the head could not be read.
enum LineError {
    Io(IoError),
    TooLong,
    NotAscii,
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub(crate) fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
        control: Arc<Control>,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();
        read_socket.set_control(control.clone());

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            control,
            started: false,
        }
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    ///
    /// assay patch: at most `limit` bytes (upstream grew the line without bound).
    fn read_next_line(&mut self, limit: usize) -> Result<AsciiString, LineError> {
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;

        loop {
            let byte = self.next_header_source.by_ref().bytes().next();

            let byte = match byte {
                Some(b) => b.map_err(LineError::Io)?,
                None => {
                    return Err(LineError::Io(IoError::new(
                        ErrorKind::ConnectionAborted,
                        "Unexpected EOF",
                    )))
                }
            };
            self.started = true;

            if byte == b'\n' && prev_byte_was_cr {
                buf.pop(); // removing the '\r'
                return AsciiString::from_ascii(buf).map_err(|_| LineError::NotAscii);
            }

            prev_byte_was_cr = byte == b'\r';

            // (the CR of the CRLF is pushed too, so a line of exactly `limit` bytes fits)
            if buf.len() > limit {
                return Err(LineError::TooLong);
            }
            buf.push(byte);
        }
    }

    /// assay patch: reads the head within the connection's limits: the request line within
    /// `max_head_bytes` (414), all header lines together within it too and at most
    /// `max_headers` of them (431), all of it within `head_timeout` (408).
    #[allow(clippy::type_complexity)]
    fn read_head(&mut self) -> Result<(Method, String, HTTPVersion, Vec<Header>), ReadError> {
        let (max_bytes, max_headers) = {
            let limits = self.control.limits();
            (limits.max_head_bytes, limits.max_headers)
        };
        let line = self.read_next_line(max_bytes).map_err(|e| match e {
            LineError::Io(e) => ReadError::ReadIoError(e),
            LineError::TooLong => ReadError::TooLarge(414, "the request line is too long"),
            LineError::NotAscii => ReadError::WrongRequestLine,
        })?;
        let (method, path, version) = parse_request_line(line.as_str().trim())?;

        let mut headers = Vec::new();
        let mut left = max_bytes;
        loop {
            let line = self.read_next_line(left).map_err(|e| match e {
                LineError::Io(e) => ReadError::ReadIoError(e),
                LineError::TooLong => {
                    ReadError::TooLarge(431, "the request's headers are too large")
                }
                LineError::NotAscii => ReadError::WrongHeader(version.clone()),
            })?;
            if line.is_empty() {
                break;
            }
            if headers.len() >= max_headers {
                return Err(ReadError::TooLarge(431, "the request has too many headers"));
            }
            left = left.saturating_sub(line.len() + 2);
            headers.push(match FromStr::from_str(line.as_str().trim()) {
                Ok(h) => h,
                _ => return Err(ReadError::WrongHeader(version)),
            });
        }
        Ok((method, path, version, headers))
    }

    /// assay patch: reads and throws away what a closing client still sends (a bounded amount,
    /// for a bounded time), so that it reads the answer before the connection is reset.
    fn linger(&mut self) {
        if self.next_header_source.wait_turn().is_err() {
            return;
        }
        self.control.start_deadline(LINGER);
        let mut buf = [0u8; 8192];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match self.next_header_source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    }

    /// assay patch: answers a request that cannot be served, as JSON like the rest of the API,
    /// says the connection closes, and closes it (lingering, so that the client reads the answer).
    fn refuse(&mut self, status: u16, message: &str, version: HTTPVersion) {
        let body = format!("{{\"message\":\"{}\"}}", message.replace('"', "'"));
        let mut response = Response::from_string(body)
            .with_status_code(StatusCode(status))
            .with_header(
                Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..]).unwrap(),
            );
        response.close_connection();
        let mut writer = self.sink.next().unwrap();
        if response
            .raw_print(writer.by_ref(), version, &[], false, None)
            .is_ok()
        {
            writer.flush().ok();
        }
        drop(writer);
        self.control.close();
        self.linger();
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        // assay patch: the next head is read once the previous request is answered, and its
        // time runs from then; a connection closed after that answer ends here.
        self.control.wait_answered();
        if self.control.is_closing() {
            self.linger();
            return Err(ReadError::Closed);
        }
        self.next_header_source
            .wait_turn()
            .map_err(ReadError::ReadIoError)?;
        self.started = false;
        self.control.start_head();
        let (method, path, version, headers) = self.read_head()?;
        self.control
            .end_deadline()
            .map_err(ReadError::ReadIoError)?;

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // building the next reader
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            *self.remote_addr.as_ref().unwrap_or(&None),
            data_source,
            writer,
            Some(self.control.clone()),
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
                request::RequestCreationError::Refused(status, why) => {
                    ReadError::Refused(status, why)
                }
            }
        })?;

        // return the request
        Ok(request)
    }
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    ///
    /// assay patch: every request that cannot be served is answered (400, 408, 414, 417, 431,
    /// 501, 505) with `Connection: close`, and the connection closes; upstream answered some
    /// without saying so, closed on others without an answer, and answered a 505 twice.
    fn next(&mut self) -> Option<Request> {
        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        let rq = match self.read() {
            Ok(rq) => rq,
            Err(ReadError::Closed) => return None,
            Err(ReadError::ReadIoError(ref err)) if is_timeout(err) => {
                // a client that sent nothing was an idle keep-alive connection: close quietly
                if self.started {
                    let message = "the request did not arrive in time";
                    self.refuse(408, message, HTTPVersion(1, 1));
                }
                return None;
            }
            Err(ReadError::ReadIoError(_)) => return None,
            Err(ReadError::WrongRequestLine) => {
                self.refuse(400, "malformed request line", HTTPVersion(1, 1));
                return None;
            }
            Err(ReadError::WrongHeader(ver)) => {
                self.refuse(400, "malformed header", ver);
                return None;
            }
            Err(ReadError::ExpectationFailed(ver)) => {
                self.refuse(417, "only Expect: 100-continue is supported", ver);
                return None;
            }
            Err(ReadError::TooLarge(status, why)) | Err(ReadError::Refused(status, why)) => {
                self.refuse(status, why, HTTPVersion(1, 1));
                return None;
            }
        };

        // checking HTTP version
        if *rq.http_version() > (1, 1) {
            let mut response = Response::from_string(
                "This server only supports HTTP versions 1.0 and 1.1".to_owned(),
            )
            .with_status_code(StatusCode(505));
            response.close_connection();
            rq.respond(response).ok();
            return None;
        }

        // updating the status of the connection
        let connection_header = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Connection"))
            .map(|h| h.value.as_str());

        let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

        match lowercase {
            Some(ref val) if val.contains("close") => self.no_more_requests = true,
            Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
            Some(ref val)
                if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
            {
                self.no_more_requests = true
            }
            None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
            _ => (),
        };

        // returning the request
        Some(rq)
    }
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
