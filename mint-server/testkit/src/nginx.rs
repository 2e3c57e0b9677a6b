//! nginx (Debian's, `scripts/setup.sh` installs it) as the reverse proxy in
//! front of several mint nodes: one URL for the wallet, the merchant and
//! `mint-bench`, spread over the nodes. It runs as a child process with a
//! config of its own in a temporary directory, never the system service.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts nginx (or `NGINX_BIN`).
fn binary() -> PathBuf {
    std::env::var_os("NGINX_BIN").map_or_else(|| PathBuf::from("/usr/sbin/nginx"), PathBuf::from)
}

/// The repo's nginx config (`deploy/nginx-cluster.conf`, which `make
/// run-cluster` fills in too) for `upstreams` (host:port each), listening
/// on `port`, with its files under `dir`.
pub fn config(dir: &std::path::Path, port: u16, upstreams: &[String]) -> String {
    let servers: Vec<String> = upstreams
        .iter()
        .map(|u| format!("        server {u} max_fails=1 fail_timeout=2s;"))
        .collect();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    include_str!("../../../deploy/nginx-cluster.conf")
        .replace("@USER@", if root { "user root;\n" } else { "" })
        .replace("@PREFIX@", &dir.display().to_string())
        .replace("@UPSTREAMS@", &servers.join("\n"))
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
}

/// nginx in front of a set of nodes, stopped when dropped.
pub struct Nginx {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Its URL.
    pub url: String,
}

impl Nginx {
    /// Starts nginx in front of `upstreams` (host:port each) on a free port.
    pub fn start(upstreams: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), port, upstreams)).expect("nginx.conf");
        let child = Command::new(binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start nginx ({}): {e}; scripts/setup.sh installs it",
                    binary().display()
                )
            });
        let mut n = Self {
            child: Some(child),
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = n.child.as_mut().map(Child::try_wait) {
                panic!("nginx exited ({status}):\n{}", n.log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen:\n{}",
                n.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    /// Its error log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // TERM, not KILL: the master takes its workers down with it.
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
