//! FHIR decimals as HL7 v2 numbers (NM): optional sign, digits, optional decimal point and
//! digits, with no exponent. A FHIR decimal in exponent form (`1.0E-7`) is written out with the
//! decimal point moved, by rewriting its text: every digit it was written with is kept, so its
//! precision stays what it was, and none is added (`1.0E-7` → `0.00000010`, `1.20E3` →
//! `1200`).

use std::borrow::Cow;

/// The largest exponent, either way, that is written out. A decimal of more than a thousand
/// places measures nothing (the observable universe spans about 10^62 Planck lengths), and its
/// text would be that long: `1e999999` is refused rather than written as a megabyte of zeros.
pub const MAX_EXPONENT: u32 = 1000;

/// Why a decimal has no plain form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainError {
    /// The text is not a JSON number.
    NotANumber,
    /// The exponent is beyond ±[`MAX_EXPONENT`].
    ExponentTooLarge,
}

/// The plain decimal form of a JSON number's text: borrowed when it has no exponent.
///
/// ```
/// use hl7fhir::fhir::decimal::{plain, PlainError};
/// assert_eq!(plain("1.0E-7").unwrap(), "0.00000010");
/// assert_eq!(plain("1.5e+3").unwrap(), "1500");
/// assert_eq!(plain("-12.5").unwrap(), "-12.5");
/// assert_eq!(plain("1e1001"), Err(PlainError::ExponentTooLarge));
/// ```
pub fn plain(text: &str) -> Result<Cow<'_, str>, PlainError> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let (negative, unsigned) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty()
        || !digits(int)
        || !digits(frac)
        || (unsigned.contains('.') && frac.is_empty())
    {
        return Err(PlainError::NotANumber);
    }
    let Some(exponent) = exponent else {
        return Ok(Cow::Borrowed(text));
    };
    let magnitude = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if magnitude.is_empty() || !digits(magnitude) {
        return Err(PlainError::NotANumber);
    }
    // Read with its leading zeros dropped, so that `1e0000000000000000000003` is 1000 and a
    // length beyond any i64 is too large rather than an overflow.
    let magnitude = magnitude.trim_start_matches('0');
    let shift: i64 = match magnitude.parse::<u32>() {
        Ok(n) if n <= MAX_EXPONENT => i64::from(n),
        _ if magnitude.is_empty() => 0,
        _ => return Err(PlainError::ExponentTooLarge),
    };
    let shift = if exponent.starts_with('-') {
        -shift
    } else {
        shift
    };
    // The digits as one run, and where the point falls in it after the shift.
    let all: String = [int, frac].concat();
    let point = int.len() as i64 + shift;
    let mut out = String::with_capacity(all.len() + shift.unsigned_abs() as usize + 3);
    if negative {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&all);
    } else {
        let point = point as usize;
        let whole = if point >= all.len() {
            let mut w = all.clone();
            w.extend(std::iter::repeat_n('0', point - all.len()));
            w
        } else {
            all[..point].to_string()
        };
        // Zeros the shift moved in front of the point lead nothing: `0.05e1` is 0.5.
        let trimmed = whole.trim_start_matches('0');
        out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
        if point < all.len() {
            out.push('.');
            out.push_str(&all[point..]);
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_forms() {
        let cases: &[(&str, Result<&str, PlainError>)] = &[
            ("0", Ok("0")),
            ("-0.50", Ok("-0.50")),
            ("101", Ok("101")),
            ("1.0E-7", Ok("0.00000010")),
            ("1.0e-7", Ok("0.00000010")),
            ("1.5e3", Ok("1500")),
            ("1.5e+3", Ok("1500")),
            ("1.20E3", Ok("1200")),
            ("-2.5e-2", Ok("-0.025")),
            ("12.34e1", Ok("123.4")),
            ("12.34e-1", Ok("1.234")),
            ("12.34e-2", Ok("0.1234")),
            ("0.05e1", Ok("0.5")),
            ("0.05e3", Ok("50")),
            ("120e-2", Ok("1.20")),
            ("7e0", Ok("7")),
            ("7e-0", Ok("7")),
            ("0e5", Ok("0")),
            ("0.0e-2", Ok("0.000")),
            ("1e1001", Err(PlainError::ExponentTooLarge)),
            ("1e-1001", Err(PlainError::ExponentTooLarge)),
            (
                "1e99999999999999999999999",
                Err(PlainError::ExponentTooLarge),
            ),
            ("", Err(PlainError::NotANumber)),
            ("1.", Err(PlainError::NotANumber)),
            (".5", Err(PlainError::NotANumber)),
            ("1e", Err(PlainError::NotANumber)),
            ("1e+", Err(PlainError::NotANumber)),
            ("1x", Err(PlainError::NotANumber)),
            ("--1", Err(PlainError::NotANumber)),
        ];
        for &(text, want) in cases {
            assert_eq!(plain(text).as_deref().map_err(|e| *e), want, "{text}");
        }
        // At the limit, however many zeros the exponent is written with.
        assert_eq!(
            plain("1e00000000000000000000001000").unwrap(),
            format!("1{}", "0".repeat(1000))
        );
    }
}
