//! Where an execution lives: a stable hash of its ARN picks one of the data directory's
//! partitions, and every task token starts with that hash, so a token finds its
//! execution's partition (on this node, or in a cluster the node that owns it) without a
//! table shared by all executions.
//!
//! The hash is FNV-1a over the ARN's bytes followed by SplitMix64's finaliser. It must
//! never change: it is written into task tokens and decides which partition recovers an
//! execution.

/// Partitions in a new data directory: enough that 64 cores have work each, few enough
/// that a laptop pays nothing for them (an idle partition is a map and a sleeping task).
pub const DEFAULT_PARTITIONS: u16 = 64;

/// Most partitions a data directory may have.
pub const MAX_PARTITIONS: u16 = 4096;

/// Hex digits of the ARN hash at the start of a task token.
const HASH_DIGITS: usize = 16;

/// The stable 64-bit hash of an execution ARN.
pub fn arn_hash(arn: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in arn.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's low bits mix poorly for ARNs that differ only at the end; the finaliser
    // spreads every input bit over the whole word before the modulo.
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The partition (of `count`) that a hash falls in.
pub fn partition_of_hash(hash: u64, count: u16) -> u16 {
    (hash % u64::from(count.max(1))) as u16
}

/// The partition (of `count`) of an execution.
pub fn partition_of(arn: &str, count: u16) -> u16 {
    partition_of_hash(arn_hash(arn), count)
}

/// A task token of `arn`'s execution: its ARN hash, then 128 random bits, all in hex.
pub fn task_token(arn: &str, random: [u64; 2]) -> String {
    format!("{:016x}{:016x}{:016x}", arn_hash(arn), random[0], random[1])
}

/// The ARN hash a task token starts with; `None` for a token of another shape (issued
/// before tokens carried it, or not issued by Stepwise at all).
pub fn token_hash(token: &str) -> Option<u64> {
    if token.len() != HASH_DIGITS + 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(&token[..HASH_DIGITS], 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fixed_forever() {
        // Stored tokens and recovered partitions depend on these exact values (computed
        // independently: FNV-1a 64 then the SplitMix64 finaliser).
        assert_eq!(arn_hash(""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(
            arn_hash("arn:aws:states:us-east-1:123456789012:execution:M:run-1"),
            0x957c_a933_694f_5e3d
        );
    }

    #[test]
    fn executions_spread_evenly_over_partitions() {
        let count = DEFAULT_PARTITIONS;
        let mut sizes = vec![0u32; count as usize];
        for i in 0..64_000 {
            let arn = format!("arn:aws:states:us-east-1:123456789012:execution:orders:run-{i}");
            sizes[partition_of(&arn, count) as usize] += 1;
        }
        let (least, most) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
        // 1,000 expected in each; a fair hash stays well within ±15 %.
        assert!(least > 850 && most < 1150, "sizes from {least} to {most}");
    }

    #[test]
    fn a_token_names_its_execution_partition() {
        let arn = "arn:aws:states:us-east-1:123456789012:execution:M:e";
        let token = task_token(arn, [7, u64::MAX]);
        assert_eq!(token.len(), 48);
        assert_eq!(token_hash(&token), Some(arn_hash(arn)));
        // Tokens of the older 32-digit shape, or foreign text, carry no hash.
        assert_eq!(token_hash(&token[16..]), None);
        assert_eq!(token_hash(&"z".repeat(48)), None);
        assert_eq!(partition_of_hash(arn_hash(arn), 1), 0);
    }
}
