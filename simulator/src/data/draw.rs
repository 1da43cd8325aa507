//! Deterministic draws: every record's attributes come from `(seed, domain, index)`, so a record
//! can be rendered again at any time without storing it, and the same seed gives the same data.

/// SplitMix64 step (Steele, Lea and Flood): a fast, well-mixed 64-bit hash.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stream of pseudo-random numbers for one record.
#[derive(Debug, Clone)]
pub(crate) struct Draw {
    state: u64,
}

impl Draw {
    /// The stream of record `index` in `domain` (a constant per kind of record) under `seed`.
    pub(crate) fn new(seed: u64, domain: u64, index: u64) -> Self {
        Draw { state: mix(mix(seed ^ domain.rotate_left(32)) ^ index) }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `permille / 1000`.
    pub(crate) fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_domain_and_index_give_the_same_stream() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut d = Draw::new(7, 1, 3);
                move |_| d.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut d = Draw::new(7, 1, 3);
                move |_| d.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..5)
            .map({
                let mut d = Draw::new(8, 1, 3);
                move |_| d.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range_and_reaches_both_ends() {
        let mut d = Draw::new(1, 2, 3);
        let seen: Vec<u64> = (0..1000).map(|_| d.below(3)).collect();
        assert!(seen.iter().all(|&v| v < 3));
        assert!(seen.contains(&0) && seen.contains(&2));
    }
}
