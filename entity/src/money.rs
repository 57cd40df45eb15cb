//! Decimal columns come back from PostgreSQL as NUMERIC with their scale, but
//! SQLite keeps them as REAL, so `497.00` reads back as `497`. Values leave
//! jornada at their column's scale on either backend.

use rust_decimal::Decimal;

/// Money columns are `decimal(14, 2)`.
pub fn amount(value: Decimal) -> Decimal {
    at_scale(value, 2)
}

/// Rounds half-even to `scale` places and shows exactly that many.
pub fn at_scale(value: Decimal, scale: u32) -> Decimal {
    let mut scaled = value.round_dp(scale);
    scaled.rescale(scale);
    scaled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_always_carry_two_places() {
        assert_eq!(amount(Decimal::new(497, 0)).to_string(), "497.00");
        assert_eq!(amount(Decimal::new(4975, 1)).to_string(), "497.50");
        assert_eq!(
            amount(Decimal::try_from(1234567890.12_f64).unwrap()).to_string(),
            "1234567890.12"
        );
        assert_eq!(at_scale(Decimal::new(25505, 3), 2).to_string(), "25.50");
    }
}
