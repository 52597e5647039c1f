//! One module per subcommand; each implements [`Translator`](super::stream::Translator) for
//! one message at a time and leaves streaming, ordering and error records to the driver.

pub(crate) mod parse;
pub(crate) mod roundtrip;
