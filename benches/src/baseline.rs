//! Plain byte scans over the corpus that set the yardsticks for the parser: stepping through
//! every CR and `|` with memchr, and counting all five delimiters (`| ^ ~ & CR`) as fast as
//! safe, portable Rust can.
//!
//! Neither builds anything: they only touch every byte once and count. A parser has to do at
//! least the five-delimiter classification to find every value, so that count is the practical
//! limit for a full walk; the CR-and-`|` scan is the same limit for finding only segments and
//! fields.

/// Counts CR and `|` bytes by stepping from one to the next with `memchr2`.
///
/// ```
/// assert_eq!(hl7fhir_benches::baseline::count_cr_and_bar(b"MSH|^~\\&|A\rPID|1\r"), 5);
/// ```
pub fn count_cr_and_bar(bytes: &[u8]) -> usize {
    memchr::memchr2_iter(b'\r', b'|', bytes).count()
}

/// True for the five default delimiters. Bitwise `|` on the compares keeps it branch-free so
/// LLVM turns a loop over it into vector compares.
#[inline(always)]
fn is_delimiter(b: u8) -> bool {
    (b == b'|') | (b == b'^') | (b == b'~') | (b == b'&') | (b == b'\r')
}

/// Counts the five default delimiters (`| ^ ~ & CR`): the fastest of the portable variants in
/// this module on the bench machine (see the crate README), used as "the practical limit".
///
/// ```
/// assert_eq!(hl7fhir_benches::baseline::count_delimiters(b"MSH|^~\\&|A\rPID|1^2\r"), 9);
/// ```
pub fn count_delimiters(bytes: &[u8]) -> usize {
    count_delimiters_bytesum(bytes)
}

/// Classifies each 64-byte block into a `u64` mask (one bit per byte), then `count_ones`: the
/// shape of the parser's own classifier, minus everything it does with the masks.
pub fn count_delimiters_mask(bytes: &[u8]) -> usize {
    let (blocks, rest) = bytes.as_chunks::<64>();
    let mut n = 0;
    for block in blocks {
        let mut mask = 0u64;
        for (i, &b) in block.iter().enumerate() {
            mask |= u64::from(is_delimiter(b)) << i;
        }
        n += mask.count_ones() as usize;
    }
    n + rest.iter().filter(|&&b| is_delimiter(b)).count()
}

/// Classifies each 64-byte block into a `u64` mask the way the portable classifier of
/// `src/v2/scan.rs` does (x86_64 builds use SSE2 `movemask` instead): 0/1 bytes from a
/// vectorised compare, packed 8 at a time with one multiply, then `count_ones`. This is what
/// producing masks (positions, not just a count) costs in portable safe Rust.
pub fn count_delimiters_packed(bytes: &[u8]) -> usize {
    let (blocks, rest) = bytes.as_chunks::<64>();
    let mut n = 0;
    for block in blocks {
        let mut ones = [0u8; 64];
        for (o, &b) in ones.iter_mut().zip(block) {
            *o = u8::from(is_delimiter(b));
        }
        let mut mask = 0u64;
        for (j, eight) in ones.as_chunks::<8>().0.iter().enumerate() {
            // Bytes are 0 or 1, so the multiply sums `b_i << (56 + i)` into the top byte
            // without carries.
            let packed = u64::from_le_bytes(*eight).wrapping_mul(0x0102_0408_1020_4080) >> 56;
            mask |= packed << (8 * j);
        }
        n += mask.count_ones() as usize;
    }
    n + rest.iter().filter(|&&b| is_delimiter(b)).count()
}

/// Sums 0/1 bytes per 64-byte block in a `u8` (at most 64, so it cannot overflow), which LLVM
/// keeps in byte lanes: compares, a subtract per vector, one horizontal sum per block.
pub fn count_delimiters_bytesum(bytes: &[u8]) -> usize {
    let (blocks, rest) = bytes.as_chunks::<64>();
    let mut n = 0;
    for block in blocks {
        let hits: u8 = block.iter().map(|&b| u8::from(is_delimiter(b))).sum();
        n += usize::from(hits);
    }
    n + rest.iter().filter(|&&b| is_delimiter(b)).count()
}

/// The naive iterator count, for reference: LLVM widens every lane to `usize`.
pub fn count_delimiters_naive(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| is_delimiter(b)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_agree() {
        let corpus = crate::Corpus::generate(3, 30);
        let cases: &[&[u8]] = &[
            b"",
            b"|",
            b"MSH|^~\\&|A\rPID|1^2&3~4\r",
            &[b'|'; 200],
            corpus.bytes(),
            &corpus.bytes()[..1001],
        ];
        for bytes in cases {
            let want = bytes.iter().filter(|b| b"|^~&\r".contains(b)).count();
            assert_eq!(count_delimiters_mask(bytes), want);
            assert_eq!(count_delimiters_packed(bytes), want);
            assert_eq!(count_delimiters_bytesum(bytes), want);
            assert_eq!(count_delimiters_naive(bytes), want);
            assert_eq!(count_delimiters(bytes), want);
            let cr_bar = bytes.iter().filter(|b| b"|\r".contains(b)).count();
            assert_eq!(count_cr_and_bar(bytes), cr_bar);
        }
    }
}
