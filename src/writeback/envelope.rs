//! The message envelope of a writeback: sending and receiving application and facility
//! (MSH-3 to MSH-6), processing id (MSH-11), version (MSH-12) and message control ids (MSH-10),
//! from options or a small JSON profile per destination.
//!
//! Control ids are a hash of the seed and the message's position in the run: unique within a
//! run, and the same for the same seed, so a replay produces the same messages.

use serde_json::Value as Json;

use crate::error::{Error, ErrorKind};
use crate::fhir::datetime::{DTM_FRACTION_DIGITS, Dtm};
use crate::fhir::id::IdHasher;
use crate::v2::MessageBuilder;

/// The HL7 versions a profile may name: those whose every golden writeback passes
/// `validate-v2` (`.ci/run` checks each). Before 2.5 an XTN.1 must be a formatted US number
/// and the validator lacks some structures (ADT_A05 in 2.3.1); the library itself writes
/// whatever version it is given, as the tables and the version's definitions allow.
pub const PROFILE_VERSIONS: &[&str] = &["2.5", "2.5.1", "2.6", "2.7", "2.8"];

/// Checks a configured MSH-7 (and EVN-2): an HL7 date/time (DTM), which carries at most four
/// digits of a second. Gives the reason it is not one.
///
/// ```
/// use hl7fhir::writeback::envelope::check_timestamp;
/// assert!(check_timestamp("20260101120000+0000").is_ok());
/// assert!(check_timestamp("2026-01-01T12:00:00Z").is_err());
/// ```
pub fn check_timestamp(text: &str) -> Result<(), &'static str> {
    let dtm = Dtm::parse(text)?;
    if dtm.fraction_digits() > DTM_FRACTION_DIGITS {
        return Err("an HL7 date/time carries at most 4 digits of a second");
    }
    Ok(())
}

/// Where writeback messages come from and go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// MSH-3.
    pub sending_application: String,
    /// MSH-4.
    pub sending_facility: String,
    /// MSH-5.
    pub receiving_application: String,
    /// MSH-6.
    pub receiving_facility: String,
    /// MSH-11: P (production), T (training) or D (debugging).
    pub processing_id: String,
    /// MSH-12 (2.5.1 by default).
    pub version: String,
    /// Seed of the control ids.
    pub seed: u64,
    /// MSH-7 and EVN-2; the current time (UTC) when `None`.
    pub timestamp: Option<String>,
}

impl Default for Envelope {
    fn default() -> Envelope {
        Envelope {
            sending_application: "HL7FHIR".into(),
            sending_facility: String::new(),
            receiving_application: String::new(),
            receiving_facility: String::new(),
            processing_id: "P".into(),
            version: "2.5.1".into(),
            seed: 0,
            timestamp: None,
        }
    }
}

impl Envelope {
    /// Reads a profile: a JSON object with any of `sending_application`, `sending_facility`,
    /// `receiving_application`, `receiving_facility`, `processing_id`, `version`, `seed`,
    /// `timestamp`.
    ///
    /// ```
    /// use hl7fhir::writeback::Envelope;
    /// let e = Envelope::from_profile(r#"{"receiving_application": "EPIC", "processing_id": "T"}"#).unwrap();
    /// assert_eq!((e.receiving_application.as_str(), e.processing_id.as_str()), ("EPIC", "T"));
    /// assert!(Envelope::from_profile(r#"{"version": "2.4"}"#).is_err());
    /// ```
    pub fn from_profile(text: &str) -> Result<Envelope, Error> {
        let bad = |m: String| Error::new(ErrorKind::BadValue, m);
        let json: Json =
            serde_json::from_str(text).map_err(|e| bad(format!("profile is not JSON: {e}")))?;
        let obj = json
            .as_object()
            .ok_or_else(|| bad("profile must be a JSON object".into()))?;
        let mut e = Envelope::default();
        for (key, value) in obj {
            let text = || {
                value
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("profile `{key}` must be a string")))
            };
            match key.as_str() {
                "sending_application" => e.sending_application = text()?,
                "sending_facility" => e.sending_facility = text()?,
                "receiving_application" => e.receiving_application = text()?,
                "receiving_facility" => e.receiving_facility = text()?,
                "processing_id" => e.processing_id = text()?,
                "version" => e.version = text()?,
                "timestamp" => {
                    let t = text()?;
                    check_timestamp(&t)
                        .map_err(|why| bad(format!("profile timestamp {t:?}: {why}")))?;
                    e.timestamp = Some(t);
                }
                "seed" => {
                    e.seed = value
                        .as_u64()
                        .ok_or_else(|| bad("profile `seed` must be a whole number".into()))?
                }
                other => return Err(bad(format!("profile has an unknown key `{other}`"))),
            }
        }
        if !PROFILE_VERSIONS.contains(&e.version.as_str()) {
            return Err(bad(format!(
                "version `{}` is not one writeback writes: {}",
                e.version,
                PROFILE_VERSIONS.join(", ")
            )));
        }
        if !matches!(e.processing_id.as_str(), "P" | "T" | "D") {
            return Err(bad(format!(
                "processing_id `{}` must be P, T or D",
                e.processing_id
            )));
        }
        Ok(e)
    }

    /// The control id of the `n`-th message: 20 characters, as MSH-10 allows before v2.7.
    pub fn control_id(&self, n: u64) -> String {
        let mut h = IdHasher::new("MSH-10");
        h.add(&self.seed.to_string());
        h.add(&n.to_string());
        h.finish().replace('-', "")[..20].to_uppercase()
    }

    /// MSH-7: the configured time or now.
    pub fn timestamp(&self) -> String {
        self.timestamp
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%d%H%M%S+0000").to_string())
    }

    /// Fills MSH of the message `b` builds: applications and facilities, MSH-7 `time`, MSH-9
    /// (type, event, structure), MSH-10 `control_id`, processing id, version, and UTF-8 as the
    /// character set the builder writes.
    pub fn write_header(
        &self,
        b: &mut MessageBuilder,
        msh9: [&str; 3],
        control_id: &str,
        time: &str,
    ) {
        for (field, value) in [
            (3, self.sending_application.as_str()),
            (4, &self.sending_facility),
            (5, &self.receiving_application),
            (6, &self.receiving_facility),
            (7, time),
            (10, control_id),
            (11, &self.processing_id),
            (12, &self.version),
        ] {
            if !value.is_empty() {
                b.set(1, field, 1, 1, 1, value);
            }
        }
        for (c, v) in msh9.into_iter().enumerate() {
            b.set(1, 9, 1, c + 1, 1, v);
        }
        b.set(1, 18, 1, 1, 1, "UNICODE UTF-8");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids_are_unique_and_seeded() {
        let e = Envelope::default();
        let ids: std::collections::HashSet<String> = (0..1000).map(|n| e.control_id(n)).collect();
        assert_eq!(ids.len(), 1000);
        assert_eq!(e.control_id(7), Envelope::default().control_id(7));
        assert_ne!(
            e.control_id(7),
            Envelope {
                seed: 1,
                ..Envelope::default()
            }
            .control_id(7)
        );
        assert_eq!(e.control_id(7).len(), 20);
    }

    #[test]
    fn profile_errors() {
        for (text, want) in [
            ("[]", "profile must be a JSON object"),
            (
                "{\"sending_app\": \"X\"}",
                "profile has an unknown key `sending_app`",
            ),
            (
                "{\"processing_id\": \"Q\"}",
                "processing_id `Q` must be P, T or D",
            ),
            ("{\"seed\": \"x\"}", "profile `seed` must be a whole number"),
            (
                "{\"timestamp\": \"garbage\"}",
                "profile timestamp \"garbage\": not an HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
            ),
            (
                "{\"timestamp\": \"20260101120000.12345\"}",
                "profile timestamp \"20260101120000.12345\": an HL7 date/time carries at most 4 digits of a second",
            ),
        ] {
            assert_eq!(Envelope::from_profile(text).unwrap_err().to_string(), want);
        }
    }
}
