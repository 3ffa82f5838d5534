//! Unguessable randomness for task tokens and generated names: a cryptographically
//! secure generator (ChaCha12, rand's `StdRng`) seeded by the operating system, so no
//! token can be predicted from the ones a caller has seen.

use std::cell::RefCell;

use rand::{RngCore, SeedableRng};

use crate::asl::intrinsics::uuid_from_words;
use crate::asl::random::RandomSource;

/// A seeded generator: each partition has one, and each thread one for names.
pub(super) struct TokenRandom {
    rng: rand::rngs::StdRng,
}

impl Default for TokenRandom {
    fn default() -> Self {
        TokenRandom {
            rng: rand::rngs::StdRng::from_os_rng(),
        }
    }
}

impl RandomSource for TokenRandom {
    fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

thread_local! {
    static NAMES: RefCell<TokenRandom> = RefCell::new(TokenRandom::default());
}

/// A fresh version 4 UUID (execution names, Express execution ids), without a lock.
pub(super) fn uuid() -> String {
    NAMES.with(|random| {
        let mut random = random.borrow_mut();
        let (a, b) = (random.next_u64(), random.next_u64());
        uuid_from_words(a, b)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_differ_and_have_the_v4_shape() {
        let (a, b) = (super::uuid(), super::uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
