//! A mint certified by a real certifier (both real binaries): it hands in
//! its key set, serves the certifier's papers with `/keys` only once they
//! name it truly, and stops serving them when its certificate is revoked.

use std::time::{Duration, Instant};

use ecash_core::certificate::{CertError, KeysAnswer, verify_certified};
use ecash_core::client::{BankClient, CertifierClient};
use ecash_testkit::{CertifierProc, MintProc, now};

fn keys(mint: &MintProc) -> KeysAnswer {
    let bank = BankClient::new(mint.url(), ecash_testkit::transport());
    ecash_testkit::runtime()
        .block_on(bank.keys())
        .expect("GET /keys")
}

/// Polls `/keys` until `done` holds of it (at most 20 s).
fn wait_for(mint: &MintProc, what: &str, done: impl Fn(&KeysAnswer) -> bool) -> KeysAnswer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = keys(mint);
        if done(&a) {
            return a;
        }
        assert!(Instant::now() < deadline, "{what}:\n{}", mint.proc.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_mint_serves_true_papers_only_and_drops_them_when_revoked() {
    let fic = CertifierProc::start(&[]);
    let args = fic.mint_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mint = MintProc::start(&args);
    let rt = ecash_testkit::runtime();
    let directory = CertifierClient::new(fic.url(), ecash_testkit::transport());

    // Not certified yet: the bare set, which a wallet pinning the certifier refuses.
    let bare = keys(&mint);
    assert!(matches!(
        verify_certified(&bare, mint.url(), &fic.key, None, now()),
        Err(CertError::NotCertified(_))
    ));

    // A certificate naming another address: the mint does not serve it.
    let wrong = fic.issue(
        "Mint A",
        "demo-bank",
        "http://127.0.0.1:9",
        &mint.master,
        86_400,
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        assert!(
            keys(&mint).certification.is_none(),
            "papers for another address served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        mint.proc.log().contains("not certified"),
        "{}",
        mint.proc.log()
    );
    fic.revoke(wrong.body.cert_id, "wrong address");

    // Its own: served within a second or two, and checks out as a wallet checks it.
    let cert = fic.certify("Mint A", &mint);
    let certified = wait_for(&mint, "the certification is served", |a| {
        a.certification.is_some()
    });
    let m = verify_certified(&certified, mint.url(), &fic.key, None, now()).expect("certified");
    assert_eq!(m.certificate, cert.body);
    assert_eq!(m.keys.set, certified.key_set.body);
    let papers = certified.certification.clone().expect("papers");
    // The certifier publishes the same attestation, and lists the mint.
    let att = rt
        .block_on(directory.attested_key_set(cert.body.cert_id))
        .expect("attested key set");
    assert_eq!(att, papers.attestation);
    let listed = rt.block_on(directory.mints()).expect("directory");
    assert_eq!(listed, vec![cert.clone()]);
    // The same papers do not vouch for another mint's address.
    assert!(matches!(
        verify_certified(&certified, "http://127.0.0.1:9", &fic.key, None, now()),
        Err(CertError::Mismatch(_))
    ));

    // Revoked: the certifier's own list says so at once, and the mint
    // stops serving the papers at its next attempt.
    fic.revoke(cert.body.cert_id, "keys compromised");
    let list = rt.block_on(directory.revocations()).expect("revocations");
    assert!(matches!(
        verify_certified(&certified, mint.url(), &fic.key, Some(&list), now()),
        Err(CertError::Revoked { .. })
    ));
    wait_for(&mint, "the revoked papers are dropped", |a| {
        a.certification.is_none()
    });
    assert!(
        rt.block_on(directory.mints())
            .expect("directory")
            .is_empty(),
        "a revoked mint stays listed"
    );
}

/// A request of `account` to be certified as `name`, signed by `key`, at `at`.
fn cert_request(
    id: &str,
    name: &str,
    at: u64,
    key: &ecash_core::Keypair,
) -> ecash_core::Signed<ecash_core::messages::MerchantCertRequest> {
    ecash_core::Signed::sign(
        ecash_core::messages::MerchantCertRequest {
            account_id: id.to_owned(),
            name: name.to_owned(),
            timestamp: at,
        },
        key,
    )
}

#[test]
fn a_bank_certifies_a_merchant_s_own_key_only_when_its_operator_says_so() {
    use ecash_core::certificate::verify_merchant;
    use ecash_core::{ErrorCode, Keypair};
    use ecash_testkit::refused;

    // Off by default.
    let plain = MintProc::start(&[]);
    let c = plain.client();
    let shop = c.register("shop");
    let r = c.block_on(
        c.bank
            .certify_merchant(&cert_request(&shop.id, "Shop", now(), &shop.key)),
    );
    assert_eq!(refused(r), (404, ErrorCode::NotFound));

    let mint = MintProc::start(&["--merchant-certificate-secs", "3600"]);
    let c = mint.client();
    let shop = c.register("shop");
    let bank_id = c.keys.set.bank_id.clone();
    let cert = c
        .block_on(c.bank.certify_merchant(&cert_request(
            &shop.id,
            " Sticker shop ",
            now(),
            &shop.key,
        )))
        .expect("certified");
    assert_eq!(cert.body.name, "Sticker shop");
    assert_eq!(cert.body.public_key, shop.key.public());
    verify_merchant(&cert, &bank_id, &mint.master, &shop.id, now()).expect("checks out");
    assert!(cert.body.not_after >= now() + 3_590);
    // Under another bank's key, or for another account, it does not check out.
    let other = Keypair::generate().expect("rng");
    assert!(verify_merchant(&cert, &bank_id, &other.public(), &shop.id, now()).is_err());
    assert!(verify_merchant(&cert, &bank_id, &mint.master, "someone-else", now()).is_err());

    // Refused, all sent for the shop's account: signed by another key, a
    // request for another account, stale, bad names.
    let thief = c.register("thief");
    for (req, want) in [
        (
            cert_request(&shop.id, "Shop", now(), &thief.key),
            (401, ErrorCode::BadSignature),
        ),
        (
            cert_request(&thief.id, "Shop", now(), &thief.key),
            (401, ErrorCode::BadSignature),
        ),
        (
            cert_request(&shop.id, "Shop", now() - 3_600, &shop.key),
            (401, ErrorCode::StaleRequest),
        ),
        (
            cert_request(&shop.id, "", now(), &shop.key),
            (400, ErrorCode::InvalidField),
        ),
        (
            cert_request(&shop.id, "a\u{7}b", now(), &shop.key),
            (400, ErrorCode::InvalidField),
        ),
    ] {
        let r = c.block_on(
            c.bank
                .0
                .call::<ecash_core::api::CertifyMerchant>(shop.id.as_str(), &req),
        );
        assert_eq!(refused(r), want, "{:?}", req.body);
    }
    let ghost = Keypair::generate().expect("rng");
    let id = ecash_core::messages::account_id(&ghost.public());
    let r = c.block_on(
        c.bank
            .certify_merchant(&cert_request(&id, "Ghost", now(), &ghost)),
    );
    assert_eq!(refused(r), (404, ErrorCode::UnknownAccount));
}
