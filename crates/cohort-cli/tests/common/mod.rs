//! Running the `cohort` binary in tests.
#![allow(dead_code, missing_docs)]

use std::process::{Command, Output};

pub fn cohort(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cohort"))
        .args(args)
        .output()
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
