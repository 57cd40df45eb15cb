//! Deterministic A/B split: the same recipient at the same split node takes
//! the same branch on every run, on every machine, in every version.
//!
//! The key is the recipient id's hyphenated lower-case text, a NUL byte and
//! the node id, hashed with 64-bit FNV-1a and then mixed with MurmurHash3's
//! 64-bit finaliser (FNV alone leaves the high bits poorly mixed for ids that
//! differ only at the end, such as UUIDv7). The top 53 bits, as a fraction
//! of 1, pick a point on the branches' cumulative weights. Changing any of
//! this reassigns recipients, so it is frozen.

use uuid::Uuid;

use crate::nodes::SplitBranch;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The stable 64-bit hash of (recipient, node).
pub fn split_hash(recipient_id: Uuid, node_id: &str) -> u64 {
    let mut buffer = Uuid::encode_buffer();
    let recipient = recipient_id.hyphenated().encode_lower(&mut buffer);
    let mut hash = FNV_OFFSET;
    for byte in recipient.bytes().chain([0]).chain(node_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    fmix64(hash)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The branch a recipient takes; `None` only when no branch has a positive
/// finite weight (which validation refuses).
pub fn choose_branch<'a>(
    branches: &'a [SplitBranch],
    recipient_id: Uuid,
    node_id: &str,
) -> Option<&'a SplitBranch> {
    let usable = |b: &&SplitBranch| b.weight.is_finite() && b.weight > 0.0;
    let total: f64 = branches.iter().filter(usable).map(|b| b.weight).sum();
    if !(total.is_finite() && total > 0.0) {
        return None;
    }
    let fraction = (split_hash(recipient_id, node_id) >> 11) as f64 / (1u64 << 53) as f64;
    let point = fraction * total;
    let mut cumulative = 0.0;
    let mut last = None;
    for branch in branches.iter().filter(usable) {
        cumulative += branch.weight;
        if point < cumulative {
            return Some(branch);
        }
        last = Some(branch);
    }
    // Rounding can leave `point` a hair above the sum: the last branch.
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branches(weights: &[(&str, f64)]) -> Vec<SplitBranch> {
        weights
            .iter()
            .map(|(id, weight)| SplitBranch {
                id: (*id).into(),
                weight: *weight,
            })
            .collect()
    }

    #[test]
    fn the_hash_is_frozen() {
        let a = split_hash(Uuid::nil(), "split-1");
        assert_eq!(a, split_hash(Uuid::nil(), "split-1"));
        assert_ne!(a, split_hash(Uuid::nil(), "split-2"));
        assert_ne!(a, split_hash(Uuid::from_u128(1), "split-1"));
        assert_eq!(fmix64(0), 0);
        assert_eq!(a, FROZEN_NIL_SPLIT_1);
    }

    // Computed independently (Python) from the description above.
    const FROZEN_NIL_SPLIT_1: u64 = 0xe838_a593_8fb7_75ad;

    #[test]
    fn same_input_same_branch() {
        let bs = branches(&[("a", 50.0), ("b", 50.0)]);
        for i in 0..100u128 {
            let id = Uuid::from_u128(i * 7919);
            let first = choose_branch(&bs, id, "s").unwrap().id.clone();
            for _ in 0..3 {
                assert_eq!(choose_branch(&bs, id, "s").unwrap().id, first);
            }
        }
    }

    #[test]
    fn weights_steer_the_share() {
        let bs = branches(&[("a", 10.0), ("b", 30.0), ("c", 60.0)]);
        let mut counts = [0usize; 3];
        let n = 30_000;
        for i in 0..n {
            let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128);
            let chosen = choose_branch(&bs, id, "split").unwrap();
            counts[bs.iter().position(|b| b.id == chosen.id).unwrap()] += 1;
        }
        for (count, expected) in counts.iter().zip([0.1, 0.3, 0.6]) {
            let share = *count as f64 / n as f64;
            assert!((share - expected).abs() < 0.02, "{counts:?}");
        }
    }

    #[test]
    fn nothing_to_choose_from() {
        assert!(choose_branch(&[], Uuid::nil(), "s").is_none());
        assert!(choose_branch(&branches(&[("a", 0.0)]), Uuid::nil(), "s").is_none());
        let one = branches(&[("a", 0.0), ("b", 1.0)]);
        assert_eq!(choose_branch(&one, Uuid::nil(), "s").unwrap().id, "b");
    }
}
