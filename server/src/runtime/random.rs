//! Unguessable randomness for task tokens and generated names: SipHash keyed by the OS
//! (std's `RandomState`) over a counter. A token must not be predictable from earlier
//! ones.

use std::cell::RefCell;

use crate::asl::intrinsics::uuid_from_words;
use crate::asl::random::RandomSource;

/// A keyed counter: each partition has one, and each thread one for names.
pub(super) struct TokenRandom {
    keys: std::collections::hash_map::RandomState,
    counter: u64,
}

impl Default for TokenRandom {
    fn default() -> Self {
        TokenRandom {
            keys: std::collections::hash_map::RandomState::new(),
            counter: 0,
        }
    }
}

impl RandomSource for TokenRandom {
    fn next_u64(&mut self) -> u64 {
        use std::hash::BuildHasher;
        self.counter += 1;
        self.keys.hash_one(self.counter)
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
