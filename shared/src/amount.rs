//! Money: integer minor units of one currency, checked arithmetic, and
//! power-of-two denominations.

use serde::{Deserialize, Serialize};

use crate::canonical::Encoder;

/// Arithmetic or parsing of money failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The result does not fit in `u64` or is below zero.
    #[error("amount overflow or underflow")]
    Overflow,
    /// Two amounts of different currencies were combined.
    #[error("currency mismatch: {0} vs {1}")]
    CurrencyMismatch(String, String),
    /// A currency code is not 3 to 12 ASCII uppercase letters or digits.
    #[error("invalid currency code {0:?}")]
    BadCurrency(String),
    /// A denomination is not a power of two.
    #[error("denomination {0} is not a power of two")]
    BadDenomination(u64),
    /// The value cannot be made from the available denominations.
    #[error("{0} cannot be paid exactly with the available denominations")]
    Unrepresentable(u64),
}

/// A currency code such as `EUR`, or a demo currency such as `DEMO`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Validates a currency code: 3 to 12 characters of `A-Z0-9`.
    pub fn new(code: &str) -> Result<Self, AmountError> {
        let ok = (3..=12).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(code.to_owned()))
        } else {
            Err(AmountError::BadCurrency(code.to_owned()))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = AmountError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z0-9]{3,12}$",
            "description": "currency code"
        })
    }
}

/// An amount of money in minor units (cents) of one currency.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Amount {
    /// Currency code.
    pub currency: Currency,
    /// Minor units.
    pub value: u64,
}

impl Amount {
    /// `value` minor units of `currency`.
    pub fn new(currency: Currency, value: u64) -> Self {
        Self { currency, value }
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self { currency, value: 0 }
    }

    fn same_currency(&self, other: &Self) -> Result<(), AmountError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(AmountError::CurrencyMismatch(
                self.currency.0.clone(),
                other.currency.0.clone(),
            ))
        }
    }

    /// `self + other`, refusing overflow and mixed currencies.
    pub fn checked_add(&self, other: &Self) -> Result<Self, AmountError> {
        self.same_currency(other)?;
        let value = self
            .value
            .checked_add(other.value)
            .ok_or(AmountError::Overflow)?;
        Ok(Self {
            currency: self.currency.clone(),
            value,
        })
    }

    /// `self - other`, refusing underflow and mixed currencies.
    pub fn checked_sub(&self, other: &Self) -> Result<Self, AmountError> {
        self.same_currency(other)?;
        let value = self
            .value
            .checked_sub(other.value)
            .ok_or(AmountError::Overflow)?;
        Ok(Self {
            currency: self.currency.clone(),
            value,
        })
    }

    /// Writes the canonical fields: currency, then value.
    pub fn encode(&self, e: &mut Encoder) {
        e.str(self.currency.as_str()).u64(self.value);
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{:02} {}",
            self.value / 100,
            self.value % 100,
            self.currency
        )
    }
}

/// A coin value: a power of two in minor units, stored as its exponent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(try_from = "u64", into = "u64")]
pub struct Denomination(u8);

impl Denomination {
    /// The denomination `2^exp`; `exp` at most 62.
    pub fn from_exponent(exp: u8) -> Result<Self, AmountError> {
        if exp <= 62 {
            Ok(Self(exp))
        } else {
            Err(AmountError::Overflow)
        }
    }

    /// The denomination of `value`, which must be a power of two.
    pub fn from_value(value: u64) -> Result<Self, AmountError> {
        if value.is_power_of_two() && value.trailing_zeros() <= 62 {
            Ok(Self(value.trailing_zeros() as u8))
        } else {
            Err(AmountError::BadDenomination(value))
        }
    }

    /// Value in minor units.
    pub fn value(self) -> u64 {
        1u64 << self.0
    }

    /// The exponent.
    pub fn exponent(self) -> u8 {
        self.0
    }
}

impl TryFrom<u64> for Denomination {
    type Error = AmountError;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        Self::from_value(v)
    }
}

impl From<Denomination> for u64 {
    fn from(d: Denomination) -> Self {
        d.value()
    }
}

/// Splits `value` into coins from `available` (any order), fewest coins first:
/// largest denomination first. With powers of two this is exact whenever
/// `value` is a multiple of the smallest denomination.
pub fn split(value: u64, available: &[Denomination]) -> Result<Vec<Denomination>, AmountError> {
    let mut denoms: Vec<Denomination> = available.to_vec();
    denoms.sort_unstable_by(|a, b| b.cmp(a));
    denoms.dedup();
    let mut rest = value;
    let mut out = Vec::new();
    for d in denoms {
        let n = rest / d.value();
        if n > 0 {
            // Bounded by the caller's max-coins limit; guard absurd requests here too.
            if n > 1_000_000 {
                return Err(AmountError::Unrepresentable(value));
            }
            out.extend(std::iter::repeat_n(d, n as usize));
            rest -= n * d.value();
        }
    }
    if rest == 0 {
        Ok(out)
    } else {
        Err(AmountError::Unrepresentable(value))
    }
}

#[cfg(test)]
#[cfg(not(target_arch = "wasm32"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_denoms(max_exp: u8) -> Vec<Denomination> {
        (0..=max_exp)
            .map(|e| Denomination::from_exponent(e).expect("exp"))
            .collect()
    }

    #[test]
    fn currency_validation() {
        assert!(Currency::new("EUR").is_ok());
        assert!(Currency::new("eur").is_err());
        assert!(Currency::new("EU").is_err());
        assert!(serde_json::from_str::<Currency>("\"E$R\"").is_err());
    }

    #[test]
    fn mixed_currencies_refused() {
        let a = Amount::new(Currency::new("EUR").expect("c"), 1);
        let b = Amount::new(Currency::new("USD").expect("c"), 1);
        assert!(matches!(
            a.checked_add(&b),
            Err(AmountError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn split_refuses_unrepresentable() {
        let d = [
            Denomination::from_value(2).expect("d"),
            Denomination::from_value(4).expect("d"),
        ];
        assert_eq!(split(3, &d), Err(AmountError::Unrepresentable(3)));
        assert_eq!(split(6, &d).expect("split").len(), 2);
        assert!(Denomination::from_value(3).is_err());
        assert!(Denomination::from_value(0).is_err());
    }

    proptest! {
        #[test]
        fn split_sums_exactly(value in 0u64..1_000_000_000, max_exp in 10u8..30) {
            let coins = split(value, &all_denoms(max_exp)).expect("split");
            let sum: u64 = coins.iter().map(|d| d.value()).sum();
            prop_assert_eq!(sum, value);
            if value < (1u64 << (max_exp + 1)) {
                prop_assert_eq!(coins.len() as u32, value.count_ones());
            }
        }

        #[test]
        fn add_sub_never_wrap(a in any::<u64>(), b in any::<u64>()) {
            let c = Currency::new("DEMO").expect("c");
            let x = Amount::new(c.clone(), a);
            let y = Amount::new(c, b);
            match x.checked_add(&y) {
                Ok(s) => {
                    prop_assert_eq!(s.value as u128, a as u128 + b as u128);
                    prop_assert_eq!(s.checked_sub(&y).expect("sub"), x.clone());
                }
                Err(e) => prop_assert_eq!(e, AmountError::Overflow),
            }
            match x.checked_sub(&y) {
                Ok(d) => prop_assert_eq!(d.value, a - b),
                Err(e) => { prop_assert!(a < b); prop_assert_eq!(e, AmountError::Overflow); }
            }
        }

        #[test]
        fn denomination_json_round_trip(exp in 0u8..=62) {
            let d = Denomination::from_exponent(exp).expect("d");
            let json = serde_json::to_string(&d).expect("ser");
            prop_assert_eq!(serde_json::from_str::<Denomination>(&json).expect("de"), d);
        }
    }
}
