//! A load client's HTTP/1.1 connection: one tokio `TcpStream`, one request
//! at a time, requests sent as pre-serialised bytes, so the client costs as
//! little of the shared CPU as possible.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answered request: its status and its body.
pub struct Reply<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

impl Reply<'_> {
    pub fn body_contains(&self, needle: &[u8]) -> bool {
        self.body.windows(needle.len()).any(|w| w == needle)
    }
}

/// A keep-alive HTTP/1.1 connection that sends one request at a time.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    filled: usize,
    /// Bytes of the previous reply, dropped before the next exchange.
    consumed: usize,
}

impl Connection {
    pub async fn open(address: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: vec![0; 16 * 1024],
            filled: 0,
            consumed: 0,
        })
    }

    /// Sends `request` and reads the whole response; `Err` means the
    /// connection is unusable (the server closing it included).
    pub async fn exchange(&mut self, request: &[u8]) -> std::io::Result<Reply<'_>> {
        self.buffer.copy_within(self.consumed..self.filled, 0);
        self.filled -= self.consumed;
        self.consumed = 0;
        self.stream.write_all(request).await?;
        loop {
            if let Some((head_len, status, body_len, close)) =
                parse_head(&self.buffer[..self.filled])?
            {
                let total = head_len + body_len;
                if total > self.buffer.len() {
                    self.buffer.resize(total, 0);
                }
                while self.filled < total {
                    self.read_more().await?;
                }
                if close {
                    return Err(std::io::Error::other("the server closed the connection"));
                }
                self.consumed = total;
                return Ok(Reply {
                    status,
                    body: &self.buffer[head_len..total],
                });
            }
            if self.filled == self.buffer.len() {
                return Err(std::io::Error::other("response head too large"));
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        let n = self.stream.read(&mut self.buffer[self.filled..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.filled += n;
        Ok(())
    }
}

/// `(head length, status, content length, connection: close)` once the head
/// is complete. Responses without a content-length are treated as broken.
fn parse_head(data: &[u8]) -> std::io::Result<Option<(usize, u16, usize, bool)>> {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let head = std::str::from_utf8(&data[..end]).map_err(|_| bad("non-UTF-8 head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let (mut length, mut close) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    let length = length.ok_or_else(|| bad("no content-length"))?;
    Ok(Some((end + 4, status, length, close)))
}

/// A JSON POST as the bytes an HTTP/1.1 client sends.
pub fn post_request(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    [head.as_bytes(), body.as_bytes()].concat()
}
