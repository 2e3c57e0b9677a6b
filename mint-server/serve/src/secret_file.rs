//! 32-byte secrets kept in files of their own (a server's signing key, an
//! admin token): base64url, mode 0600, made once and fsynced.

use std::io::Write;
use std::path::Path;

use ecash_core::B32;

/// The secret in `path`, made (32 random bytes) if the file is missing.
/// Errors name the file.
pub fn load_or_create(path: &Path) -> Result<B32, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            B32::from_b64(text.trim()).ok_or_else(|| format!("{} is corrupt", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
            let value = B32::from_array(bytes);
            create(path, &value.to_b64())?;
            Ok(value)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes `text` to a new file `path`, readable by its owner only, fsynced.
fn create(path: &Path, text: &str) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut f = opts.open(path).map_err(fail)?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.key");
        let a = load_or_create(&path).expect("made");
        assert_eq!(load_or_create(&path).expect("read"), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not base64 of 32 bytes").expect("write");
        assert!(
            load_or_create(&path)
                .expect_err("corrupt")
                .contains("corrupt")
        );
    }
}
