//! Exact comparison of decimal strings such as `ltvTotal` (`"1234.50"`), with
//! no floating point: money is never a float.

use std::cmp::Ordering;

/// A decimal number as `±0.d₁d₂… × 10^exponent`, digits without leading or
/// trailing zeros (empty for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Reads `-12.5`, `+3`, `0.005`, `.5`, `1e3`, `1.5E-2`; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, unsigned) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => {
                let exp = &unsigned[at + 1..];
                let exp = exp.strip_prefix('+').unwrap_or(exp);
                if exp.is_empty() || exp.len() > 12 {
                    return None;
                }
                (&unsigned[..at], exp.parse::<i64>().ok()?)
            }
            None => (unsigned, 0),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if integer.is_empty() && fraction.is_empty() {
            return None;
        }
        if !integer
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut digits: Vec<u8> = integer
            .bytes()
            .chain(fraction.bytes())
            .map(|b| b - b'0')
            .collect();
        let mut point = integer.len() as i64 + exponent;
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        point -= leading as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Self {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        Some(Self {
            negative,
            digits,
            exponent: point,
        })
    }

    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => self
                .exponent
                .cmp(&other.exponent)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::parse(text).unwrap_or_else(|| panic!("{text} rejected"))
    }

    #[test]
    fn compares_exactly() {
        assert_eq!(d("1234.50"), d("1234.5"));
        assert_eq!(d("0"), d("-0.000"));
        assert_eq!(d("1e3"), d("1000"));
        assert_eq!(d(".5"), d("0.50"));
        assert!(d("1234.51") > d("1234.5"));
        assert!(d("-2") < d("-1.999"));
        assert!(d("0.005") < d("0.05"));
        assert!(d("100") > d("99.999999999999999999999"));
        assert!(d("-0.1") < d("0"));
        assert!(d("1.5E-2") < d("0.02"));
        assert!(d("500") > d("499.99"));
        assert!(d("12") > d("9"));
    }

    #[test]
    fn rejects_non_numbers() {
        for bad in [
            "",
            "-",
            ".",
            "1,5",
            "abc",
            "1e",
            "1.2.3",
            "NaN",
            "1e99999999999999",
            " 1",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
    }
}
