//! HL7 v2 date/time values (DTM, and the older TS, DT and TM) as FHIR `date`, `dateTime`,
//! `instant` and `time`.
//!
//! Precision and offset are kept as sent. FHIR requires an offset on any value with a time of
//! day; when the message has none, the offset of a configured IANA zone at that local time is
//! used (daylight saving included), and without one the date alone is kept and the caller
//! records the original text. No zone is ever assumed. The rules are documented for users in
//! `mappings/README.md` ("Time stamps").

use chrono::{LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;

/// A parsed DTM: every part present as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtm<'a> {
    year: &'a str,
    month: Option<&'a str>,
    day: Option<&'a str>,
    hour: Option<&'a str>,
    minute: Option<&'a str>,
    second: Option<&'a str>,
    /// Fraction digits after the point.
    fraction: Option<&'a str>,
    /// `+hhmm` or `-hhmm`.
    offset: Option<&'a str>,
}

/// The FHIR type a DTM is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateKind {
    /// `date`: YYYY, YYYY-MM or YYYY-MM-DD.
    Date,
    /// `dateTime`: a date, or a date and time with offset.
    DateTime,
    /// `instant`: date and time to the second, with offset.
    Instant,
    /// `time`: hh:mm:ss, no offset.
    Time,
}

/// The result of a conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The FHIR value, or `None` when the target type cannot hold what was sent.
    pub value: Option<String>,
    /// True when the value does not carry everything sent (a dropped time of day, padded
    /// seconds): the caller keeps the original text in an extension.
    pub lossy: bool,
}

/// What [`Dtm::write_fhir`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// True when a value was appended; false when the target type cannot hold what was sent.
    pub value: bool,
    /// As [`Converted::lossy`].
    pub lossy: bool,
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl<'a> Dtm<'a> {
    /// Parses `YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]`, checking each part's range.
    pub fn parse(text: &'a str) -> Result<Dtm<'a>, &'static str> {
        // Signs are ASCII, so they are found byte by byte, and their positions split the text.
        let sign = |b: &u8| matches!(b, b'+' | b'-');
        if text.bytes().filter(sign).count() > 1 {
            return Err("not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])");
        }
        let (body, offset) = match text.bytes().position(|b| sign(&b)) {
            Some(i) => (&text[..i], Some(&text[i..])),
            None => (text, None),
        };
        if let Some(o) = offset
            && !(o.len() == 5 && digits(&o[1..]) && o[1..3] <= *"14" && o[3..5] <= *"59")
        {
            return Err("time zone offset is not +hhmm or -hhmm");
        }
        let (main, fraction) = match body.split_once('.') {
            Some((m, f)) => (m, Some(f)),
            None => (body, None),
        };
        if !digits(main)
            || ![4, 6, 8, 10, 12, 14].contains(&main.len())
            || fraction.is_some_and(|f| !digits(f) || main.len() != 14)
        {
            return Err("not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])");
        }
        let part = |a: usize| main.get(a..a + 2);
        let d = Dtm {
            year: &main[..4],
            month: part(4),
            day: part(6),
            hour: part(8),
            minute: part(10),
            second: part(12),
            fraction,
            offset,
        };
        // Every part was checked to be digits above.
        let num =
            |s: Option<&str>| s.map(|s| s.bytes().fold(0, |n, b| n * 10 + u32::from(b - b'0')));
        if let Some(m) = num(d.month)
            && !(1..=12).contains(&m)
        {
            return Err("month out of range");
        }
        if let Some(day) = num(d.day) {
            let y = num(Some(d.year)).map_or(0, |y| y as i32);
            if NaiveDate::from_ymd_opt(y, num(d.month).unwrap_or(1), day).is_none() {
                return Err("day out of range for the month");
            }
        }
        if num(d.hour).is_some_and(|h| h > 23)
            || num(d.minute).is_some_and(|m| m > 59)
            || num(d.second).is_some_and(|s| s > 59)
        {
            return Err("time of day out of range");
        }
        Ok(d)
    }

    /// How many digits of a second's fraction it has.
    pub fn fraction_digits(&self) -> usize {
        self.fraction.map_or(0, str::len)
    }

    fn push_date(&self, s: &mut String) {
        s.push_str(self.year);
        for p in [self.month, self.day].into_iter().flatten() {
            s.push('-');
            s.push_str(p);
        }
    }

    /// Appends `hh:mm:ss[.f]`; false (nothing appended) without an hour.
    fn push_time(&self, s: &mut String) -> bool {
        let Some(h) = self.hour else {
            return false;
        };
        s.push_str(h);
        s.push(':');
        s.push_str(self.minute.unwrap_or("00"));
        s.push(':');
        s.push_str(self.second.unwrap_or("00"));
        if let Some(f) = self.fraction {
            s.push('.');
            s.push_str(f);
        }
        true
    }

    /// Appends the offset as sent, or the one found for the local time in `zone`; false
    /// (nothing appended) when there is none.
    fn push_offset(&self, zone: Option<Tz>, s: &mut String) -> bool {
        if let Some(o) = self.offset {
            s.push_str(&o[..3]);
            s.push(':');
            s.push_str(&o[3..5]);
            return true;
        }
        let Some(secs) = self.zone_offset(zone) else {
            return false;
        };
        let m = secs.unsigned_abs() / 60;
        s.push(if secs < 0 { '-' } else { '+' });
        for (i, n) in [m / 60, m % 60].into_iter().enumerate() {
            if i == 1 {
                s.push(':');
            }
            s.push(char::from(b'0' + (n / 10 % 10) as u8));
            s.push(char::from(b'0' + (n % 10) as u8));
        }
        true
    }

    /// True when this makes a FHIR instant ([`DateKind::Instant`]): a time of day with its
    /// offset, or one `zone` gives the local time. Builds nothing.
    pub fn makes_instant(&self, zone: Option<Tz>) -> bool {
        self.day.is_some()
            && self.hour.is_some()
            && (self.offset.is_some() || self.zone_offset(zone).is_some())
    }

    /// Seconds east of UTC of this local time in `zone`.
    fn zone_offset(&self, zone: Option<Tz>) -> Option<i32> {
        let zone = zone?;
        let date = NaiveDate::from_ymd_opt(
            self.year.parse().ok()?,
            self.month?.parse().ok()?,
            self.day?.parse().ok()?,
        )?;
        let time = NaiveTime::from_hms_opt(
            self.hour?.parse().ok()?,
            self.minute.unwrap_or("0").parse().ok()?,
            self.second.unwrap_or("0").parse().ok()?,
        )?;
        match zone.from_local_datetime(&NaiveDateTime::new(date, time)) {
            // A local time the clocks skip or pass twice has no single offset: not guessed.
            LocalResult::Single(t) => Some(t.offset().fix().local_minus_utc()),
            _ => None,
        }
    }

    /// Converts to the FHIR `kind`.
    pub fn to_fhir(&self, kind: DateKind, zone: Option<Tz>) -> Converted {
        let mut s = String::with_capacity(32);
        let written = self.write_fhir(kind, zone, &mut s);
        Converted {
            value: written.value.then_some(s),
            lossy: written.lossy,
        }
    }

    /// Appends the FHIR `kind` to `s`, as [`Dtm::to_fhir`] gives it, so that a caller can keep
    /// made values in one buffer; appends nothing when there is no value.
    pub fn write_fhir(&self, kind: DateKind, zone: Option<Tz>, s: &mut String) -> Written {
        let padded = self.hour.is_some() && self.second.is_none();
        let start = s.len();
        let written = match kind {
            DateKind::Date => {
                self.push_date(s);
                Written {
                    value: true,
                    lossy: false,
                }
            }
            DateKind::Time => match self.push_time(s) {
                true => Written {
                    value: true,
                    lossy: padded,
                },
                false => Written {
                    value: false,
                    lossy: true,
                },
            },
            DateKind::DateTime | DateKind::Instant => {
                self.push_date(s);
                let date_len = s.len();
                s.push('T');
                let with_time =
                    self.day.is_some() && self.push_time(s) && self.push_offset(zone, s);
                match (with_time, kind) {
                    (true, _) => Written {
                        value: true,
                        lossy: padded,
                    },
                    (false, DateKind::DateTime) => {
                        s.truncate(date_len);
                        Written {
                            value: true,
                            lossy: self.hour.is_some(),
                        }
                    }
                    (false, _) => Written {
                        value: false,
                        lossy: true,
                    },
                }
            }
        };
        if !written.value {
            s.truncate(start);
        }
        written
    }
}

/// Whether the FHIR date/time `end` certainly lies before `start`, which would break a Period's
/// invariant per-1 (`start <= end`). Two times with offsets compare as instants; otherwise the
/// dates compare at the precision both have (`2019` against `2011-03-09` compares years), so
/// values that FHIR itself could not order are never said to be out of order.
pub fn ends_before(start: &str, end: &str) -> bool {
    if let (Ok(s), Ok(e)) = (
        chrono::DateTime::parse_from_rfc3339(start),
        chrono::DateTime::parse_from_rfc3339(end),
    ) {
        return e < s;
    }
    let date = |t: &str| t.split('T').next().unwrap_or("").len();
    let n = date(start).min(date(end));
    n >= 4 && end.get(..n) < start.get(..n)
}

/// The digits of a second's fraction an HL7 DTM (and TM) carries at most: `SS.SSSS`.
pub const DTM_FRACTION_DIGITS: usize = 4;

/// Cuts the fraction of the seconds of an HL7 time stamp or time (`20240305101112.123456+0000`)
/// to the [`DTM_FRACTION_DIGITS`] the type allows; true when digits were cut. Cut, never
/// rounded: rounding `235959.99999` up would carry into the minute, the hour and the day.
///
/// ```
/// use hl7fhir::fhir::datetime::cut_fraction;
/// let mut t = "20241231235959.99999-0300".to_string();
/// assert!(cut_fraction(&mut t));
/// assert_eq!(t, "20241231235959.9999-0300");
/// assert!(!cut_fraction(&mut t));
/// ```
pub fn cut_fraction(dtm: &mut String) -> bool {
    let Some(point) = dtm.find('.') else {
        return false;
    };
    let start = point + 1;
    let digits = dtm[start..].bytes().take_while(u8::is_ascii_digit).count();
    if digits <= DTM_FRACTION_DIGITS {
        return false;
    }
    dtm.replace_range(start + DTM_FRACTION_DIGITS..start + digits, "");
    true
}

/// A FHIR date, dateTime or instant as an HL7 DTM: the reverse of [`Dtm::to_fhir`], keeping
/// precision and offset (`2026-03-14T08:15:03-05:00` → `20260314081503-0500`); a FHIR time
/// (`08:15:03`) as an HL7 TM. `None` for anything that is not one of those as FHIR writes
/// them (a time of day needs seconds, and a dateTime's time its offset) or that names no
/// moment of the calendar (`1913-02-31`).
pub fn fhir_to_dtm(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let digits_at = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let mut out = String::with_capacity(24);
    // hh:mm:ss[.f+] at `i`; returns where it ends.
    let time = |i: usize, out: &mut String| -> Option<usize> {
        let well_formed = digits_at(i, 2)
            && at(i + 2, b':')
            && digits_at(i + 3, 2)
            && at(i + 5, b':')
            && digits_at(i + 6, 2);
        if !well_formed {
            return None;
        }
        out.push_str(&text[i..i + 2]);
        out.push_str(&text[i + 3..i + 5]);
        out.push_str(&text[i + 6..i + 8]);
        let mut end = i + 8;
        if at(end, b'.') {
            let n = b[end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if n == 0 {
                return None;
            }
            out.push_str(&text[end..end + 1 + n]);
            end += 1 + n;
        }
        Some(end)
    };
    if at(2, b':') {
        let end = time(0, &mut out)?;
        return (end == b.len() && Dtm::parse(&format!("20000101{out}")).is_ok()).then_some(out);
    }
    let date_len = match b.len() {
        4 => 4,
        7 => 7,
        _ => 10,
    };
    if !digits_at(0, 4) {
        return None;
    }
    out.push_str(&text[..4]);
    if date_len >= 7 {
        if !(at(4, b'-') && digits_at(5, 2)) {
            return None;
        }
        out.push_str(&text[5..7]);
    }
    if date_len == 10 {
        if !(at(7, b'-') && digits_at(8, 2)) {
            return None;
        }
        out.push_str(&text[8..10]);
        if b.len() > 10 {
            if !at(10, b'T') {
                return None;
            }
            let end = time(11, &mut out)?;
            match &text[end..] {
                "Z" => out.push_str("+0000"),
                zone if zone.len() == 6
                    && (zone.starts_with('+') || zone.starts_with('-'))
                    && zone.as_bytes()[3] == b':' =>
                {
                    out.push_str(&zone[..3]);
                    out.push_str(&zone[4..]);
                }
                _ => return None,
            }
        }
    }
    Dtm::parse(&out).is_ok().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_before_compares_instants_or_dates_at_the_common_precision() {
        assert!(ends_before(
            "2026-01-05T08:00:00-05:00",
            "2026-01-03T09:00:00-05:00"
        ));
        // The same instant in two zones, and a later one that is earlier on the clock.
        assert!(!ends_before(
            "2026-01-05T08:00:00-05:00",
            "2026-01-05T13:00:00Z"
        ));
        assert!(!ends_before(
            "2026-01-05T08:00:00-05:00",
            "2026-01-05T12:30:00-01:00"
        ));
        assert!(ends_before("2019-03-09", "2011-03-09"));
        assert!(ends_before("2019-03-09", "2011"));
        // Not orderable at the precision both have: never out of order.
        assert!(!ends_before("2019-03-09", "2019"));
        assert!(!ends_before("2019-03-09T10:00:00+01:00", "2019-03-09"));
        assert!(!ends_before("2019-03-09", "2019-03-10"));
    }

    fn conv(text: &str, kind: DateKind, zone: Option<&str>) -> (Option<String>, bool) {
        let tz = zone.map(|z| z.parse::<Tz>().unwrap());
        let c = Dtm::parse(text).unwrap().to_fhir(kind, tz);
        (c.value, c.lossy)
    }

    #[test]
    fn conversions() {
        use DateKind::*;
        let s = |v: &str| Some(v.to_string());
        let cases: &[(&str, DateKind, Option<&str>, (Option<String>, bool))] = &[
            (
                "20260314081503-0500",
                DateTime,
                None,
                (s("2026-03-14T08:15:03-05:00"), false),
            ),
            (
                "20260314081503.1234+0100",
                DateTime,
                None,
                (s("2026-03-14T08:15:03.1234+01:00"), false),
            ),
            (
                "202603140815-0500",
                DateTime,
                None,
                (s("2026-03-14T08:15:00-05:00"), true),
            ),
            ("2026", DateTime, None, (s("2026"), false)),
            ("202603", DateTime, None, (s("2026-03"), false)),
            ("20260314", DateTime, None, (s("2026-03-14"), false)),
            // No offset and no zone: the date alone, original kept by the caller.
            ("20260314081503", DateTime, None, (s("2026-03-14"), true)),
            // A configured zone, in winter and in summer.
            (
                "20260114081503",
                DateTime,
                Some("America/Chicago"),
                (s("2026-01-14T08:15:03-06:00"), false),
            ),
            (
                "20260714081503",
                DateTime,
                Some("America/Chicago"),
                (s("2026-07-14T08:15:03-05:00"), false),
            ),
            // 02:30 on 8 March 2026 does not exist in Chicago; 01:30 on 1 November happens twice.
            (
                "20260308023000",
                DateTime,
                Some("America/Chicago"),
                (s("2026-03-08"), true),
            ),
            (
                "20261101013000",
                DateTime,
                Some("America/Chicago"),
                (s("2026-11-01"), true),
            ),
            ("19610615", Date, None, (s("1961-06-15"), false)),
            ("196106150800", Date, None, (s("1961-06-15"), false)),
            (
                "20260314081503-0500",
                Instant,
                None,
                (s("2026-03-14T08:15:03-05:00"), false),
            ),
            ("20260314081503", Instant, None, (None, true)),
            ("20260314", Instant, None, (None, true)),
        ];
        for (text, kind, zone, want) in cases {
            assert_eq!(
                &conv(text, *kind, *zone),
                want,
                "{text} as {kind:?} in {zone:?}"
            );
        }
    }

    #[test]
    fn bad_values() {
        let cases: &[(&str, &str)] = &[
            ("20081306", "month out of range"),
            ("20080230", "day out of range for the month"),
            ("20080229", ""),
            ("20070229", "day out of range for the month"),
            ("2026031425", "time of day out of range"),
            ("202603141260", "time of day out of range"),
            (
                "2026-03-14",
                "not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
            ),
            (
                "2026031",
                "not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
            ),
            (
                "20260314081503+01",
                "time zone offset is not +hhmm or -hhmm",
            ),
            (
                "202603140815.5",
                "not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Dtm::parse(text).err().unwrap_or(""), *want, "{text}");
        }
    }

    #[test]
    fn reverse() {
        for (fhir, v2) in [
            ("2026-03-14T08:15:03-05:00", "20260314081503-0500"),
            ("2026-03", "202603"),
            ("2026-03-14T08:15:03.25Z", "20260314081503.25+0000"),
            ("1961-06-15", "19610615"),
        ] {
            assert_eq!(fhir_to_dtm(fhir).as_deref(), Some(v2));
        }
        assert_eq!(fhir_to_dtm("08:15:03.5").as_deref(), Some("081503.5"));
        for bad in [
            "soon",
            "1913-02-31",
            "2026-13",
            "2026-3-14",
            "2026-03-14T08:15-05:00",
            "2026-03-14T08:15:03",
            "2026-03-14T25:00:00Z",
            "2026-03-14 08:15:03Z",
            "24:00:00",
            "2026-03-14T08:15:03.Z",
        ] {
            assert_eq!(fhir_to_dtm(bad), None, "{bad}");
        }
    }
}
