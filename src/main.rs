//! The `hl7fhir` command line; see `hl7fhir --help`.

fn main() {
    std::process::exit(hl7fhir::cli::main());
}
