//! Times one withdraw of 64 coins and one deposit of 8 coins against a real
//! mint on loopback, with the client-side work (blinding, finalizing) timed
//! apart from the request. A reference is measured in the same run: the
//! mint's own per-coin blind-sign cost on this machine, so the figures read as
//! ratios too. Prints JSON.
//!
//! Run: `cargo run --release -p mint-server --example loopback_timing`
//! (starts `target/release/mint-server` on a free port with a fresh data dir).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use ecash_core::canonical::Canonical;
use ecash_core::coin::PendingCoin;
use ecash_core::messages::*;
use ecash_core::{
    Amount, Fixed, Keypair, Signed, SignedKeySet, VerifiedKeySet, blind_rsa, envelope,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rand32() -> Res<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    Ok(b)
}

fn main() -> Res<()> {
    let dir = tempfile::tempdir()?;
    let bin = std::env::current_exe()?
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("mint-server"))
        .ok_or("no bin")?;
    let mut child = Command::new(&bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--demo-faucet",
            "--max-denomination-exp",
            "10",
            "--web-dir",
            "/nonexistent",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "start {}: {e} (build it: cargo build --release -p mint-server)",
                bin.display()
            )
        })?;
    let out = child.stdout.take().ok_or("stdout")?;
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let line = lines.next().ok_or("mint exited")??;
        if let Some(u) = line.strip_prefix("mint-server listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let result = measure(&url);
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn measure(url: &str) -> Res<()> {
    let http = reqwest::blocking::Client::new();
    let signed: SignedKeySet = http.get(format!("{url}/keys")).send()?.json()?;
    let keys = VerifiedKeySet::verify(&signed, &signed.body.master_public_key)?;
    let cur = keys.set.currency.clone();
    let reg = |label: &str| -> Res<(Keypair, String)> {
        let k = Keypair::generate().map_err(|e| e.to_string())?;
        let r = Signed::sign(
            RegisterAccount {
                public_key: k.public(),
                label: label.into(),
                timestamp: now(),
            },
            &k,
        );
        let c: AccountCreated = http
            .post(format!("{url}/accounts"))
            .json(&r)
            .send()?
            .json()?;
        Ok((k, c.account_id))
    };
    let (ak, aid) = reg("client")?;
    let (mk, mid) = reg("merchant")?;
    http.post(format!("{url}/accounts/{aid}/faucet"))
        .json(&FaucetRequest {
            amount: Amount::new(cur.clone(), 100_000),
        })
        .send()?
        .error_for_status()?;

    // 64 coins of value 1 (one key, so the figure is per-coin signing cost).
    let wk = keys.withdraw_keys(now());
    let one = wk
        .values()
        .find(|k| k.info.value.value == 1)
        .ok_or("no 1-coin key")?;
    let t = Instant::now();
    let pending: Vec<PendingCoin> = (0..64)
        .map(|_| PendingCoin::new_random(one.info.key_id, &one.key))
        .collect::<Result<_, _>>()?;
    let blind_ms = t.elapsed().as_secs_f64() * 1e3;
    let req = Signed::sign(
        WithdrawRequest {
            account_id: aid.clone(),
            request_id: Fixed(rand32()?),
            amount: Amount::new(cur.clone(), 64),
            coins: pending.iter().map(|p| p.blinded.clone()).collect(),
            timestamp: now(),
        },
        &ak,
    );
    let t = Instant::now();
    let sigs: BlindSignatures = http
        .post(format!("{url}/withdraw"))
        .json(&req)
        .send()?
        .error_for_status()?
        .json()?;
    let withdraw_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let coins = pending
        .iter()
        .zip(&sigs.blind_signatures)
        .map(|(p, s)| p.finalize(&one.key, &s.0))
        .collect::<Result<Vec<_>, _>>()?;
    let finalize_ms = t.elapsed().as_secs_f64() * 1e3;

    // Deposit of 8 coins.
    let pay = &coins[..8];
    let payer_code = rand32()?;
    let info = PaymentInfo {
        bank_id: keys.set.bank_id.clone(),
        amount: Amount::new(cur.clone(), 8),
        ncoins: 8,
        timestamp: now(),
        merchant_bank_id: keys.set.bank_id.clone(),
        merchant_acc_id: mid.clone(),
        payreq_id: "timing".into(),
        description_hash: description_hash("timing"),
        payer_code_hash: payer_code_hash(&payer_code),
    };
    let bundle = CoinBundle {
        payment_info_hash: Fixed(info.canonical_hash()),
        coins: pay.to_vec(),
    };
    let sealed = envelope::seal(
        &keys.encryption_key,
        &serde_json::to_vec(&bundle)?,
        &info.canonical_hash(),
    )?;
    let dep = Signed::sign(
        Deposit {
            merchant_acc_id: mid,
            payment: Payment {
                payment_info: info,
                sealed_coins: sealed,
            },
        },
        &mk,
    );
    let t = Instant::now();
    http.post(format!("{url}/deposit"))
        .json(&dep)
        .send()?
        .error_for_status()?;
    let deposit_ms = t.elapsed().as_secs_f64() * 1e3;

    // Reference in the same run: raw blind-sign cost per coin in this process.
    let sk = blind_rsa::generate_key(2048)?;
    let msgs: Vec<_> = (0..64)
        .map(|_| PendingCoin::new_random(Fixed([0; 32]), &sk.to_public_key()))
        .collect::<Result<Vec<_>, _>>()?;
    let t = Instant::now();
    for m in &msgs {
        blind_rsa::blind_sign(&sk, &m.blinded.blinded_msg.0)?;
    }
    let sign64_ms = t.elapsed().as_secs_f64() * 1e3;

    println!(
        "{{\"withdraw_64_ms\":{withdraw_ms:.1},\"withdraw_64_vs_raw_sign_64\":{:.2},\"client_blind_64_ms\":{blind_ms:.1},\
         \"client_finalize_verify_64_ms\":{finalize_ms:.1},\"deposit_8_ms\":{deposit_ms:.1},\"raw_sign_64_ms\":{sign64_ms:.1}}}",
        withdraw_ms / sign64_ms
    );
    Ok(())
}
