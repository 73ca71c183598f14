//! `/claim AMOUNT CURRENCY REASON` read into an exact claim, or one clear refusal that shows
//! the expected form. Amounts are parsed from their digits into a [`Decimal`], never through a
//! float: `1,234.50` is exactly 1234.50. Only ASCII digits count (no exponents, no `NaN`, no
//! other scripts' digits); thousands separators must group by three, so `1,23.4` is refused
//! rather than guessed at.

use rust_decimal::Decimal;

use super::ClaimRules;
use crate::text::{cut_plain, ECHO_LIMIT, REASON_LIMIT};

/// How to write a claim, quoted in every refusal.
pub const USAGE: &str = "/claim 45.20 SGD taxi to client meeting";

/// A claim as a member asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub amount: Decimal,
    /// Upper-case ISO code, one of the configured currencies.
    pub currency: String,
    /// The member's words, trimmed and cut to [`REASON_LIMIT`] characters (plain text).
    pub reason: String,
}

/// Why a `/claim` was refused. Each names what was wrong and shows the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefusal {
    #[error("Say how much, in which currency and why: {USAGE}")]
    Empty,
    #[error("“{0}” is not an amount. Write it like 45.20 or 1,234.50: {USAGE}")]
    NotAnAmount(String),
    #[error("A claim can't be negative. Write the amount you spent: {USAGE}")]
    Negative,
    #[error("A claim must be more than zero: {USAGE}")]
    Zero,
    #[error("{currency} amounts have at most {decimals} digits after the point.")]
    TooPrecise { currency: String, decimals: u32 },
    #[error("{amount} {currency} is more than the {max} {currency} a claim may be. If it is right, ask an approver to file it another way.")]
    Absurd {
        amount: String,
        currency: String,
        max: String,
    },
    #[error("Say which currency ({known}): {USAGE}")]
    MissingCurrency { known: String },
    #[error("I don't take claims in {currency}. Currencies: {known}.")]
    UnknownCurrency { currency: String, known: String },
    #[error("Say what it was for: {USAGE}")]
    MissingReason,
}

impl ClaimRefusal {
    /// A short tag for the audit log.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotAnAmount(_) => "not an amount",
            Self::Negative => "negative amount",
            Self::Zero => "zero amount",
            Self::TooPrecise { .. } => "too many decimals",
            Self::Absurd { .. } => "amount over the maximum",
            Self::MissingCurrency { .. } => "no currency",
            Self::UnknownCurrency { .. } => "unknown currency",
            Self::MissingReason => "no reason",
        }
    }
}

/// Reads `args` (what follows `/claim`): the amount and the currency in either order
/// (`45.20 SGD` or `SGD 45.20`), then the reason.
pub fn parse(args: &str, rules: &ClaimRules) -> Result<ClaimRequest, ClaimRefusal> {
    let mut words = args.split_whitespace();
    let first = words.next().ok_or(ClaimRefusal::Empty)?;
    let second = words.next();
    let reason = words.collect::<Vec<_>>().join(" ");
    let (amount_text, currency_text, reason) = if looks_like_currency(first) {
        match second {
            Some(amount) => (amount, Some(first), reason),
            None => return Err(ClaimRefusal::NotAnAmount(cut_plain(first, ECHO_LIMIT))),
        }
    } else {
        match second {
            Some(currency) if looks_like_currency(currency) => (first, Some(currency), reason),
            // `45.20 taxi`: the second word is the reason's start, and the currency is missing.
            Some(word) => (first, None, join(word, &reason)),
            None => (first, None, reason),
        }
    };
    let amount = parse_amount(amount_text)?;
    let Some(currency_text) = currency_text else {
        return Err(ClaimRefusal::MissingCurrency {
            known: rules.known(),
        });
    };
    let code = currency_text.to_ascii_uppercase();
    let Some(currency) = rules.currency(&code) else {
        return Err(ClaimRefusal::UnknownCurrency {
            currency: cut_plain(&code, ECHO_LIMIT),
            known: rules.known(),
        });
    };
    if amount.scale() > currency.decimals {
        return Err(ClaimRefusal::TooPrecise {
            currency: code,
            decimals: currency.decimals,
        });
    }
    if amount > currency.max {
        return Err(ClaimRefusal::Absurd {
            amount: amount.to_string(),
            currency: code,
            max: currency.max.to_string(),
        });
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ClaimRefusal::MissingReason);
    }
    Ok(ClaimRequest {
        amount,
        currency: code,
        reason: cut_plain(reason, REASON_LIMIT),
    })
}

fn join(word: &str, rest: &str) -> String {
    if rest.is_empty() {
        word.to_owned()
    } else {
        format!("{word} {rest}")
    }
}

/// Three ASCII letters: a currency code, known or not.
fn looks_like_currency(word: &str) -> bool {
    word.len() == 3 && word.bytes().all(|b| b.is_ascii_alphabetic())
}

/// An amount: ASCII digits, optionally grouped by three with commas, optionally a point and
/// more digits. A leading `-` is a negative claim; a leading `+` is tolerated.
fn parse_amount(text: &str) -> Result<Decimal, ClaimRefusal> {
    let not_an_amount = || ClaimRefusal::NotAnAmount(cut_plain(text, ECHO_LIMIT));
    let (negative, digits) = match text.strip_prefix(['-', '−']) {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let whole = ungroup(whole).ok_or_else(not_an_amount)?;
    let fraction = match fraction {
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => f,
        Some(_) => return Err(not_an_amount()),
        None => "",
    };
    // 28 significant digits is Decimal's precision; nothing near it is a real claim.
    if whole.len() + fraction.len() > 20 {
        return Err(not_an_amount());
    }
    let plain = if fraction.is_empty() {
        whole
    } else {
        format!("{whole}.{fraction}")
    };
    let amount = Decimal::from_str_exact(&plain).map_err(|_| not_an_amount())?;
    if negative && !amount.is_zero() {
        return Err(ClaimRefusal::Negative);
    }
    if amount.is_zero() {
        return Err(ClaimRefusal::Zero);
    }
    Ok(amount)
}

/// `1,234,567` → `1234567`; plain digits as they are; `None` for anything else (a group not
/// of three, a leading comma, no digits).
fn ungroup(whole: &str) -> Option<String> {
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return None;
    }
    let groups: Vec<&str> = whole.split(',').collect();
    let (head, tail) = groups.split_first()?;
    let grouped_right = (1..=3).contains(&head.len()) && tail.iter().all(|g| g.len() == 3);
    if tail.is_empty() || grouped_right {
        Some(groups.concat())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::CurrencyRule;

    fn rules() -> ClaimRules {
        let rule = |code: &str, decimals, max: &str, two: &str| CurrencyRule {
            code: code.to_owned(),
            decimals,
            max: Decimal::from_str_exact(max).unwrap(),
            two_approvals_above: Decimal::from_str_exact(two).unwrap(),
        };
        ClaimRules {
            currencies: vec![
                rule("SGD", 2, "10000", "500"),
                rule("JPY", 0, "1000000", "50000"),
            ],
        }
    }

    fn ok(args: &str) -> (String, String, String) {
        let claim = parse(args, &rules()).unwrap_or_else(|e| panic!("{args}: {e}"));
        (claim.amount.to_string(), claim.currency, claim.reason)
    }

    fn refused(args: &str) -> ClaimRefusal {
        parse(args, &rules()).expect_err(args)
    }

    #[test]
    fn amounts_are_exact_decimals_with_optional_thousands_separators() {
        let taxi = (
            "45.20".into(),
            "SGD".into(),
            "taxi to client meeting".into(),
        );
        assert_eq!(ok("45.20 SGD taxi to client meeting"), taxi);
        assert_eq!(ok("SGD 45.20 taxi to client meeting"), taxi);
        assert_eq!(ok("45.20 sgd   taxi  to client meeting "), taxi);
        assert_eq!(ok("1,234.50 SGD hotel").0, "1234.50");
        assert_eq!(ok("1,234 SGD hotel").0, "1234");
        assert_eq!(ok("+12 SGD lunch").0, "12");
        assert_eq!(ok("0.10 SGD stamp").0, "0.10");
        assert_eq!(ok("9,999.99 SGD laptop").0, "9999.99");
        assert_eq!(ok("1500 JPY coffee").0, "1500");
        // 0.1 + 0.2 stays 0.3: nothing goes through a float.
        let sum = parse("0.1 SGD a", &rules()).unwrap().amount
            + parse("0.2 SGD b", &rules()).unwrap().amount;
        assert_eq!(sum.to_string(), "0.3");
    }

    #[test]
    fn each_mistake_gets_its_own_refusal() {
        assert_eq!(refused(""), ClaimRefusal::Empty);
        assert_eq!(refused("   "), ClaimRefusal::Empty);
        assert_eq!(refused("-45 SGD taxi"), ClaimRefusal::Negative);
        assert_eq!(refused("−45 SGD taxi"), ClaimRefusal::Negative);
        assert_eq!(refused("0 SGD taxi"), ClaimRefusal::Zero);
        assert_eq!(refused("0.00 SGD taxi"), ClaimRefusal::Zero);
        assert!(matches!(
            refused("45.205 SGD taxi"),
            ClaimRefusal::TooPrecise { decimals: 2, .. }
        ));
        assert!(matches!(
            refused("1.5 JPY coffee"),
            ClaimRefusal::TooPrecise { decimals: 0, .. }
        ));
        assert!(matches!(
            refused("10,000.01 SGD car"),
            ClaimRefusal::Absurd { .. }
        ));
        assert!(matches!(
            refused("45.20 taxi to the airport"),
            ClaimRefusal::MissingCurrency { .. }
        ));
        assert!(matches!(
            refused("45.20"),
            ClaimRefusal::MissingCurrency { .. }
        ));
        assert_eq!(
            refused("45.20 EUR taxi"),
            ClaimRefusal::UnknownCurrency {
                currency: "EUR".into(),
                known: "SGD, JPY".into()
            }
        );
        assert_eq!(refused("45.20 SGD"), ClaimRefusal::MissingReason);
        assert_eq!(refused("SGD 45.20"), ClaimRefusal::MissingReason);
    }

    #[test]
    fn hostile_or_odd_amounts_are_not_amounts() {
        for amount in [
            "1e3",
            "NaN",
            "inf",
            "0x10",
            "1,23.4",
            ",123",
            "1,2345",
            "12,",
            "1.2.3",
            "1.",
            ".",
            "45.20.",
            "١٢٣",
            "１２",
            "1_000",
            "1 000",
            "--5",
            "4 5",
            "99999999999999999999999",
            "<b>5</b>",
            "5;DROP",
            "1,000,00",
        ] {
            let args = format!("{amount} SGD reason");
            match parse(&args, &rules()) {
                Err(ClaimRefusal::NotAnAmount(_) | ClaimRefusal::MissingCurrency { .. }) => {}
                other => panic!("{amount:?} read as {other:?}"),
            }
        }
        // A currency then no amount.
        assert!(matches!(refused("SGD"), ClaimRefusal::NotAnAmount(_)));
        // The echo of a hostile word is cut short; the reply escapes it when rendered.
        let long = "9".repeat(300) + "x";
        match refused(&format!("{long} SGD taxi")) {
            ClaimRefusal::NotAnAmount(echoed) => {
                assert!(echoed.chars().count() <= ECHO_LIMIT + 1, "{echoed}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_reason_is_kept_as_plain_text_and_cut() {
        let (_, _, reason) = ok("5 SGD <script>alert(1)</script> & “quotes”");
        assert_eq!(reason, "<script>alert(1)</script> & “quotes”");
        let (_, _, reason) = ok(&format!("5 SGD {}", "a".repeat(1000)));
        assert!(reason.chars().count() <= REASON_LIMIT, "{}", reason.len());
    }
}
