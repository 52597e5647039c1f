//! Byte classification: turns 64 bytes at a time into bit masks, one bit per byte, for each
//! kind of delimiter.
//!
//! HL7 has a delimiter every 5–10 bytes, so finding them one call at a time (memchr stepping)
//! spends its time on call overhead. Classifying a whole block into masks is branch-free and
//! vectorises: the compare loop becomes SIMD compares, and each mask is packed from a byte array
//! with one multiply per 8 bytes. Walking the structure is then `trailing_zeros` over masks.
//! The code is plain safe Rust written so that LLVM vectorises it; `benches/parse.rs` measures it
//! against a five-delimiter count over the same input.

use super::delimiters::Delimiters;

/// The block size: one `u64` mask bit per byte.
pub(crate) const BLOCK: usize = 64;

/// Masks for one 64-byte block; bit `i` describes byte `i` of the block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlockMasks {
    /// Field separators, CR and LF: what segment and field framing needs.
    pub structural: u64,
    /// Repetition separators.
    pub repetition: u64,
    /// Component separators.
    pub component: u64,
    /// Subcomponent separators.
    pub subcomponent: u64,
}

/// Bit flags in the per-byte classification array, packed into masks afterwards.
const F_STRUCT: u8 = 1;
const F_REP: u8 = 2;
const F_COMP: u8 = 4;
const F_SUB: u8 = 8;

/// Packs bit `flag` of each of 8 bytes into 8 bits: byte `i` of `w` contributes bit `i`.
///
/// After masking, every byte is 0 or 1; multiplying by 0x0102040810204080 sums `b_i << i` into
/// the top byte without carries.
#[inline(always)]
fn pack8(w: u64, shift: u32) -> u64 {
    let ones = (w >> shift) & 0x0101_0101_0101_0101;
    ones.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Classifies bytes against one message's delimiters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Classifier {
    field: u8,
    component: u8,
    repetition: u8,
    subcomponent: u8,
    has_repetition: bool,
    has_subcomponent: bool,
}

impl Classifier {
    pub fn new(d: &Delimiters) -> Classifier {
        Classifier {
            field: d.field,
            component: d.component,
            repetition: d.repetition.unwrap_or(0),
            subcomponent: d.subcomponent.unwrap_or(0),
            has_repetition: d.repetition.is_some(),
            has_subcomponent: d.subcomponent.is_some(),
        }
    }

    /// Classifies one full block.
    #[inline(always)]
    pub fn block(&self, block: &[u8; BLOCK]) -> BlockMasks {
        let mut flags = [0u8; BLOCK];
        for (f, &b) in flags.iter_mut().zip(block.iter()) {
            let s = (b == self.field) | (b == b'\r') | (b == b'\n');
            let r = (b == self.repetition) & self.has_repetition;
            let c = b == self.component;
            let u = (b == self.subcomponent) & self.has_subcomponent;
            *f = (s as u8 * F_STRUCT) | (r as u8 * F_REP) | (c as u8 * F_COMP) | (u as u8 * F_SUB);
        }
        let mut m = BlockMasks::default();
        for (j, chunk) in flags.chunks_exact(8).enumerate() {
            let mut w8 = [0u8; 8];
            w8.copy_from_slice(chunk);
            let w = u64::from_le_bytes(w8);
            let at = 8 * j as u32;
            m.structural |= pack8(w, 0) << at;
            m.repetition |= pack8(w, 1) << at;
            m.component |= pack8(w, 2) << at;
            m.subcomponent |= pack8(w, 3) << at;
        }
        m
    }

    /// Classifies a final partial block (fewer than 64 bytes); bits past its end are zero.
    pub fn tail(&self, bytes: &[u8]) -> BlockMasks {
        let mut block = [0u8; BLOCK];
        block[..bytes.len()].copy_from_slice(bytes);
        let mut m = self.block(&block);
        // The padding is NUL, which the classifier may match only if a delimiter were NUL;
        // delimiters are printable, so this mask is a guard for the invariant, not a fix-up.
        let keep = if bytes.len() == BLOCK {
            u64::MAX
        } else {
            (1u64 << bytes.len()) - 1
        };
        m.structural &= keep;
        m.repetition &= keep;
        m.component &= keep;
        m.subcomponent &= keep;
        m
    }
}

/// The first set bit at or after `from` and before `to` in a bitmap, if any.
#[inline]
pub(crate) fn next_bit(bits: &[u64], from: usize, to: usize) -> Option<usize> {
    if from >= to {
        return None;
    }
    let mut w = from / BLOCK;
    let mut word = bits.get(w)? & (u64::MAX << (from % BLOCK));
    loop {
        if word != 0 {
            let pos = w * BLOCK + word.trailing_zeros() as usize;
            return (pos < to).then_some(pos);
        }
        w += 1;
        if w * BLOCK >= to {
            return None;
        }
        word = *bits.get(w)?;
    }
}

/// The position of the `k`-th (0-based) set bit at or after `from` and before `to`.
#[inline]
pub(crate) fn nth_bit(bits: &[u64], from: usize, to: usize, mut k: usize) -> Option<usize> {
    if from >= to {
        return None;
    }
    let mut w = from / BLOCK;
    let mut word = bits.get(w)? & (u64::MAX << (from % BLOCK));
    loop {
        let ones = word.count_ones() as usize;
        if k < ones {
            for _ in 0..k {
                word &= word - 1;
            }
            let pos = w * BLOCK + word.trailing_zeros() as usize;
            return (pos < to).then_some(pos);
        }
        k -= ones;
        w += 1;
        if w * BLOCK >= to {
            return None;
        }
        word = *bits.get(w)?;
    }
}

/// How many bits are set in `[from, to)`.
#[inline]
pub(crate) fn count_bits(bits: &[u64], from: usize, to: usize) -> usize {
    if from >= to {
        return 0;
    }
    let (first, last) = (from / BLOCK, (to - 1) / BLOCK);
    let mut n = 0;
    for w in first..=last {
        let mut word = bits.get(w).copied().unwrap_or(0);
        if w == first {
            word &= u64::MAX << (from % BLOCK);
        }
        if w == last && !to.is_multiple_of(BLOCK) {
            word &= (1u64 << (to % BLOCK)) - 1;
        }
        n += word.count_ones() as usize;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks_by_loop(bytes: &[u8], d: &Delimiters) -> BlockMasks {
        let mut m = BlockMasks::default();
        for (i, &b) in bytes.iter().enumerate() {
            let bit = 1u64 << i;
            if b == d.field || b == b'\r' || b == b'\n' {
                m.structural |= bit;
            }
            if Some(b) == d.repetition {
                m.repetition |= bit;
            }
            if b == d.component {
                m.component |= bit;
            }
            if Some(b) == d.subcomponent {
                m.subcomponent |= bit;
            }
        }
        m
    }

    #[test]
    fn classify_matches_byte_loop() {
        let cases: &[(&[u8], Delimiters)] = &[
            (b"PID|1||123^^^MR&1.2&ISO~456\r", Delimiters::default()),
            (b"", Delimiters::default()),
            (b"a|b^c~d&e\nf\r\ng", Delimiters::default()),
            (
                b"x#y$z%w*",
                Delimiters {
                    field: b'#',
                    component: b'$',
                    repetition: Some(b'%'),
                    escape: Some(b'*'),
                    subcomponent: Some(b'!'),
                    truncation: None,
                },
            ),
            (
                b"a^b~c&d\0",
                Delimiters {
                    repetition: None,
                    subcomponent: None,
                    ..Delimiters::default()
                },
            ),
        ];
        for (bytes, d) in cases {
            let c = Classifier::new(d);
            assert_eq!(c.tail(bytes), masks_by_loop(bytes, d), "{bytes:?}");
        }
        let long: Vec<u8> = (0..64u32)
            .map(|i| b"|^~&\\ab\r\n"[(i % 9) as usize])
            .collect();
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(&long);
        let d = Delimiters::default();
        assert_eq!(Classifier::new(&d).block(&block), masks_by_loop(&long, &d));
    }

    #[test]
    fn bit_queries() {
        let bits = [0b1010u64, 0, 1 << 3];
        assert_eq!(next_bit(&bits, 0, 200), Some(1));
        assert_eq!(next_bit(&bits, 2, 200), Some(3));
        assert_eq!(next_bit(&bits, 4, 200), Some(131));
        assert_eq!(next_bit(&bits, 4, 131), None);
        assert_eq!(next_bit(&bits, 132, 500), None);
        assert_eq!(nth_bit(&bits, 0, 200, 0), Some(1));
        assert_eq!(nth_bit(&bits, 0, 200, 2), Some(131));
        assert_eq!(nth_bit(&bits, 2, 200, 1), Some(131));
        assert_eq!(nth_bit(&bits, 0, 131, 2), None);
        assert_eq!(nth_bit(&bits, 0, 200, 3), None);
        assert_eq!(count_bits(&bits, 0, 192), 3);
        assert_eq!(count_bits(&bits, 2, 131), 1);
        assert_eq!(count_bits(&bits, 2, 132), 2);
    }
}
