//! Coin selection: exact sums from power-of-two coins.

use ecash_core::B32;

/// A coin as selection sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Which coin.
    pub serial: B32,
    /// Its value (a power of two).
    pub value: u64,
    /// When it expires; sooner ones are spent first.
    pub deposit_until: u64,
}

/// The coins for a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These coins sum to the amount exactly.
    Exact(Vec<B32>),
    /// No subset is exact: exchange `coin` into `pay` (what is still missing)
    /// plus change, then pay with `partial` and the new coins.
    NeedsChange {
        /// Coins that go into the payment as they are.
        partial: Vec<B32>,
        /// The coin to break.
        coin: B32,
        /// Its value.
        coin_value: u64,
        /// The part of `coin` the payment needs.
        pay: u64,
    },
    /// The coins do not add up to the amount.
    Insufficient {
        /// What the coins add up to.
        have: u64,
    },
}

/// Picks coins summing to `amount`.
///
/// Largest first is exact whenever an exact subset exists, because every
/// power of two divides the larger ones. When it leaves a rest, every unused
/// coin is larger than the rest, so breaking the smallest unused coin is the
/// cheapest change.
pub fn select(coins: &[Candidate], amount: u64) -> Selection {
    let have: u64 = coins.iter().map(|c| c.value).sum();
    if have < amount {
        return Selection::Insufficient { have };
    }
    let mut sorted: Vec<&Candidate> = coins.iter().collect();
    sorted.sort_by(|a, b| {
        b.value
            .cmp(&a.value)
            .then(a.deposit_until.cmp(&b.deposit_until))
            .then(a.serial.0.cmp(&b.serial.0))
    });
    let mut rest = amount;
    let mut chosen = Vec::new();
    let mut unused = Vec::new();
    for c in sorted {
        if c.value <= rest {
            rest -= c.value;
            chosen.push(c.serial);
        } else {
            unused.push(c);
        }
    }
    if rest == 0 {
        return Selection::Exact(chosen);
    }
    match unused.iter().min_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then(a.deposit_until.cmp(&b.deposit_until))
    }) {
        Some(c) => Selection::NeedsChange {
            partial: chosen,
            coin: c.serial,
            coin_value: c.value,
            pay: rest,
        },
        None => Selection::Insufficient { have },
    }
}

#[cfg(test)]
#[cfg(not(target_arch = "wasm32"))]
mod tests {
    use super::*;
    use ecash_core::Fixed;

    fn coins(values: &[u64]) -> Vec<Candidate> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Candidate {
                serial: Fixed([i as u8; 32]),
                value: *v,
                deposit_until: 100 - i as u64,
            })
            .collect()
    }

    fn sum(cs: &[Candidate], serials: &[B32]) -> u64 {
        serials
            .iter()
            .map(|s| cs.iter().find(|c| &c.serial == s).expect("coin").value)
            .sum()
    }

    #[test]
    fn exact_when_possible_change_otherwise() {
        let cs = coins(&[8, 2, 2, 2, 1]);
        assert!(matches!(select(&cs, 6), Selection::Exact(s) if sum(&cs, &s) == 6));
        assert!(matches!(select(&cs, 15), Selection::Exact(s) if s.len() == 5));
        assert_eq!(select(&cs, 16), Selection::Insufficient { have: 15 });
        let cs = coins(&[8, 4]);
        match select(&cs, 3) {
            Selection::NeedsChange {
                partial,
                coin_value,
                pay,
                ..
            } => {
                assert!(partial.is_empty());
                assert_eq!((coin_value, pay), (4, 3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sooner_expiring_coin_of_a_value_goes_first() {
        let cs = coins(&[4, 4]);
        // Index 1 expires sooner (deposit_until 99 < 100).
        assert_eq!(select(&cs, 4), Selection::Exact(vec![Fixed([1; 32])]));
    }

    proptest::proptest! {
        #[test]
        fn selection_is_exact_or_correct_change(
            exps in proptest::collection::vec(0u32..10, 0..40),
            amount in 1u64..3000,
        ) {
            let cs = coins(&exps.iter().map(|e| 1u64 << e).collect::<Vec<_>>());
            let total: u64 = cs.iter().map(|c| c.value).sum();
            match select(&cs, amount) {
                Selection::Exact(s) => proptest::prop_assert_eq!(sum(&cs, &s), amount),
                Selection::Insufficient { have } => {
                    proptest::prop_assert_eq!(have, total);
                    proptest::prop_assert!(total < amount);
                }
                Selection::NeedsChange { partial, coin, coin_value, pay } => {
                    proptest::prop_assert!(!partial.contains(&coin));
                    proptest::prop_assert_eq!(sum(&cs, &partial) + pay, amount);
                    proptest::prop_assert!(pay > 0 && pay < coin_value);
                    // Brute force: no exact subset exists (small inputs only).
                    if cs.len() <= 14 {
                        let n = cs.len();
                        let exact = (0u32..(1 << n)).any(|m| {
                            (0..n).filter(|i| m & (1 << i) != 0).map(|i| cs[i].value).sum::<u64>() == amount
                        });
                        proptest::prop_assert!(!exact);
                    }
                }
            }
        }
    }
}
