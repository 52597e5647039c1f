//! The declarative mapping tables (`mappings/`): loading the embedded defaults and a site's
//! overrides, checking every row, and compiling them once into a [`Plan`] that the
//! translations follow. The table format is documented in `mappings/README.md`.

pub mod condition;
mod load;
pub mod plan;
pub mod query;
pub mod target;

pub use load::TableSet;
pub use plan::Plan;
