//! The ready file: once a server listens, it writes where it listens (and
//! what a client must pin) to a file, atomically, so scripts and test kits
//! find it without parsing logs.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a ready file says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// Which server: `mint-server`, `merchant`.
    pub server: String,
    /// The base URL it serves, as clients reach it.
    pub url: String,
    /// The process id.
    pub pid: u32,
    /// The bank's master public key (base64url), for a mint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_public_key: Option<String>,
    /// The merchant's account at its bank, for a merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl Ready {
    /// Writes `self` to `path` (temp file, fsync, rename): a reader sees all of it or nothing.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let json = serde_json::to_vec_pretty(self)?;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// Flushes what the server printed, then writes `self` to `path` if
    /// one is given: whoever waits for the file sees the log lines first.
    pub fn announce(&self, path: Option<&Path>) -> std::io::Result<()> {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        match path {
            Some(path) => self.write(path),
            None => Ok(()),
        }
    }

    /// Reads a ready file, if it is there and whole.
    pub fn read(path: &Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_file_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ready.json");
        assert_eq!(Ready::read(&path), None);
        let r = Ready {
            server: "mint-server".into(),
            url: "http://127.0.0.1:1".into(),
            pid: 7,
            master_public_key: Some("k".into()),
            account_id: None,
        };
        r.write(&path).expect("write");
        assert_eq!(Ready::read(&path), Some(r));
    }
}
