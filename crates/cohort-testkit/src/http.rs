//! A small blocking HTTP/1.1 client over a real TCP connection, for tests
//! of `cohort serve`: every request is written by hand, so that tests can
//! also send what no well-behaved client would (a body that never ends,
//! headers that never finish, a body larger than declared).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path and query.
    pub path: &'a str,
    /// `Authorization: Bearer KEY`, when set.
    pub key: Option<&'a str>,
    /// More headers.
    pub headers: Vec<(&'a str, String)>,
    /// A body, sent with `Content-Length` (and `Content-Type:
    /// application/json` unless `headers` names a content type).
    pub body: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// A request without a body.
    pub fn new(method: &'a str, path: &'a str) -> Request<'a> {
        Request {
            method,
            path,
            ..Request::default()
        }
    }

    /// With a key.
    pub fn key(mut self, key: &'a str) -> Request<'a> {
        self.key = Some(key);
        self
    }

    /// With a JSON body.
    pub fn json(mut self, body: &'a [u8]) -> Request<'a> {
        self.body = Some(body);
        self
    }

    /// With a header.
    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }

    /// The request's head and body as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "{} {} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n",
            self.method, self.path
        );
        if let Some(key) = self.key {
            out.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        let mut typed = false;
        for (n, v) in &self.headers {
            typed |= n.eq_ignore_ascii_case("content-type");
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        match self.body {
            Some(body) => {
                if !typed {
                    out.push_str("Content-Type: application/json\r\n");
                }
                out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(body);
                bytes
            }
            None => {
                out.push_str("\r\n");
                out.into_bytes()
            }
        }
    }

    /// Sends it on a new connection and reads the whole answer.
    pub fn send(&self, addr: SocketAddr) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.write_all(&self.to_bytes())?;
        read_response(&mut stream)
    }
}

/// Reads one answer from a stream.
pub fn read_response(stream: &mut TcpStream) -> std::io::Result<Response> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("not a status line: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l
            .split_once(':')
            .ok_or_else(|| bad("a header without ':'"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size =
                usize::from_str_radix(line.trim(), 16).map_err(|_| bad("a bad chunk size"))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}
