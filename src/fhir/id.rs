//! Deterministic resource ids: a 128-bit FNV-1a hash of the resource type and its identifying
//! values, written as a lowercase RFC 4122-shaped UUID so it serves both as `Resource.id` and in
//! a `urn:uuid:` full URL.
//!
//! FNV-1a is defined by its constants, so ids stay the same across builds, platforms and
//! versions of Rust (unlike `std`'s hasher); it is not a cryptographic hash and ids are not
//! secrets.

const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
const PRIME: u128 = 0x0000000001000000000000000000013B;

/// Accumulates identifying values.
#[derive(Debug, Clone, Copy)]
pub struct IdHasher(u128);

impl IdHasher {
    /// A hasher seeded with the resource type.
    pub fn new(resource_type: &str) -> IdHasher {
        let mut h = IdHasher(OFFSET);
        h.add(resource_type);
        h
    }

    /// Adds one value; values are separated so that ("ab","c") and ("a","bc") differ.
    pub fn add(&mut self, value: &str) {
        self.add_bytes(value.as_bytes());
    }

    /// Adds a number as its decimal text (the same as `add(&n.to_string())`, without the
    /// `String`).
    pub fn add_number(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        loop {
            at -= 1;
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.add_bytes(&buf[at..]);
    }

    /// Adds one value given as raw bytes.
    pub fn add_bytes(&mut self, value: &[u8]) {
        for &b in value {
            self.0 ^= b as u128;
            self.0 = self.0.wrapping_mul(PRIME);
        }
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(PRIME);
    }

    /// The id: `xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx` (version 8, "custom", RFC 9562).
    pub fn finish(&self) -> String {
        self.id().to_string()
    }

    /// The id as a value, for callers that write it without making a `String`.
    pub fn id(&self) -> Id {
        let mut v = self.0;
        v = (v & !(0xf << 76)) | (0x8 << 76);
        v = (v & !(0x3 << 62)) | (0x2 << 62);
        Id(v)
    }
}

/// A resource id: a hash with the UUID version and variant bits set. Copy, compared and hashed
/// as a number; turned into text only when written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id(u128);

impl Id {
    /// The lowercase UUID text, `xxxxxxxx-xxxx-8xxx-[89ab]xxx-xxxxxxxxxxxx`.
    pub fn uuid(&self) -> [u8; 36] {
        let (hi, lo) = (hex((self.0 >> 64) as u64), hex(self.0 as u64));
        let mut out = [b'-'; 36];
        out[0..8].copy_from_slice(&hi[0..8]);
        out[9..13].copy_from_slice(&hi[8..12]);
        out[14..18].copy_from_slice(&hi[12..16]);
        out[19..23].copy_from_slice(&lo[0..4]);
        out[24..36].copy_from_slice(&lo[4..16]);
        out
    }
}

/// The 16 lowercase hex digits of `x`, most significant first. Ids are written several times
/// per resource, so all 16 are made at once: each nibble is spread into a byte of a `u128`,
/// then every byte becomes its digit by the same additions.
fn hex(x: u64) -> [u8; 16] {
    const BYTES: u128 = u128::from_ne_bytes([1; 16]);
    let mut v = u128::from(x);
    // Nibble k moves to the low half of byte k.
    v = (v | v << 32) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    v = (v | v << 16) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    v = (v | v << 8) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    v = (v | v << 4) & (BYTES * 0x0f);
    // A nibble above 9 carries into bit 4 when 6 is added; it then needs 'a' - '0' - 10 more.
    let letters = ((v + BYTES * 6) >> 4) & BYTES;
    (v + BYTES * u128::from(b'0') + letters * u128::from(b'a' - b'0' - 10)).to_be_bytes()
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text is ASCII hex digits and dashes.
        f.write_str(std::str::from_utf8(&self.uuid()).unwrap_or_default())
    }
}

/// The hasher for maps keyed by [`Id`]: an id is already a well-mixed hash, so its low bits
/// serve as the map's hash with no further work.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdMapHasher(u64);

impl std::hash::Hasher for IdMapHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64 ^ (v >> 64) as u64;
    }
}

/// A map keyed by [`Id`].
pub type IdMap<V> = std::collections::HashMap<Id, V, std::hash::BuildHasherDefault<IdMapHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        let id = |parts: &[&str]| {
            let mut h = IdHasher::new("Patient");
            parts.iter().for_each(|p| h.add(p));
            h.finish()
        };
        // Fixed expectation: ids must never change between releases.
        assert_eq!(id(&["12345", "HOSP"]), id(&["12345", "HOSP"]));
        assert_ne!(id(&["ab", "c"]), id(&["a", "bc"]));
        let s = id(&["12345"]);
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "8");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let (mut a, mut b) = (IdHasher::new("X"), IdHasher::new("X"));
            a.add_number(n);
            b.add(&n.to_string());
            assert_eq!(a.finish(), b.finish());
        }
        assert_eq!(
            IdHasher::new("Patient").finish(),
            "a2677985-ab65-8afe-aaeb-68eb4e5da913"
        );
        assert_eq!(
            Id(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210).to_string(),
            "01234567-89ab-cdef-fedc-ba9876543210"
        );
    }
}
