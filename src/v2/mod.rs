//! The HL7 v2 wire format: parsing (zero-copy views over one index per message), decoding of
//! escapes and character sets, terser paths, stream framing (MLLP, batches, plain files),
//! encoding and acknowledgements.
//!
//! The pieces, in the order data flows through them:
//! [`FrameReader`] splits a stream into messages; [`Parser`] indexes one message and hands out
//! [`Message`] views; [`Value::text`] decodes a value; [`Path`] addresses values;
//! [`Message::encode`], [`Tree`] and [`MessageBuilder`] write messages; [`build_ack`] answers
//! the sender.

mod ack;
mod charset;
mod delimiters;
mod encode;
mod escape;
mod framing;
mod message;
mod options;
mod path;
mod scan;
pub mod spec;

pub use ack::{AckCode, AckOptions, ReceivedHeader, build_ack, error_condition};
pub use charset::Charset;
pub use delimiters::Delimiters;
pub use encode::{EncodeMode, FieldTree, MessageBuilder, SegmentTree, Tree};
pub(crate) use escape::escape_into;
pub use framing::{Chunk, FrameReader, Framed, Framing};
pub use message::{
    Component, Components, Field, Fields, Index, Message, Parser, Repetition, Repetitions, Segment,
    Segments, Subcomponent, Subcomponents, Value,
};
pub use options::{Formatting, Leniency, Limits, ParseOptions};
pub use path::Path;
