//! API misuse from C (`tests/c/misuse.c`): NULL and foreign pointers, double destroy, objects
//! in use, bad work requests, posting to an ERROR QP (set by the application and reached by a
//! remote access error, with its async event): documented error codes, no crash.

mod common;

use std::process::Command;

#[test]
fn c_misuse_gives_documented_errors() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_misuse: {why}");
        return;
    }
    let prog = common::build("misuse.c", &["common.c"], "mrc_capi_misuse");
    let out = Command::new(&prog).output().expect("run misuse");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "misuse test failed:\n{text}");
    let n: u32 = text
        .split("misuse: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(n >= 80, "only {n} checks ran:\n{text}");
}
