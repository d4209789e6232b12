//! The C bandwidth benchmark (`tests/c/bench.c`) over `mrclo`, Write and Write-with-Immediate
//! modes: both sides finish, agree on the count, and report a positive rate.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

fn rate(out: &str, side: &str) -> f64 {
    out.lines()
        .find(|l| l.starts_with(&format!("bench {side}:")))
        .and_then(|l| l.rsplit(": ").next())
        .and_then(|r| r.trim_end_matches(" Gbit/s").parse().ok())
        .unwrap_or_else(|| panic!("no {side} rate in {out}"))
}

fn run(prog: &std::path::Path, args: &[&str]) -> (String, String) {
    let mut server = Command::new(prog)
        .args(["server", "mrclo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut rd = BufReader::new(server.stdout.take().expect("stdout"));
    let mut line = String::new();
    rd.read_line(&mut line).expect("port line");
    let port = line.trim().strip_prefix("PORT ").expect("PORT").to_string();
    let client = Command::new(prog)
        .args(["client", &port, "mrclo"])
        .args(args)
        .output()
        .expect("client");
    let mut sout = String::new();
    rd.read_to_string(&mut sout).expect("server output");
    let st = server.wait().expect("server exit");
    let cout = format!(
        "{}{}",
        String::from_utf8_lossy(&client.stdout),
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(client.status.success(), "client: {cout}");
    assert!(st.success(), "server: {sout}");
    (sout, cout)
}

#[test]
fn c_bench_write_and_write_imm() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_bench: {why}");
        return;
    }
    let prog = common::build("bench.c", &["common.c"], "mrc_capi_bench");
    for (mode, size, total, depth, n) in [
        ("write", "1048576", "134217728", "16", "128"),
        ("imm", "65536", "33554432", "64", "512"),
    ] {
        let (sout, cout) = run(&prog, &[mode, size, total, depth]);
        println!("{sout}{cout}");
        let tag = format!("{mode} {size} B x {n}:");
        assert!(sout.contains(&tag) && cout.contains(&tag), "{sout}{cout}");
        assert!(rate(&sout, "server") > 0.0 && rate(&cout, "client") > 0.0);
    }
}
