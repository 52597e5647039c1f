//! HL7 escape sequences: decoding a raw value into bytes, and escaping text for the encoder.
//!
//! Decoding is lazy and borrows: a value without the escape character comes back as
//! `Cow::Borrowed`. Sequences handled (with the default `\` escape character):
//!
//! | sequence | decoded as |
//! |---|---|
//! | `\F\ \S\ \T\ \R\ \E\ \P\` | the field, component, subcomponent, repetition, escape, truncation character |
//! | `\Xhhhh…\` | the bytes given in hex, read in the message's character set |
//! | `\.br\ \.sp n\ \.sk n\` | line feed, n line feeds, n spaces ([`Formatting::Render`]) or kept ([`Formatting::Keep`]) |
//! | `\.ce\` | a line feed ending the line before it, if any (`Render`: the centring goes), or kept (`Keep`) |
//! | `\.fi\ \.nf\ \.in n\ \.ti n\ \H\ \N\` | removed (`Render`) or kept (`Keep`) |
//! | `\Cxxyy\ \Mxxyyzz\ \Zxxx\` | kept as written: character-set switches and local escapes are not interpreted |
//!
//! Encoding writes delimiters as `\F\ \S\ \T\ \R\ \E\ \P\`, LF as `\.br\` (as `\X0A\` when `.` is a
//! delimiter) and every other control character as `\Xhh\` (as it came, but for CR, in a message
//! that declares no escape character), so that decoding the result with
//! [`Formatting::Render`] gives the text back. A raw control character would break the
//! message: CR ends a segment, 0x0B and 0x1C open and close an MLLP frame.

use std::borrow::Cow;

use super::charset::Charset;
use super::delimiters::Delimiters;
use super::options::Formatting;

/// A malformed escape: where it starts within the value, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EscapeError {
    pub offset: usize,
    pub reason: &'static str,
}

/// Decodes the escape sequences of one raw value.
pub(crate) fn unescape<'a>(
    raw: &'a [u8],
    d: &Delimiters,
    formatting: Formatting,
    literal_bad: bool,
) -> Result<Cow<'a, [u8]>, EscapeError> {
    let Some(esc) = d.escape else {
        return Ok(Cow::Borrowed(raw));
    };
    let Some(first) = memchr::memchr(esc, raw) else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut i = first;
    while i < raw.len() {
        if raw[i] != esc {
            let next = memchr::memchr(esc, &raw[i..]).map_or(raw.len(), |n| i + n);
            out.extend_from_slice(&raw[i..next]);
            i = next;
            continue;
        }
        let close = memchr::memchr(esc, &raw[i + 1..]).map(|n| i + 1 + n);
        let result = match close {
            None => Err("escape sequence has no closing escape character"),
            Some(close) => {
                decode_sequence(&raw[i + 1..close], &raw[i..=close], d, formatting, &mut out)
            }
        };
        match (result, close) {
            (Ok(()), Some(close)) => i = close + 1,
            (Err(reason), _) if !literal_bad => return Err(EscapeError { offset: i, reason }),
            _ => {
                // Tolerated: the escape character stands for itself and decoding goes on after it.
                out.push(esc);
                i += 1;
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// Decodes one sequence `body` (the text between the escape characters; `whole` includes them).
fn decode_sequence(
    body: &[u8],
    whole: &[u8],
    d: &Delimiters,
    formatting: Formatting,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    let (&letter, rest) = body.split_first().ok_or("empty escape sequence")?;
    let single = |c: Option<u8>, out: &mut Vec<u8>| match (c, rest.is_empty()) {
        (Some(c), true) => {
            out.push(c);
            Ok(())
        }
        (None, _) => Err("escape names a delimiter this message does not declare"),
        (_, false) => Err("unknown escape sequence"),
    };
    match letter {
        b'F' => single(Some(d.field), out),
        b'S' => single(Some(d.component), out),
        b'T' => single(d.subcomponent, out),
        b'R' => single(d.repetition, out),
        b'E' => single(d.escape, out),
        b'P' => single(d.truncation, out),
        b'X' => {
            if rest.is_empty() || rest.len() % 2 != 0 {
                return Err("hex escape needs an even, non-zero number of hex digits");
            }
            for pair in rest.chunks_exact(2) {
                let hi = hex_digit(pair[0]).ok_or("hex escape holds a non-hex character")?;
                let lo = hex_digit(pair[1]).ok_or("hex escape holds a non-hex character")?;
                out.push(hi << 4 | lo);
            }
            Ok(())
        }
        b'H' | b'N' if rest.is_empty() => {
            if formatting == Formatting::Keep {
                out.extend_from_slice(whole);
            }
            Ok(())
        }
        b'.' => formatting_command(rest, whole, formatting, out),
        b'C' | b'M' | b'Z' => {
            out.extend_from_slice(whole);
            Ok(())
        }
        _ => Err("unknown escape sequence"),
    }
}

/// Handles `\.br\`, `\.sp n\` and the other formatted-text commands.
fn formatting_command(
    cmd: &[u8],
    whole: &[u8],
    formatting: Formatting,
    out: &mut Vec<u8>,
) -> Result<(), &'static str> {
    let name = cmd.get(..2).ok_or("unknown formatting command")?;
    let arg = cmd[2..].trim_ascii();
    let count = || -> Result<usize, &'static str> {
        if arg.is_empty() {
            return Ok(1);
        }
        let digits = arg.strip_prefix(b"+").unwrap_or(arg);
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n <= 1000)
            .ok_or("formatting command has a bad number")
    };
    let signed_ok = || {
        arg.is_empty()
            || std::str::from_utf8(arg)
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .is_some()
    };
    match name {
        b"br" | b"fi" | b"nf" | b"ce" if !arg.is_empty() => {
            return Err("formatting command takes no argument");
        }
        b"br" | b"fi" | b"nf" | b"ce" => {}
        b"sp" | b"sk" => {
            count()?;
        }
        b"in" | b"ti" if signed_ok() => {}
        _ => return Err("unknown formatting command"),
    }
    if formatting == Formatting::Keep {
        out.extend_from_slice(whole);
        return Ok(());
    }
    match name {
        b"br" => out.push(b'\n'),
        b"sp" => out.extend(std::iter::repeat_n(b'\n', count()?)),
        b"sk" => out.extend(std::iter::repeat_n(b' ', count()?)),
        // "End current output line and center the next line": the break stays, so the line
        // after it does not run into the text before; the centring is layout and goes.
        b"ce" if out.last().is_some_and(|&b| b != b'\n') => out.push(b'\n'),
        _ => {}
    }
    Ok(())
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Why text could not be escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EscapeProblem {
    /// The text holds a delimiter, line break or control character and the message has no
    /// escape character.
    NoEscapeCharacter,
    /// The character set cannot represent a character of the text.
    Charset,
}

impl EscapeProblem {
    /// The reason, for an error record (it names no text: the text is patient data).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            EscapeProblem::NoEscapeCharacter => {
                "text holds a delimiter, line break or control character and the message declares no escape character"
            }
            EscapeProblem::Charset => {
                "text holds a character the message's character set cannot represent"
            }
        }
    }
}

/// Appends `text` to `out`, escaped for the delimiters and encoded in `charset`.
pub(crate) fn escape_into(
    text: &str,
    d: &Delimiters,
    charset: Charset,
    out: &mut Vec<u8>,
) -> Result<(), EscapeProblem> {
    // 0xC2 leads the UTF-8 form of U+0080 to U+00BF, among them the C1 control characters.
    let needs_work = |b: u8| {
        d.is_special(b)
            || b < 0x20
            || b == 0x7F
            || (b >= 0x80 && (charset != Charset::Utf8 || b == 0xC2))
    };
    if !text.bytes().any(needs_work) {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    // `\.br\` is what receivers render as a line break, but its `.` would split the sequence
    // when `.` is a delimiter; then LF goes as hex like the other control characters.
    let line_feed: &[u8] = if d.is_special(b'.') { b"X0A" } else { b".br" };
    let mut bytes = Vec::new();
    for c in text.chars() {
        let seq: Option<&[u8]> = match c {
            '\n' => Some(line_feed),
            _ if c.is_ascii() && d.is_special(c as u8) => Some(match c as u8 {
                b if b == d.field => b"F",
                b if b == d.component => b"S",
                b if Some(b) == d.repetition => b"R",
                b if Some(b) == d.subcomponent => b"T",
                b if Some(b) == d.escape => b"E",
                _ => b"P",
            }),
            _ => None,
        };
        if let Some(seq) = seq {
            let esc = d.escape.ok_or(EscapeProblem::NoEscapeCharacter)?;
            out.push(esc);
            out.extend_from_slice(seq);
            out.push(esc);
        } else if c.is_control() && (d.escape.is_some() || c == '\r') {
            // The character's bytes in the message's character set, as `\X` reads them back.
            // A message that declares no escape character (MSH-2 `^~`, as some senders write)
            // has no way to escape one: a CR would end the segment, so it fails; the others go
            // as they came, as the parser read them.
            let esc = d.escape.ok_or(EscapeProblem::NoEscapeCharacter)?;
            bytes.clear();
            if !charset.encode_char(c, &mut bytes) {
                return Err(EscapeProblem::Charset);
            }
            out.push(esc);
            out.push(b'X');
            for b in &bytes {
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xF)]);
            }
            out.push(esc);
        } else if !charset.encode_char(c, out) {
            return Err(EscapeProblem::Charset);
        }
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(raw: &str, formatting: Formatting, literal: bool) -> Result<String, EscapeError> {
        let d = Delimiters {
            truncation: Some(b'#'),
            ..Delimiters::default()
        };
        unescape(raw.as_bytes(), &d, formatting, literal)
            .map(|c| String::from_utf8_lossy(&c).into_owned())
    }

    #[test]
    fn unescape_cases() {
        use Formatting::*;
        // (raw, formatting, tolerate bad escapes, expected)
        let ok: &[(&str, Formatting, &str)] = &[
            ("plain", Render, "plain"),
            (r"a\F\b", Render, "a|b"),
            (r"\S\\T\\R\\E\\P\", Render, r"^&~\#"),
            (r"\X0D0A\", Render, "\r\n"),
            (r"\Xc3bc\", Render, "ü"),
            (r"line1\.br\line2", Render, "line1\nline2"),
            (r"line1\.br\line2", Keep, r"line1\.br\line2"),
            (r"a\.sp 2\b", Render, "a\n\nb"),
            (r"a\.sp\b", Render, "a\nb"),
            (r"a\.sk 3\b", Render, "a   b"),
            (r"\.in +4\x\.ti -2\y\.fi\\.nf\", Render, "xy"),
            (
                r"FINAL REPORT\.ce\Diagnosis\.br\\.ce\Benign",
                Render,
                "FINAL REPORT\nDiagnosis\nBenign",
            ),
            (r"\.ce\HEADING", Render, "HEADING"),
            (r"\.in +4\x", Keep, r"\.in +4\x"),
            (r"\H\bold\N\", Render, "bold"),
            (r"\H\bold\N\", Keep, r"\H\bold\N\"),
            (r"\C2842\kanji\C2B42\", Render, r"\C2842\kanji\C2B42\"),
            (r"\M2442\x\Zlocal\", Render, r"\M2442\x\Zlocal\"),
        ];
        for &(raw, f, want) in ok {
            assert_eq!(dec(raw, f, false).as_deref(), Ok(want), "{raw}");
        }
        let bad: &[(&str, usize, &str)] = &[
            (
                r"abc\F",
                3,
                "escape sequence has no closing escape character",
            ),
            (r"\Q\", 0, "unknown escape sequence"),
            (r"\FF\", 0, "unknown escape sequence"),
            (r"x\\", 1, "empty escape sequence"),
            (
                r"\X0\",
                0,
                "hex escape needs an even, non-zero number of hex digits",
            ),
            (
                r"\X\",
                0,
                "hex escape needs an even, non-zero number of hex digits",
            ),
            (r"\XZZ\", 0, "hex escape holds a non-hex character"),
            (r"\.xx\", 0, "unknown formatting command"),
            (r"\.br 2\", 0, "formatting command takes no argument"),
            (r"\.sp x\", 0, "formatting command has a bad number"),
            (r"\.sk 99999\", 0, "formatting command has a bad number"),
        ];
        for &(raw, offset, reason) in bad {
            assert_eq!(
                dec(raw, Render, false),
                Err(EscapeError { offset, reason }),
                "{raw}"
            );
        }
        assert_eq!(dec(r"abc\F", Render, true).as_deref(), Ok(r"abc\F"));
        assert_eq!(
            dec(r"C:\temp\x\F\", Render, true).as_deref(),
            Ok(r"C:\temp\x|")
        );
    }

    #[test]
    fn borrowed_without_escapes() {
        let d = Delimiters::default();
        assert!(matches!(
            unescape(b"no escapes", &d, Formatting::Render, false),
            Ok(Cow::Borrowed(_))
        ));
        let none = Delimiters {
            escape: None,
            subcomponent: None,
            ..d
        };
        assert!(matches!(
            unescape(br"a\F\", &none, Formatting::Render, false),
            Ok(Cow::Borrowed(b"a\\F\\"))
        ));
    }

    #[test]
    fn escape_cases() {
        let d = Delimiters {
            truncation: Some(b'#'),
            ..Delimiters::default()
        };
        let cases: &[(&str, Charset, Result<&[u8], EscapeProblem>)] = &[
            ("plain", Charset::Ascii, Ok(b"plain")),
            (
                "a|b^c~d&e\\f#g",
                Charset::Ascii,
                Ok(br"a\F\b\S\c\R\d\T\e\E\f\P\g"),
            ),
            ("l1\r\nl2", Charset::Ascii, Ok(br"l1\X0D\\.br\l2")),
            // Control characters: NUL, tab, the MLLP frame bytes, DEL, a C1 control in UTF-8
            // (two bytes) and in ISO 8859-1 (one).
            (
                "a\0b\tc\x0Bd\x1Ce\x7F",
                Charset::Ascii,
                Ok(br"a\X00\b\X09\c\X0B\d\X1C\e\X7F\"),
            ),
            ("x\u{85}y", Charset::Utf8, Ok(br"x\XC285\y")),
            ("x\u{85}ü", Charset::Latin1, Ok(b"x\\X85\\\xfc")),
            ("x\u{85}", Charset::Ascii, Err(EscapeProblem::Charset)),
            ("Müller", Charset::Latin1, Ok(b"M\xfcller")),
            ("Müller", Charset::Utf8, Ok("Müller".as_bytes())),
            ("Müller", Charset::Ascii, Err(EscapeProblem::Charset)),
        ];
        for &(text, cs, want) in cases {
            let mut out = Vec::new();
            let got = escape_into(text, &d, cs, &mut out).map(|()| out.as_slice());
            assert_eq!(got, want, "{text}");
        }
        let no_escape = Delimiters {
            escape: None,
            subcomponent: None,
            truncation: None,
            ..d
        };
        for text in ["a|b", "a\rb"] {
            assert_eq!(
                escape_into(text, &no_escape, Charset::Ascii, &mut Vec::new()),
                Err(EscapeProblem::NoEscapeCharacter)
            );
        }
        let mut out = Vec::new();
        escape_into("a\x05b", &no_escape, Charset::Ascii, &mut out).unwrap();
        assert_eq!(out, b"a\x05b");
    }

    #[test]
    fn escape_then_unescape_gives_text_back() {
        let d = Delimiters::default();
        for text in [
            "",
            "a|b^c~d&e\\f",
            "x\ry\nz",
            "tab\tand spaces  ",
            "ü€",
            "\0\x0B\x1C\u{85}\x7F",
        ] {
            let mut out = Vec::new();
            escape_into(text, &d, Charset::Utf8, &mut out).unwrap();
            let back = unescape(&out, &d, Formatting::Render, false).unwrap();
            assert_eq!(std::str::from_utf8(&back).unwrap(), text);
        }
    }
}
