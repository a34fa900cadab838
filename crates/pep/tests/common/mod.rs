//! Shared by the replication tests: a TCP relay between a replica and the
//! server that a test can cut and mend, as a network partition would.

#![allow(dead_code)]

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A relay between the replica and the server that can be cut and mended.
pub struct Relay {
    /// The address to give the replica.
    pub url: String,
    up: watch::Sender<bool>,
}

impl Relay {
    /// A relay to `upstream`, up.
    pub async fn start(upstream: std::net::SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (up, _) = watch::channel(true);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut up = state.subscribe();
                if !*up.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = up.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Relay { url, up }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn mend(&self) {
        self.up.send_replace(true);
    }
}
