//! `hl7fhir parse`: one JSON line per message with its tree of decoded text.

use serde_json::{Map, Value as Json};

use crate::cli::stream::{Input, Translator};
use crate::error::{Error, ErrorKind};
use crate::v2::{ParseOptions, Parser};

pub(crate) struct ParseCommand {
    parser: Parser,
}

impl ParseCommand {
    pub(crate) fn new(options: ParseOptions) -> ParseCommand {
        ParseCommand {
            parser: Parser::new(options),
        }
    }
}

impl Translator for ParseCommand {
    fn message(
        &mut self,
        input: &Input<'_>,
        out: &mut Vec<u8>,
        _notes: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let msg = self.parser.parse(input.bytes)?;
        let tree = msg.to_tree()?;
        let mut o = Map::new();
        o.insert("index".into(), input.index.into());
        o.insert("offset".into(), input.offset.into());
        o.insert("segments".into(), tree.to_json());
        serde_json::to_writer(&mut *out, &Json::Object(o))
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        out.push(b'\n');
        Ok(())
    }
}
