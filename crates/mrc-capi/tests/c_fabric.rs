//! The C transfer program between two NICs of a namespace SRv6 fabric (`mrcnic0` server,
//! `mrcnic3` client: different T0s, so every EV is a distinct path through the T1s), the
//! traffic spread over both planes, EV probes answered on all 8 EVs (and not on the paths of a
//! pulled cable), and a port status update that moves a QP's traffic off a plane. Needs root (namespaces); skipped with the reason otherwise.

mod common;

use std::time::Duration;

use mrc_net::{Fabric, FabricSpec};

/// The fabric's namespace prefix, unique per test process: two checkouts' test runs at once
/// must not tear down each other's fabric.
static PREFIX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("capi{}", std::process::id()));

/// Kills a child program still running after a minute: a lost event would leave the test
/// reading its output for ever. Disarmed when dropped (after the child was waited for, so its
/// PID cannot have been reused).
struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Watchdog {
    fn new(child: &std::process::Child) -> Self {
        let pid = child.id().to_string();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watch = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            for _ in 0..600 {
                if watch.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("watchdog: program {pid} still running after 60 s, killed");
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
        });
        Self(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = mrc_net::fabric::down(&PREFIX);
    }
}

/// Bytes received by the T1 switches of plane `p`.
fn plane_rx(p: u32) -> u64 {
    (0..2)
        .map(|i| {
            let ns = format!("{}-p{p}-t1-{i}", *PREFIX);
            let out = std::process::Command::new("ip")
                .args(["-n", &ns, "-s", "link"])
                .output()
                .expect("ip -s link");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let mut lines = text.lines();
            let mut sum = 0u64;
            while let Some(l) = lines.next() {
                if l.trim_start().starts_with("RX:") {
                    sum += lines
                        .next()
                        .and_then(|n| n.split_whitespace().next())
                        .and_then(|b| b.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
            sum
        })
        .sum()
}

#[test]
fn c_xfer_between_fabric_nics() {
    if let Some(why) = common::skip_reason() {
        eprintln!("SKIPPED c_fabric: {why}");
        return;
    }
    if !mrc_net::sys::is_root() {
        eprintln!("SKIPPED c_fabric: needs root (network namespaces)");
        return;
    }
    let _ = mrc_net::fabric::down(&PREFIX);
    let fabric = match Fabric::new(FabricSpec::small(&PREFIX)).and_then(|f| f.up().map(|()| f)) {
        Ok(f) => f,
        Err(e) => {
            let _ = mrc_net::fabric::down(&PREFIX);
            eprintln!("SKIPPED c_fabric: fabric up failed: {e}");
            return;
        }
    };
    let _down = Down;
    assert_eq!(fabric.evs().len(), 8);
    let names = {
        // SAFETY: this test binary has one test; no other thread reads the environment now.
        unsafe { std::env::set_var("MRC_FABRIC_PREFIX", &*PREFIX) };
        _mrc::verbs::device_names()
    };
    for n in ["mrclo", "mrcnic0", "mrcnic1", "mrcnic2", "mrcnic3"] {
        assert!(names.iter().any(|d| d == n), "{n} missing from {names:?}");
    }
    let prog = common::build("xfer.c", &["common.c"], "mrc_capi_xfer_fabric");
    let before = [plane_rx(0), plane_rx(1)];
    let (sout, cout) = common::run_pair(
        &prog,
        "mrcnic0",
        "mrcnic3",
        &[("MRC_FABRIC_PREFIX", PREFIX.as_str())],
    );
    println!("{sout}{cout}");
    assert!(sout.contains("server: verified 13 sizes"), "{sout}");
    assert!(cout.contains("client: verified 13 sizes"), "{cout}");
    // About 85 MB crossed the T1s; both planes carried a fair share.
    let moved = [plane_rx(0) - before[0], plane_rx(1) - before[1]];
    println!("T1 bytes received per plane: {moved:?}");
    for m in moved {
        assert!(m > 20_000_000, "plane carried only {m} bytes: {moved:?}");
    }
    // The bandwidth benchmark between the same NICs (Write, then Write-with-Immediate).
    let bench = common::build("bench.c", &["common.c"], "mrc_capi_bench_fabric");
    for mode in ["write", "imm"] {
        let (sout, cout) = common::run_pair_args(
            &bench,
            "mrcnic0",
            &["mrcnic3", mode, "1048576", "67108864", "16"],
            &[("MRC_FABRIC_PREFIX", PREFIX.as_str())],
        );
        println!("{sout}{cout}");
        let tag = format!("{mode} 1048576 B x 64:");
        assert!(sout.contains(&tag) && cout.contains(&tag), "{sout}{cout}");
    }

    // The transfer again, with a plane-0 cable on NIC 3's side pulled mid-run and restored:
    // every size still verified on both sides.
    let topo = fabric.clos().topology();
    let nic = topo.nic_node(3);
    let t0 = topo
        .ports(nic)
        .iter()
        .flatten()
        .map(|&l| fabric.node_name(topo.link(l).other(nic).node))
        .find(|n| n.starts_with("p0-"))
        .expect("NIC 3's plane-0 T0");
    let (sout, cout) = std::thread::scope(|sc| {
        let run = sc.spawn(|| {
            common::run_pair(
                &prog,
                "mrcnic0",
                "mrcnic3",
                &[("MRC_FABRIC_PREFIX", PREFIX.as_str())],
            )
        });
        std::thread::sleep(Duration::from_millis(150));
        fabric.set_link(&t0, "p0-t1-1", false).expect("pull cable");
        std::thread::sleep(Duration::from_millis(400));
        fabric
            .set_link(&t0, "p0-t1-1", true)
            .expect("restore cable");
        run.join().expect("transfer thread")
    });
    println!("cable {t0} -- p0-t1-1 pulled at 150 ms for 400 ms:\n{sout}{cout}");
    assert!(sout.contains("server: verified 13 sizes"), "{sout}");
    assert!(cout.contains("client: verified 13 sizes"), "{cout}");

    // EV probes from NIC 3 to NIC 0 on all 8 EVs (both planes): each answered with an RTT.
    let ctl = common::build("walk_ctl.c", &[], "mrc_capi_walk_ctl_fabric");
    let out = std::process::Command::new(&ctl)
        .args(["probes", "mrcnic3", "mrcnic0"])
        .env("MRC_FABRIC_PREFIX", PREFIX.as_str())
        .output()
        .expect("walk_ctl probes");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("probes answered: 8 of 8"), "{text}");

    // Pull the plane-0 cable between NIC 3's T0 and T1 0: the EVs routed over it stop
    // answering, every plane-1 EV still does (each EV is its own SRv6 path).
    fabric.set_link(&t0, "p0-t1-0", false).expect("pull cable");
    let out = std::process::Command::new(&ctl)
        .args(["probes", "mrcnic3", "mrcnic0", "partial"])
        .env("MRC_FABRIC_PREFIX", PREFIX.as_str())
        .output()
        .expect("walk_ctl probes partial");
    let text = String::from_utf8_lossy(&out.stdout);
    println!("cable {t0} -- p0-t1-0 pulled:\n{text}");
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<u32> = text
        .lines()
        .find_map(|l| l.strip_prefix("answered ids:"))
        .expect("answered ids")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    for id in 104..108 {
        assert!(ids.contains(&id), "plane-1 probe {id} unanswered: {ids:?}");
    }
    let plane0 = ids.iter().filter(|&&id| id < 104).count();
    assert!(
        plane0 < 4,
        "every plane-0 probe answered with a cable down: {ids:?}"
    );
    fabric
        .set_link(&t0, "p0-t1-0", true)
        .expect("restore cable");

    // Port status update: NIC 0's controller tells NIC 3 that only its port 1 (plane 0) is
    // up; NIC 3's QP then writes only on plane 0 (before: both planes).
    let ps = common::build("portstat.c", &["common.c"], "mrc_capi_portstat_fabric");
    let mut child = std::process::Command::new(&ps)
        .args(["mrcnic0", "mrcnic3"])
        .env("MRC_FABRIC_PREFIX", PREFIX.as_str())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("portstat");
    let mut input = child.stdin.take().expect("stdin");
    let watchdog = Watchdog::new(&child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let c0 = [plane_rx(0), plane_rx(1)];
    assert_eq!(next(), "phase1 done");
    let c1 = [plane_rx(0), plane_rx(1)];
    std::io::Write::write_all(&mut input, b"go\n").expect("stdin");
    let sent = next();
    assert!(sent.starts_with("port status 0x2 sent"), "{sent}");
    assert_eq!(next(), "phase2 done");
    let c2 = [plane_rx(0), plane_rx(1)];
    std::io::Write::write_all(&mut input, b"go\n").expect("stdin");
    assert_eq!(next(), "portstat: ok");
    assert!(child.wait().expect("exit").success());
    drop(watchdog);
    let before = [c1[0] - c0[0], c1[1] - c0[1]];
    let after = [c2[0] - c1[0], c2[1] - c1[1]];
    println!("32 MiB per phase; T1 bytes per plane before {before:?}, after {after:?}");
    assert!(before[0] > 8 << 20 && before[1] > 8 << 20, "{before:?}");
    assert!(after[0] > 32 << 20, "{after:?}");
    assert!(after[1] < 1 << 20, "plane 1 still carried {after:?}");

    // NIC 3's plane-1 lane loses carrier and gets it back: its context's NIC takes port 1
    // (plane 1) down and up, and the application gets IBV_EVENT_PORT_ERR / PORT_ACTIVE on
    // port 2.
    let t0p1 = topo
        .ports(nic)
        .iter()
        .flatten()
        .map(|&l| fabric.node_name(topo.link(l).other(nic).node))
        .find(|n| n.starts_with("p1-"))
        .expect("NIC 3's plane-1 T0");
    let nic3 = fabric.node_name(nic);
    let pe = common::build("portev.c", &["common.c"], "mrc_capi_portev_fabric");
    let mut child = std::process::Command::new(&pe)
        .args(["mrcnic3", "2"])
        .env("MRC_FABRIC_PREFIX", PREFIX.as_str())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("portev");
    let watchdog = Watchdog::new(&child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(next(), "ready");
    fabric.set_link(&nic3, &t0p1, false).expect("lane down");
    assert_eq!(next(), "async port 2 err");
    fabric.set_link(&nic3, &t0p1, true).expect("lane up");
    assert_eq!(next(), "async port 2 active");
    assert!(child.wait().expect("exit").success());
    drop(watchdog);
}
