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
        let mut v = self.0;
        v = (v & !(0xf << 76)) | (0x8 << 76);
        v = (v & !(0x3 << 62)) | (0x2 << 62);
        // Written by hand: formatting a u128 through `format!` costs more than the hashing.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(36);
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                out.push('-');
            }
            out.push(HEX[((v >> (124 - 4 * i)) & 0xf) as usize] as char);
        }
        out
    }
}

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
        assert_eq!(
            IdHasher::new("Patient").finish(),
            "a2677985-ab65-8afe-aaeb-68eb4e5da913"
        );
    }
}
