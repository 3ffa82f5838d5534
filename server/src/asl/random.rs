//! Randomness passed into the language, so that evaluation stays deterministic under
//! test and replay: `States.MathRandom`, `States.UUID` and retry jitter draw from here.

/// A source of random 64-bit words.
pub trait RandomSource {
    /// The next random word.
    fn next_u64(&mut self) -> u64;

    /// A uniformly distributed float in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        // 53 random bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64: small, fast and reproducible from a seed. Not cryptographic; nothing in
/// the language needs that (AWS documents MathRandom as not cryptographically secure).
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    /// A generator whose whole sequence is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandom { state: seed }
    }
}

impl RandomSource for SeededRandom {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_sequence() {
        let mut a = SeededRandom::new(7);
        let mut b = SeededRandom::new(7);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(
            SeededRandom::new(7).next_u64(),
            SeededRandom::new(8).next_u64()
        );
    }

    #[test]
    fn floats_stay_in_unit_interval() {
        let mut random = SeededRandom::new(1);
        for _ in 0..1000 {
            let x = random.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
