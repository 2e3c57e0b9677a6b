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
            "--bank-id",
            "mint-a",
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
    assert_eq!(cert.body.bank_id, "mint-a");
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
            "--bank-id",
            "mint-b",
            "--cs-addr",
            "ftp://b",
            "--master-key",
            &master,
        ],
    );
    assert!(!ok && err.contains("--cs-addr"), "{err}");
    // A bank id another key's certificate in force holds: refused, until
    // that certificate is revoked (a bank's new master key takes it then).
    let other = ecash_core::Keypair::generate()
        .expect("rng")
        .public()
        .0
        .to_b64();
    let take_a = |dir: &std::path::Path| {
        certifier(
            dir,
            &[
                "issue",
                "--cs-name",
                "Mint A2",
                "--bank-id",
                "mint-a",
                "--cs-addr",
                "https://mint-a2.example",
                "--master-key",
                &other,
            ],
        )
    };
    let (ok, _, _) = issue(&["--replace"]);
    assert!(ok, "mint-a in force again");
    let (ok, _, err) = take_a(dir.path());
    assert!(!ok && err.contains("bank id"), "{err}");
    let (_, list, _) = certifier(dir.path(), &["list"]);
    let live = list
        .lines()
        .find(|l| l.ends_with("in force"))
        .and_then(|l| l.split('\t').next())
        .expect("one in force")
        .to_owned();
    let (ok, _, _) = certifier(
        dir.path(),
        &["revoke", "--cert-id", &live, "--reason", "new master key"],
    );
    assert!(ok);
    let (ok, _, err) = take_a(dir.path());
    assert!(ok, "the bank id is free again: {err}");
}
