//! `hl7fhir roundtrip`: re-encodes every message from its parsed form and writes it back inside
//! its original framing, so that stdout equals stdin for every message the parser accepts.

use crate::cli::stream::{Input, Translator};
use crate::error::{Error, ErrorKind};
use crate::v2::{EncodeMode, ParseOptions, Parser};

pub(crate) struct RoundtripCommand {
    parser: Parser,
}

impl RoundtripCommand {
    pub(crate) fn new(options: ParseOptions) -> RoundtripCommand {
        RoundtripCommand {
            parser: Parser::new(options),
        }
    }
}

impl Translator for RoundtripCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        _notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let msg = self.parser.parse(input.bytes)?;
        out.extend_from_slice(input.leading);
        let start = out.len();
        msg.encode(EncodeMode::Exact, out);
        let encoded = &out[start..];
        if encoded != input.bytes {
            let at = encoded
                .iter()
                .zip(input.bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(encoded.len().min(input.bytes.len()));
            return Err(Error::new(
                ErrorKind::RoundTrip,
                "re-encoded message differs from the input",
            )
            .at_offset(at as u64));
        }
        out.extend_from_slice(input.trailing);
        Ok(())
    }
}
