//! Choosing a record's partition: murmur2 of the key, exactly as the Java
//! client does, for keyed records; a sticky partition for keyless ones.

/// Kafka's murmur2 hash, bit for bit as the Java client's
/// `Utils.murmur2` (seed `0x9747b28c`), so that keyed records land in the
/// same partition whichever client produced them.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java mixes the length in as an int; keys longer than 2 GiB cannot
    // be produced anyway, and truncating as Java would is the same hash.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        if tail.len() == 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner gives a keyed
/// record: `toPositive(murmur2(key)) % partitions`. `partitions` must be
/// positive.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    debug_assert!(partitions > 0);
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions.max(1)
}

/// The sticky partitioner for records without a key (KIP-480, KIP-794):
/// all keyless records of a topic go to one partition until about a
/// batch's worth of bytes went there, then to another, so batches fill up
/// instead of one record per partition per linger.
///
/// Java weighs the next partition by how much each partition's queue
/// holds (adaptive partitioning); this one picks uniformly among the
/// partitions that have a leader, skipping the current one, which is
/// Java's behaviour with `partitioner.adaptive.partitioning.enable=false`.
#[derive(Debug, Clone)]
pub struct StickyPartitioner {
    /// Bytes after which the partition changes (the producer's batch size).
    switch_after: usize,
    current: Option<u32>,
    /// The metadata version at which `current` was last seen to have a
    /// leader: it is checked again only when the metadata changes.
    checked_at: Option<u64>,
    produced: usize,
    rng: u64,
}

impl StickyPartitioner {
    /// A sticky partitioner that changes partition after `switch_after`
    /// bytes, with its random choice seeded by `seed`.
    pub fn new(switch_after: usize, seed: u64) -> Self {
        Self {
            switch_after: switch_after.max(1),
            current: None,
            checked_at: None,
            produced: 0,
            rng: seed,
        }
    }

    /// The partition for a keyless record of `size` bytes, among
    /// `partitions` partitions of which `available` (those with a leader;
    /// may be empty) are preferred, by the metadata of `version`.
    /// `available` is only asked for when the partition changes, or
    /// `current_available` says the current one lost its leader; that is
    /// asked once per metadata version, not per record.
    pub fn partition(
        &mut self,
        size: usize,
        partitions: u32,
        version: u64,
        current_available: impl FnOnce(u32) -> bool,
        available: impl FnOnce() -> Vec<u32>,
    ) -> u32 {
        let partitions = partitions.max(1);
        let stale = match self.current {
            None => true,
            Some(p) => {
                p >= partitions
                    || self.produced >= self.switch_after
                    || (self.checked_at != Some(version) && !current_available(p))
            }
        };
        if stale {
            let next = self.pick(partitions, &available());
            self.current = Some(next);
            self.produced = 0;
        }
        self.checked_at = Some(version);
        self.produced += size;
        self.current.unwrap_or(0)
    }

    fn pick(&mut self, partitions: u32, available: &[u32]) -> u32 {
        let previous = self.current;
        let candidates: Vec<u32> = if available.is_empty() {
            (0..partitions).collect()
        } else {
            available
                .iter()
                .copied()
                .filter(|&p| p < partitions)
                .collect()
        };
        let choices: Vec<u32> = if candidates.len() > 1 {
            candidates
                .iter()
                .copied()
                .filter(|&p| Some(p) != previous)
                .collect()
        } else {
            candidates
        };
        match choices.len() {
            0 => 0,
            n => choices[(self.next_random() % n as u64) as usize],
        }
    }

    /// splitmix64: spread, not secrecy.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of the Java client's own `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn every_tail_length_is_hashed() {
        // Each length 0..=8 gives a distinct hash for distinct input, and
        // none panics.
        let hashes: Vec<i32> = (0..=8).map(|n| murmur2(&b"abcdefgh"[..n])).collect();
        let mut unique = hashes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), hashes.len());
    }

    #[test]
    fn keyed_partition_is_positive_modulo() {
        for key in [&b"21"[..], b"foobar", b"abc", b""] {
            let p = partition_for_key(key, 7);
            assert!(p < 7);
            assert_eq!(p, ((murmur2(key) & 0x7fff_ffff) as u32) % 7);
        }
    }

    #[test]
    fn sticky_stays_until_a_batch_is_full_then_moves() {
        let mut sticky = StickyPartitioner::new(1000, 42);
        let first = sticky.partition(100, 6, 0, |_| true, Vec::new);
        for _ in 0..9 {
            assert_eq!(sticky.partition(100, 6, 0, |_| true, Vec::new), first);
        }
        // 1000 bytes went there: the next record moves elsewhere.
        let second = sticky.partition(100, 6, 0, |_| true, Vec::new);
        assert_ne!(second, first);
        assert!(second < 6);
    }

    #[test]
    fn sticky_prefers_partitions_with_a_leader() {
        let mut sticky = StickyPartitioner::new(10, 7);
        for _ in 0..200 {
            let p = sticky.partition(10, 6, 0, |p| p == 1 || p == 4, || vec![1, 4]);
            assert!(p == 1 || p == 4, "{p}");
        }
    }

    #[test]
    fn sticky_checks_the_leader_once_per_metadata_version() {
        let mut sticky = StickyPartitioner::new(1000, 5);
        let first = sticky.partition(10, 6, 1, |_| true, || vec![0, 1, 2, 3, 4, 5]);
        // Same metadata: the current partition is not looked up again.
        for _ in 0..5 {
            let p = sticky.partition(10, 6, 1, |_| panic!("asked again"), Vec::new);
            assert_eq!(p, first);
        }
        // New metadata in which it lost its leader: it moves at once.
        let others: Vec<u32> = (0..6).filter(|&p| p != first).collect();
        let moved = sticky.partition(10, 6, 2, |p| p != first, || others.clone());
        assert_ne!(moved, first);
    }

    #[test]
    fn sticky_spreads_over_every_partition() {
        let mut sticky = StickyPartitioner::new(1, 3);
        let mut seen = [0u32; 5];
        for _ in 0..1000 {
            seen[sticky.partition(1, 5, 0, |_| true, Vec::new) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}
