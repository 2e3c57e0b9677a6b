//! What people read: amounts, times and error messages. Pure, so it is tested natively.

use wallet_wasm::WalletError;

/// `1234` minor units of `DEMO` → `12.34 DEMO`.
pub fn money(value: u64, currency: &str) -> String {
    format!("{}.{:02} {currency}", value / 100, value % 100)
}

/// Parses `12.34` or `12` into minor units.
pub fn parse_money(s: &str) -> Option<u64> {
    let s = s.trim();
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if whole.is_empty() && frac.is_empty() || frac.len() > 2 {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let f: u64 = format!("{frac:0<2}").parse().ok()?;
    let v = w.checked_mul(100)?.checked_add(f)?;
    (v > 0).then_some(v)
}

/// A message a person can act on, for every failure the wallet reports.
pub fn explain(e: &WalletError) -> String {
    match e {
        WalletError::Unreachable { .. } => {
            "The bank or shop cannot be reached. Check your connection and try again; nothing was lost.".into()
        }
        WalletError::InsufficientFunds { need, have } => format!(
            "Not enough money: this needs {}, you have {}.",
            money(*need, ""),
            money(*have, "")
        )
        .replace(" ,", ",")
        .replace(" .", "."),
        WalletError::Interrupted { source, .. } => match source.as_ref() {
            WalletError::Unreachable { .. } => "The bank or shop cannot be reached, so the operation could not finish. It is saved: it finishes by itself when the connection is back (or press “Recover now” in History). Nothing was lost.".into(),
            other => format!(
                "{} The operation is saved: it finishes by itself later (or press “Recover now” in History).",
                explain(other)
            ),
        },
        WalletError::Tampered(why) => format!(
            "An answer failed verification and was refused ({why}). No coin was accepted from it."
        ),
        WalletError::KeySet(why) => format!(
            "The bank's keys do not carry the signature this wallet trusts ({why}). Do not use this bank."
        ),
        WalletError::Refused { error, .. } => match error.code.as_str() {
            "coin_spent" => "A coin was already spent. If you restored this wallet on another device, the other copy spent it.".into(),
            "key_expired" => "These coins have expired at the bank.".into(),
            "insufficient_funds" => "Your bank account does not hold enough money. Use the demo faucet first.".into(),
            "payreq_invalid" => format!("The shop refused the payment: {}", error.message),
            "faucet_disabled" => "This bank has no demo faucet.".into(),
            "unavailable" => "The shop's bank cannot be reached right now.".into(),
            "in_progress" => "The bank or shop is busy with this very payment; it is retried shortly.".into(),
            "timeout" => "The bank or shop took too long to answer.".into(),
            _ => format!("The request was refused: {} ({})", error.message, error.code.as_str()),
        },
        WalletError::Certificate(why) => format!(
            "This bank is not vouched for by the certifier this wallet trusts ({why}). Do not use it."
        ),
        WalletError::Token(why) => format!("This transfer token cannot be received: {why}"),
        WalletError::Payreq(why) => format!("This payment request cannot be paid: {why}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips() {
        assert_eq!(money(1234, "DEMO"), "12.34 DEMO");
        assert_eq!(money(5, "DEMO"), "0.05 DEMO");
        assert_eq!(parse_money("12.34"), Some(1234));
        assert_eq!(parse_money("12.3"), Some(1230));
        assert_eq!(parse_money("7"), Some(700));
        assert_eq!(parse_money(".5"), Some(50));
        for bad in [
            "",
            ".",
            "0",
            "1.234",
            "-1",
            "1e3",
            "abc",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_failure_gets_a_readable_message() {
        let e = WalletError::InsufficientFunds {
            need: 250,
            have: 100,
        };
        assert_eq!(
            explain(&e),
            "Not enough money: this needs 2.50, you have 1.00."
        );
        let e = WalletError::Interrupted {
            op: "x".into(),
            source: Box::new(WalletError::Unreachable {
                url: "u".into(),
                reason: "r".into(),
            }),
        };
        assert!(explain(&e).contains("cannot be reached") && explain(&e).contains("saved"));
    }
}
