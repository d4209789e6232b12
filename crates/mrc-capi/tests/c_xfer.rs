//! A C server and client (`tests/c/xfer.c`, built against the OCP headers and Debian's
//! libibverbs-dev, linked `-l_mrc -libverbs`) transfer verified data of 1 B … 64 MiB over
//! `mrclo` with RDMA Write and Write-with-Immediate.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits for `c` at most `limit`; kills it after.
fn wait(mut c: Child, limit: Duration) -> (bool, String) {
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = c.try_wait() {
            let mut out = String::new();
            if let Some(mut o) = c.stdout.take() {
                let _ = o.read_to_string(&mut out);
            }
            if let Some(mut e) = c.stderr.take() {
                let _ = e.read_to_string(&mut out);
            }
            return (st.success(), out);
        }
        if t0.elapsed() > limit {
            let _ = c.kill();
            let _ = c.wait();
            return (false, "timed out".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `prog server DEV` and `prog client PORT DEV`; returns both outputs.
pub(crate) fn run_pair(prog: &std::path::Path, dev: &str) -> (String, String) {
    let mut server = Command::new(prog)
        .args(["server", dev])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut line = String::new();
    let mut rd = BufReader::new(server.stdout.take().expect("stdout"));
    rd.read_line(&mut line).expect("server port line");
    let port = line
        .strip_prefix("PORT ")
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("server said {line:?}"));
    let client = Command::new(prog)
        .args(["client", &port, dev])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    let (cok, cout) = wait(client, Duration::from_secs(180));
    server.stdout = Some(rd.into_inner());
    let (sok, sout) = wait(server, Duration::from_secs(30));
    assert!(cok, "client failed:\n{cout}\nserver:\n{sout}");
    assert!(sok, "server failed:\n{sout}\nclient:\n{cout}");
    (sout, cout)
}

#[test]
fn c_write_and_write_imm_1b_to_64mib_on_mrclo() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_xfer: {why}");
        return;
    }
    let prog = common::build("xfer.c", &["common.c"], "mrc_capi_xfer");
    let (sout, cout) = run_pair(&prog, "mrclo");
    println!("{sout}{cout}");
    assert!(sout.contains("server: verified 13 sizes"), "{sout}");
    assert!(cout.contains("client: verified 13 sizes"), "{cout}");
}
