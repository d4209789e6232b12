//! One C program per OCP walkthrough, built against the headers and run on `mrclo`:
//! `walk_qp` (QP management), `walk_ctl gen|exp|events|probes` (generated / explicit EV
//! profiles, EV events, EV probes on `mrclo`, where a probe reaches the probing context).

mod common;

use std::process::Command;

fn run(prog: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = Command::new(prog)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("run walkthrough");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{args:?} failed:\n{text}");
    text
}

#[test]
fn c_walkthroughs() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_walkthroughs: {why}");
        return;
    }
    let qp = common::build("walk_qp.c", &[], "mrc_capi_walk_qp");
    let t = run(
        &qp,
        &[],
        &[("MRC_QP_EV_PROFILE_ID", "1"), ("MRC_QP_CC_PROFILE_ID", "7")],
    );
    assert!(t.contains("walkthrough mrc_qp: ok"), "{t}");
    let ctl = common::build("walk_ctl.c", &[], "mrc_capi_walk_ctl");
    let t = run(&ctl, &["gen"], &[]);
    assert!(t.contains("denied 19456 EVs"), "{t}");
    assert!(
        t.contains("SRv6 EV[65535]: dead:cafe:0100:0200:03ff:04ff::"),
        "{t}"
    );
    assert!(t.contains("walkthrough mrc_ctl_gen_ev: ok"), "{t}");
    let t = run(&ctl, &["exp"], &[]);
    assert!(t.contains("walkthrough mrc_ctl_exp_ev: ok"), "{t}");
    let t = run(&ctl, &["events"], &[]);
    assert!(t.contains("drop_count:  2"), "{t}");
    assert!(t.contains("walkthrough mrc_ctl_ev_events: ok"), "{t}");
    let t = run(&ctl, &["probes"], &[]);
    assert!(t.contains("probes answered: 8 of 8"), "{t}");
    assert!(
        t.contains("probe to fd99::99: timed out, 0 responses"),
        "{t}"
    );
    assert!(t.contains("walkthrough mrc_ctl_ev_probes: ok"), "{t}");

    // Port status update on mrclo (reaches the requesting context; one plane, so no effect on
    // the transfer, which must still verify).
    let ps = common::build("portstat.c", &["common.c"], "mrc_capi_portstat");
    let mut child = Command::new(&ps)
        .args(["mrclo", "mrclo"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("portstat");
    let mut input = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut input, b"go\ngo\n").expect("stdin");
    drop(input);
    let out = child.wait_with_output().expect("portstat output");
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("port status 0x2 sent, answered in"), "{t}");
    assert!(t.contains("portstat: ok"), "{t}");
}
