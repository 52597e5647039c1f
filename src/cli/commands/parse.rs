//! `hl7fhir parse`: one JSON line per message with its tree of decoded text.

use serde_json::{Map, Value as Json};

use crate::cli::stream::{InputInfo, Translator};
use crate::error::Error;
use crate::v2::{Framed, ParseOptions, Parser};

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
        input: InputInfo,
        framed: &Framed<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let msg = self.parser.parse(framed.message)?;
        let tree = msg.to_tree()?;
        let mut o = Map::new();
        o.insert("index".into(), input.index.into());
        o.insert("offset".into(), framed.offset.into());
        o.insert("segments".into(), tree.to_json());
        serde_json::to_writer(&mut *out, &Json::Object(o))
            .map_err(|e| Error::new(crate::ErrorKind::Io, e.to_string()))?;
        out.push(b'\n');
        Ok(())
    }
}
