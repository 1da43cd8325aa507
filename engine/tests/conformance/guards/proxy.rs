//! A TCP proxy in front of PostgreSQL that can lose one reply: armed with a byte pattern, it cuts
//! the connection whose server side next sends a chunk holding that pattern (e.g. the
//! `CommandComplete` of a `COMMIT`), without passing the chunk on. The server has then done the
//! work and the client never hears of it: a commit whose reply was lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct LossyProxy {
    addr: std::net::SocketAddr,
    armed: Arc<Mutex<Option<Vec<u8>>>>,
    cuts: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn authority(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find('/').unwrap_or(rest.len());
    let auth = &rest[..end];
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let start = scheme.len() + 3 + (auth.len() - host.len());
    (&url[..start], host, &url[start + host.len()..])
}

impl LossyProxy {
    /// Listens on a free local port and forwards to the server `url` names.
    pub async fn start(url: &str) -> LossyProxy {
        let (_, target, _) = authority(url);
        let target = target.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let armed: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (a, c) = (armed.clone(), cuts.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else { continue };
                tokio::spawn(pipe(client, server, a.clone(), c.clone()));
            }
        });
        LossyProxy { addr, armed, cuts, accept }
    }

    /// `url` with this proxy in place of the server (and without TLS, so replies are readable).
    pub fn url(&self, url: &str) -> String {
        let (head, _, tail) = authority(url);
        let sep = if tail.contains('?') { '&' } else { '?' };
        format!("{head}{}{tail}{sep}sslmode=disable", self.addr)
    }

    /// Cuts the next connection whose server sends `pattern` (once).
    pub fn arm(&self, pattern: &[u8]) {
        *self.armed.lock().unwrap() = Some(pattern.to_vec());
    }

    /// How many replies were lost so far.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

async fn pipe(client: TcpStream, server: TcpStream, armed: Arc<Mutex<Option<Vec<u8>>>>, cuts: Arc<AtomicUsize>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let cut = {
            let mut armed = armed.lock().unwrap();
            let hit = armed.as_ref().is_some_and(|p| chunk.windows(p.len()).any(|w| w == p.as_slice()));
            if hit {
                *armed = None;
            }
            hit
        };
        if cut {
            cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if client_write.write_all(chunk).await.is_err() {
            break;
        }
    }
    // Both directions end: the client sees its connection close without the reply.
    up.abort();
    let _ = client_write.shutdown().await;
}
