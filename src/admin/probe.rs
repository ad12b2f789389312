//! `pdgate health`: asks a running gateway's `/readyz`, for container health checks in an image
//! without curl.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The address to ask for a listener bound to `listen`: a wildcard is asked on loopback.
pub fn probe_addr(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_owned()
    }
}

/// `Ok` when `GET /readyz` on the admin listener at `listen` answers 200 within 3 s.
pub async fn probe_ready(listen: &str) -> Result<(), String> {
    let addr = probe_addr(listen);
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let mut head = Vec::new();
        s.read_to_end(&mut head)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let status = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        match status.split_whitespace().nth(1) {
            Some("200") => Ok(()),
            _ => Err(format!("{addr}/readyz answered `{status}`")),
        }
    };
    tokio::time::timeout(Duration::from_secs(3), ask)
        .await
        .unwrap_or_else(|_| Err(format!("{addr}/readyz did not answer within 3 s")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_asked_on_loopback() {
        assert_eq!(probe_addr("0.0.0.0:8081"), "127.0.0.1:8081");
        assert_eq!(probe_addr("[::]:8081"), "[::1]:8081");
        assert_eq!(probe_addr("10.0.0.5:8081"), "10.0.0.5:8081");
    }
}
