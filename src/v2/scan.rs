//! Byte classification: turns 64 bytes at a time into bit masks, one bit per byte, for each
//! kind of delimiter.
//!
//! HL7 has a delimiter every 5–10 bytes, so finding them one call at a time (memchr stepping)
//! spends its time on call overhead. Classifying a whole block into masks is branch-free, and
//! walking the structure is then `trailing_zeros` over masks. On x86_64 the masks come from
//! SSE2 compares and `movemask` ([`sse2`], the one module allowed `unsafe`, for one call; see
//! its documentation for the measured gain); elsewhere from [`Classifier::portable`], plain
//! safe Rust that LLVM vectorises: SIMD compares into a byte array, packed into masks with one
//! multiply per 8 bytes. Both are tested against a byte-at-a-time loop on every target that
//! has both.

use super::delimiters::Delimiters;

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2;

/// The block size: one `u64` mask bit per byte.
pub(crate) const BLOCK: usize = 64;

/// Masks for one 64-byte block; bit `i` describes byte `i` of the block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlockMasks {
    /// Field separators.
    pub field: u64,
    /// CR and LF: segment ends.
    pub line: u64,
    /// Repetition separators.
    pub repetition: u64,
    /// Component separators.
    pub component: u64,
    /// Subcomponent separators.
    pub subcomponent: u64,
}

/// Packs bit `shift` of each of 8 bytes into 8 bits: byte `i` of `w` contributes bit `i`.
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
    /// An absent delimiter compares against the field separator (so it never adds a byte of
    /// its own) and its mask is then cleared with `*_on == 0`.
    repetition: u8,
    subcomponent: u8,
    repetition_on: u64,
    subcomponent_on: u64,
}

impl Classifier {
    pub fn new(d: &Delimiters) -> Classifier {
        let on = |o: Option<u8>| if o.is_some() { u64::MAX } else { 0 };
        Classifier {
            field: d.field,
            component: d.component,
            repetition: d.repetition.unwrap_or(d.field),
            subcomponent: d.subcomponent.unwrap_or(d.field),
            repetition_on: on(d.repetition),
            subcomponent_on: on(d.subcomponent),
        }
    }

    /// Classifies one full block.
    #[inline(always)]
    pub fn block(&self, block: &[u8; BLOCK]) -> BlockMasks {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        let m = sse2::classify(self, block);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        let m = self.portable(block);
        m
    }

    /// The classifier for targets without SSE2: 0/1 flags per byte from compares LLVM
    /// vectorises, packed into masks 8 bytes per multiply.
    #[cfg_attr(
        all(target_arch = "x86_64", target_feature = "sse2"),
        allow(
            dead_code,
            reason = "x86_64 uses sse2::classify; the tests still check this one"
        )
    )]
    #[inline(always)]
    pub fn portable(&self, block: &[u8; BLOCK]) -> BlockMasks {
        const FIELD: u32 = 0;
        const LINE: u32 = 1;
        const REP: u32 = 2;
        const COMP: u32 = 3;
        const SUB: u32 = 4;
        let mut flags = [0u8; BLOCK];
        for (f, &b) in flags.iter_mut().zip(block.iter()) {
            let line = (b == b'\r') | (b == b'\n');
            *f = (u8::from(b == self.field) << FIELD)
                | (u8::from(line) << LINE)
                | (u8::from(b == self.repetition) << REP)
                | (u8::from(b == self.component) << COMP)
                | (u8::from(b == self.subcomponent) << SUB);
        }
        let mut m = BlockMasks::default();
        for (j, eight) in flags.as_chunks::<8>().0.iter().enumerate() {
            let w = u64::from_le_bytes(*eight);
            let at = 8 * j as u32;
            m.field |= pack8(w, FIELD) << at;
            m.line |= pack8(w, LINE) << at;
            m.repetition |= pack8(w, REP) << at;
            m.component |= pack8(w, COMP) << at;
            m.subcomponent |= pack8(w, SUB) << at;
        }
        m.repetition &= self.repetition_on;
        m.subcomponent &= self.subcomponent_on;
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
        m.field &= keep;
        m.line &= keep;
        m.repetition &= keep;
        m.component &= keep;
        m.subcomponent &= keep;
        m
    }
}

/// What the index keeps for one 64-byte block, kept together so that one bounds check reads
/// it all: bit `i` of `[REP]`, `[COMP]` and `[SUB]` marks byte `i` of the block as a
/// repetition, component or subcomponent separator; bit `i` of `[NESTED]` marks a field
/// separator or line end at byte `i` that closes a run holding any of those (see
/// [`nested_ends`]).
pub(crate) type Words = [u64; 4];
/// Index of the repetition separators in [`Words`].
pub(crate) const REP: usize = 0;
/// Index of the component separators in [`Words`].
pub(crate) const COMP: usize = 1;
/// Index of the subcomponent separators in [`Words`].
pub(crate) const SUB: usize = 2;
/// Index of the ends of runs holding separators in [`Words`].
pub(crate) const NESTED: usize = 3;

/// Marks the `ends` (field separators and line ends) that close a run of bytes holding any of
/// `inner` (repetition, component and subcomponent separators), without visiting the ends one
/// by one: the bytes between two ends are a run of ones in `!ends`, and adding `inner` to it
/// carries out of the run exactly when the run holds an `inner` bit, setting the end above it.
/// `carry` links runs that cross from one block into the next: it comes in from the previous
/// block and goes out for the next.
///
/// ```text
/// ends    0100000100  (reading right to left: bytes 2 and 8)
/// inner   0000011000  (bytes 3 and 4, in the run closed by byte 8)
/// result  0100000000
/// ```
#[inline(always)]
pub(crate) fn nested_ends(ends: u64, inner: u64, carry: &mut bool) -> u64 {
    let (sum, c1) = (!ends).overflowing_add(inner);
    let (sum, c2) = sum.overflowing_add(u64::from(*carry));
    *carry = c1 | c2;
    sum & ends
}

/// How many bits of bitmap `level` are set in `[from, to)`.
#[inline]
pub(crate) fn count_bits(bits: &[Words], level: usize, from: usize, to: usize) -> usize {
    if from >= to {
        return 0;
    }
    let (first, last) = (from / BLOCK, (to - 1) / BLOCK);
    let mut n = 0;
    for w in first..=last {
        let mut word = bits.get(w).map_or(0, |words| words[level]);
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
            if b == d.field {
                m.field |= bit;
            }
            if b == b'\r' || b == b'\n' {
                m.line |= bit;
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

    /// The classifier in use (SSE2 on x86_64) and the portable one agree with the byte loop on
    /// pseudo-random blocks drawn from delimiters, line ends, NUL, high bytes and letters, under
    /// several delimiter sets, including ones without repetition or subcomponent separators.
    #[test]
    fn both_classifiers_match_byte_loop_on_random_blocks() {
        let sets = [
            Delimiters::default(),
            Delimiters {
                field: b'#',
                component: b'$',
                repetition: Some(b'%'),
                escape: Some(b'*'),
                subcomponent: Some(b'!'),
                truncation: Some(b'@'),
            },
            Delimiters {
                repetition: None,
                subcomponent: None,
                ..Delimiters::default()
            },
            Delimiters {
                field: b'~',
                component: b'|',
                repetition: Some(b'^'),
                escape: None,
                subcomponent: None,
                truncation: None,
            },
        ];
        let alphabet = b"|^~&\\#$%*!@\r\nA0 \0\x80\xff\x7c";
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for d in &sets {
            let c = Classifier::new(d);
            for _ in 0..500 {
                let mut block = [0u8; BLOCK];
                for b in &mut block {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = alphabet[(x % alphabet.len() as u64) as usize];
                }
                let want = masks_by_loop(&block, d);
                assert_eq!(c.block(&block), want, "{d:?} {block:?}");
                assert_eq!(c.portable(&block), want, "{d:?} {block:?}");
            }
        }
    }

    /// `nested_ends` agrees with a byte-by-byte scan over several blocks, including runs that
    /// cross block boundaries.
    #[test]
    fn nested_ends_match_a_scan() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for sparse in [1u32, 3, 6] {
            let blocks: Vec<(u64, u64)> = (0..8)
                .map(|_| {
                    // Ends every few bytes (fewer when `sparse` is high), inner bits elsewhere.
                    let mut ends = next();
                    for _ in 1..sparse {
                        ends &= next();
                    }
                    (ends, next() & next() & !ends)
                })
                .collect();
            let (mut carry, mut seen) = (false, false);
            for &(ends, inner) in &blocks {
                let mut want = 0u64;
                for i in 0..64 {
                    if ends >> i & 1 == 1 {
                        if seen {
                            want |= 1 << i;
                        }
                        seen = false;
                    } else if inner >> i & 1 == 1 {
                        seen = true;
                    }
                }
                assert_eq!(
                    nested_ends(ends, inner, &mut carry),
                    want,
                    "{ends:b} {inner:b}"
                );
            }
        }
    }

    #[test]
    fn bit_queries() {
        // Bitmap SUB holds bits 1, 3 and 131; the others hold bits that must not leak in.
        let bits: [Words; 3] = [[!0, !0, 0b1010, 0], [0, !0, 0, 0], [!0, 0, 1 << 3, 0]];
        assert_eq!(count_bits(&bits, SUB, 0, 192), 3);
        assert_eq!(count_bits(&bits, SUB, 2, 131), 1);
        assert_eq!(count_bits(&bits, SUB, 2, 132), 2);
        assert_eq!(count_bits(&bits, COMP, 60, 130), 68);
    }
}
