//! `hl7fhir roundtrip`: re-encodes every message from its parsed form and writes it back inside
//! its original framing, so that stdout equals stdin for every message the parser accepts.

use crate::cli::stream::{InputInfo, Translator};
use crate::error::{Error, ErrorKind};
use crate::v2::{EncodeMode, Framed, ParseOptions, Parser};

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
    fn passthrough(&self) -> bool {
        true
    }

    fn message(
        &mut self,
        _input: InputInfo,
        framed: &Framed<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let msg = self.parser.parse(framed.message)?;
        out.extend_from_slice(framed.leading);
        let start = out.len();
        msg.encode(EncodeMode::Exact, out);
        let encoded = &out[start..];
        if encoded != framed.message {
            let at = encoded
                .iter()
                .zip(framed.message)
                .position(|(a, b)| a != b)
                .unwrap_or(encoded.len().min(framed.message.len()));
            return Err(Error::new(
                ErrorKind::RoundTrip,
                "re-encoded message differs from the input",
            )
            .at_offset(at as u64));
        }
        out.extend_from_slice(framed.trailing);
        Ok(())
    }
}
