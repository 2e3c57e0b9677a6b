//! `--setup offline`: the costs of one offline (CAFE) coin, `OFFLINE.md`
//! section 9, against a real mint: withdraw (the wallet's time and the
//! mint's CPU), spend, payee verification, and deposit in batches; with
//! one raw OpenSSL RSA-2048 private operation, on one core, measured in the
//! same run as the unit. One client, one coin at a time: these are costs,
//! not throughput.

use std::time::Instant;

use ecash_core::canonical::Canonical;
use ecash_core::offline::messages::MAX_BATCH;
use ecash_core::offline::payee::Payee;
use ecash_core::offline::{self, Spend, TERMS};
use ecash_testkit::{MintProc, SyncBank};
use serde_json::json;

use crate::cpu::cpu_seconds;
use crate::{Args, Res, account, mint_flags};

/// Milliseconds of one raw OpenSSL RSA-2048 private operation on one core.
fn raw_private_ms(seconds: f64) -> Res<f64> {
    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let mut m = vec![0u8; 256];
    m[1..].copy_from_slice(&[0x5a; 255]);
    let mut out = vec![0u8; 256];
    let (t0, mut n) = (Instant::now(), 0u64);
    while t0.elapsed().as_secs_f64() < seconds.max(0.05) {
        rsa.private_decrypt(&m, &mut out, openssl::rsa::Padding::NONE)?;
        n += 1;
    }
    Ok(t0.elapsed().as_secs_f64() * 1000.0 / n as f64)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Measures `args.offline_coins` offline coins end to end.
pub fn measure(args: &Args) -> Res<serde_json::Value> {
    let raw = raw_private_ms(args.raw_seconds)?;
    let mut flags = mint_flags(&args.signer);
    flags.extend(["--offline-max-exp", "0"].map(String::from));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    eprintln!("starting a mint with offline keys…");
    let mint = MintProc::start(&flags);
    let pid = vec![mint.proc.ready.pid];
    let bank = SyncBank::connect(mint.url(), &mint.master);
    let n = args.offline_coins.clamp(1, MAX_BATCH);
    let who = account(&bank);
    bank.collateral(&who, true, n as u64)?;
    let shop = bank.register("bench shop");
    let key = bank.offline_key_of(1);
    let pk = bank
        .keys
        .offline_key(&key)
        .ok_or("no offline key")?
        .key
        .clone();

    eprintln!("offline phase: {n} coins…");
    let (mut wallet_ms, mut round_ms) = (0.0, 0.0);
    let cpu0 = cpu_seconds(&pid);
    let mut coins = Vec::with_capacity(n);
    for _ in 0..n {
        // The wallet's share: candidates, openings, unblinding and check.
        let standing = bank.offline_standing(&who)?;
        let t = Instant::now();
        let cands = offline::Candidates::new(&pk, key, standing.next_identity)?;
        wallet_ms += ms(t);
        let req = offline::messages::OfflineWithdrawRequest {
            account_id: who.id.clone(),
            request_id: ecash_core::Fixed(ecash_testkit::random32()),
            key_id: key,
            counter: standing.next_counter,
            candidates: cands.blinded.clone(),
            timestamp: bank.now(),
        };
        let rid = req.request_id;
        let t = Instant::now();
        let ch = bank.call::<ecash_core::api::OfflineWithdraw>(
            &(),
            &ecash_core::Signed::sign(req, &who.key),
        )?;
        round_ms += ms(t);
        let t = Instant::now();
        let openings = cands.open(&pk, &ch.open)?;
        wallet_ms += ms(t);
        let open = offline::messages::OfflineOpenRequest {
            account_id: who.id.clone(),
            request_id: rid,
            openings,
            timestamp: bank.now(),
        };
        let t = Instant::now();
        let sig = bank
            .call::<ecash_core::api::OfflineOpen>(&(), &ecash_core::Signed::sign(open, &who.key))?;
        round_ms += ms(t);
        let t = Instant::now();
        coins.push(cands.finish(&pk, &ch.open, &sig.blind_signature.0)?);
        wallet_ms += ms(t);
    }
    // The standing queries between coins are not offline work, but the
    // mint's CPU counts them: one cheap signed query per coin.
    let withdraw_cpu = (cpu_seconds(&pid) - cpu0) * 1000.0 / n as f64;

    let mut payee = Payee::new(&shop.id, 3600);
    let (mut spend_ms, mut verify_ms) = (0.0, 0.0);
    let mut spends: Vec<Spend> = Vec::with_capacity(n);
    for coin in &coins {
        let request = payee.request(bank.now())?;
        let t = Instant::now();
        let spend = coin.spend(&request);
        spend_ms += ms(t);
        let t = Instant::now();
        payee.accept(&spend, &bank.keys, bank.now())?;
        verify_ms += ms(t);
        spends.push(spend);
    }
    let json_bytes = serde_json::to_vec(&spends[0])?.len();
    let canonical_bytes = spends[0].canonical_bytes().len();

    eprintln!("offline deposit: one batch of {n}…");
    let cpu0 = cpu_seconds(&pid);
    let t = Instant::now();
    let receipt = bank.offline_deposit(&shop, &spends)?;
    let deposit_ms = ms(t) / n as f64;
    let deposit_cpu = (cpu_seconds(&pid) - cpu0) * 1000.0 / n as f64;
    if receipt.credited != n as u64 {
        return Err("the deposit did not credit every coin".into());
    }
    let per = |total: f64| total / n as f64;
    let row = |v: f64| json!({ "ms": round3(v), "in_raw_private_ops": round3(v / raw) });
    Ok(json!({
        "setup": "offline",
        "terms_per_coin": TERMS,
        "coins": n,
        "raw_openssl_rsa2048_private_ms_one_core": round3(raw),
        "withdraw_wallet_per_coin": row(per(wallet_ms)),
        "withdraw_two_rounds_wall_per_coin": row(per(round_ms)),
        "withdraw_mint_cpu_per_coin": row(withdraw_cpu),
        "spend_payer_per_coin": row(per(spend_ms)),
        "verify_payee_per_coin": row(per(verify_ms)),
        "deposit_wall_per_coin_in_batch": row(deposit_ms),
        "deposit_mint_cpu_per_coin": row(deposit_cpu),
        "transcript_bytes_canonical": canonical_bytes,
        "transcript_bytes_json": json_bytes,
        "double_spender_escapes_per_pair_of_spends": format!("2^-{TERMS}"),
    }))
}
