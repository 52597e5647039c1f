#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hl7fhir_fuzz::check_query(data));
