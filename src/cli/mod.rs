//! The `hl7fhir` command line: argument handling, the stream driver that turns every input into
//! exactly one output or error record, and one module per subcommand.

mod args;
mod commands;
mod input;
mod stream;

use std::io::Write;

/// Exit status: every input translated.
pub const EXIT_OK: i32 = 0;
/// Exit status: at least one input failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit status: the command line was wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: reading input or writing output failed.
pub const EXIT_IO: i32 = 3;

/// Runs the command line with the process's arguments; returns the exit status.
pub fn main() -> i32 {
    let request = match args::parse_args(std::env::args_os().skip(1)) {
        Ok(r) => r,
        Err(msg) => {
            let _ = writeln!(std::io::stderr(), "hl7fhir: {msg}");
            return EXIT_USAGE;
        }
    };
    match request {
        args::Request::Help(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            EXIT_OK
        }
        args::Request::Version => {
            let _ = writeln!(std::io::stdout(), "hl7fhir {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        args::Request::Run(config) => match commands::job(&config) {
            Ok(job) => stream::run(&config, job),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "hl7fhir: {e}");
                EXIT_USAGE
            }
        },
    }
}
