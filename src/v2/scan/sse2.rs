//! The x86_64 classifier: SSE2 byte compares and `movemask`, 16 bytes per instruction.
//!
//! This is the one module of the crate allowed `unsafe`, for a single call. It pays: on the
//! bench corpus (1.33 MB, `benches/`), best of repeated passes on the same machine, parsing
//! takes 0.55 ms with it against 0.95 ms with [`Classifier::portable`] (index 0.65 against
//! 1.05 ms, walk 1.89 against 2.30 ms). LLVM vectorises the portable compares but cannot turn
//! the packing of five masks into `pmovmskb`.
//!
//! Safety invariants:
//! - The intrinsics used take no pointers (bytes enter through `_mm_set_epi64x` from two
//!   `u64`s), so the only requirement is that the CPU supports SSE2.
//! - This module is compiled only when the target enables SSE2 (see the `cfg` on `mod sse2` in
//!   `scan.rs`). SSE2 is part of the x86_64 baseline, so every CPU that can run this code has
//!   it; the one `unsafe` block, which calls the `#[target_feature(enable = "sse2")]` function,
//!   relies on exactly that.

#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::arch::x86_64::{
    __m128i, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
};

use super::{BLOCK, BlockMasks, Classifier};

/// Classifies one block with SSE2.
#[inline(always)]
pub(super) fn classify(c: &Classifier, block: &[u8; BLOCK]) -> BlockMasks {
    // SAFETY: `classify_sse2` needs only SSE2, which the `cfg` gating this module guarantees
    // the target (and so the running CPU) has; see the module documentation.
    unsafe { classify_sse2(c, block) }
}

/// Sixteen bytes as a vector, without a pointer: the two halves as little-endian integers.
#[inline]
#[target_feature(enable = "sse2")]
fn load(bytes: &[u8; 16]) -> __m128i {
    let (lo, hi) = bytes.split_at(8);
    let half = |h: &[u8]| {
        let mut b = [0u8; 8];
        b.copy_from_slice(h);
        i64::from_le_bytes(b)
    };
    _mm_set_epi64x(half(hi), half(lo))
}

#[inline]
#[target_feature(enable = "sse2")]
fn classify_sse2(c: &Classifier, block: &[u8; BLOCK]) -> BlockMasks {
    let splat = |b: u8| _mm_set1_epi8(b as i8);
    let (field, cr, lf) = (splat(c.field), splat(b'\r'), splat(b'\n'));
    let (rep, comp, sub) = (
        splat(c.repetition),
        splat(c.component),
        splat(c.subcomponent),
    );
    let mut m = BlockMasks::default();
    for (i, sixteen) in block.as_chunks::<16>().0.iter().enumerate() {
        let x = load(sixteen);
        let at = 16 * i;
        // `movemask` sets bit j from the top bit of byte j: 16 bits, zero-extended.
        let bits = |v: __m128i| u64::from(_mm_movemask_epi8(v) as u16) << at;
        m.field |= bits(_mm_cmpeq_epi8(x, field));
        m.line |= bits(_mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf)));
        m.repetition |= bits(_mm_cmpeq_epi8(x, rep));
        m.component |= bits(_mm_cmpeq_epi8(x, comp));
        m.subcomponent |= bits(_mm_cmpeq_epi8(x, sub));
    }
    m.repetition &= c.repetition_on;
    m.subcomponent &= c.subcomponent_on;
    m
}
