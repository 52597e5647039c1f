//! Base64 (RFC 4648, with padding) for FHIR `base64Binary`: attachment data built from HL7 text.

use std::borrow::Cow;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes bytes as base64 with padding.
///
/// ```
/// assert_eq!(hl7fhir::fhir::base64::encode(b"Hi!!"), "SGkhIQ==");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The text without its whitespace. FHIR's base64Binary allows whitespace between the groups
/// of four (data wrapped at 76 characters, as MIME writes it; an HL7 v2 ED sent with `\.br\`
/// or `\X0D0A\` line breaks), which carries nothing.
pub fn compact(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(text.chars().filter(|c| !c.is_ascii_whitespace()).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// Decodes padded base64, whitespace ignored; `None` when the text is not well formed.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = &*compact(text);
    if !is_valid(text) {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for chunk in text.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in chunk {
            n = n << 6 | if c == b'=' { 0 } else { value(c)? };
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// True for well-formed base64 with padding (whitespace is not allowed).
pub fn is_valid(text: &str) -> bool {
    let b = text.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    pad <= 2 && b[..b.len() - pad].iter().all(|c| ALPHABET.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"line1\nline2", "bGluZTEKbGluZTI="),
        ] {
            assert_eq!(encode(raw), enc);
            if !enc.is_empty() {
                assert_eq!(decode(enc).as_deref(), Some(raw));
            }
            assert!(enc.is_empty() || is_valid(enc));
        }
        assert!(!is_valid("Zm9v\n"));
        assert_eq!(compact(" Zm9v\r\nYg==\n"), "Zm9vYg==");
        assert_eq!(decode("Zm9v\r\nYg==").as_deref(), Some(&b"foob"[..]));
        assert!(!is_valid("Zm9"));
        assert!(!is_valid("Z==="));
    }
}
