//! The certifier's command line, as an operator runs it: the real binary on
//! a fresh data dir.

use std::path::Path;
use std::process::Command;

fn certifier(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_certifier"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run certifier");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_operator_certifies_lists_and_revokes_a_mint() {
    let dir = tempfile::tempdir().expect("tmp");
    let (ok, key, _) = certifier(dir.path(), &["public-key"]);
    assert!(ok);
    let key = key.trim().to_owned();
    assert_eq!(
        certifier(dir.path(), &["public-key"]).1.trim(),
        key,
        "one key, kept"
    );

    let master = ecash_core::Keypair::generate()
        .expect("rng")
        .public()
        .0
        .to_b64();
    let issue = |extra: &[&str]| {
        let mut args = vec![
            "issue",
            "--cs-name",
            "Mint A",
            "--cs-addr",
            "https://mint-a.example/",
        ];
        args.push("--master-key");
        args.push(&master);
        args.extend_from_slice(extra);
        certifier(dir.path(), &args)
    };
    let (ok, out, err) = issue(&[]);
    assert!(ok, "{err}");
    let cert: ecash_core::Signed<ecash_core::certificate::MintCertificate> =
        serde_json::from_str(&out).expect("a certificate");
    assert_eq!(cert.body.cs_addr, "https://mint-a.example");
    assert_eq!(cert.body.certifier.0.to_b64(), key);
    // Again: refused, unless it is missing or replaces the one in force.
    let (ok, _, err) = issue(&[]);
    assert!(!ok && err.contains("--replace"), "{err}");
    let (ok, out, _) = issue(&["--if-missing"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).expect("json")["body"]["cert_id"],
        1
    );

    let (_, list, _) = certifier(dir.path(), &["list"]);
    assert!(
        list.contains("Mint A") && list.contains("in force"),
        "{list}"
    );
    let (ok, _, _) = certifier(
        dir.path(),
        &["revoke", "--cert-id", "1", "--reason", "test"],
    );
    assert!(ok);
    let (_, list, _) = certifier(dir.path(), &["list"]);
    assert!(list.contains("revoked (test)"), "{list}");

    // Refusals say what is wrong and exit non-zero.
    let (ok, _, err) = certifier(dir.path(), &["revoke", "--cert-id", "9", "--reason", "x"]);
    assert!(!ok && err.contains("no certificate 9"), "{err}");
    let (ok, _, err) = certifier(
        dir.path(),
        &[
            "issue",
            "--cs-name",
            "B",
            "--cs-addr",
            "ftp://b",
            "--master-key",
            &master,
        ],
    );
    assert!(!ok && err.contains("--cs-addr"), "{err}");
}
