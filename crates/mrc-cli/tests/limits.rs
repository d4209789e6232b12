#![allow(clippy::unwrap_used, reason = "test code")]
//! Hostile scenario inputs: each is refused with exit 2 naming the field (or runs, where it now
//! means something) under a 6 GB address-space cap and 60 s, never by a panic, abort or OOM.

use std::path::PathBuf;

mod common;
use common::{assert_refused, mrc, mrc_capped, netns_skip_reason, scratch_dir, text};

fn write(name: &str, text: &str) -> PathBuf {
    let p = scratch_dir("limits").join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A 16-NIC Clos scenario with `fabric` extra lines, workload `workload` and `rest` appended.
fn scenario(fabric: &str, workload: &str, rest: &str) -> String {
    format!(
        "name = \"t\"\nmax_time = \"20us\"\n[fabric]\nkind = \"clos\"\n{fabric}\n[workload]\n{workload}\n{rest}\n"
    )
}

const NICS: &str = "nics = 16";
const PERM: &str = "kind = \"permutation\"\nsize = \"64KB\"";

fn sim(name: &str, body: &str) -> std::process::Output {
    let p = write(name, body);
    mrc_capped(&["sim", p.to_str().unwrap()])
}

#[test]
fn huge_flow_sizes_run_without_allocating_by_size() {
    // 10^15 B per flow: the coverage bookkeeping must not grow with the size.
    let o = sim(
        "big.toml",
        &scenario(
            NICS,
            "kind = \"permutation\"\nsize = \"1000000GB\"",
            "[[runs]]\ntransport = \"mrc\"\n[[runs]]\ntransport = \"roce\"",
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Beyond the documented 1 PiB bound, and beyond u64.
    let o = sim(
        "huge.toml",
        &scenario(NICS, "kind = \"permutation\"\nsize = \"2000000TB\"", ""),
    );
    assert_refused(&o, &["huge.toml", "size"]);
    let o = sim(
        "pib.toml",
        &scenario(NICS, "kind = \"permutation\"\nsize = \"2000000000GB\"", ""),
    );
    assert_refused(&o, &["pib.toml", "workload.size", "1 PiB"]);
    let o = sim(
        "u64.toml",
        &scenario(
            NICS,
            "kind = \"permutation\"\nsize = \"18446744073709551615GiB\"",
            "",
        ),
    );
    assert_refused(&o, &["u64.toml", "18446744073709551615GiB", "2^64"]);
}

#[test]
fn fabric_and_workload_sizes_are_checked_before_generating() {
    let cases: [(&str, String, &[&str]); 4] = [
        (
            "nics.toml",
            scenario("nics = 1000000000", PERM, ""),
            &["field `fabric`", "NICs"],
        ),
        (
            "a2a.toml",
            scenario("nics = 100000", "kind = \"all-to-all\"\nsize = \"4KB\"", ""),
            &["field `workload.nics`", "GiB"],
        ),
        (
            "dense.toml",
            scenario(NICS, "kind = \"training\"\nconfig = \"dense-400b\"", ""),
            &["field `workload.config`", "16384 ranks", "fabric.nics"],
        ),
        (
            "permn.toml",
            scenario(
                NICS,
                "kind = \"permutation\"\nsize = \"4KB\"\nnics = 4000000000",
                "",
            ),
            &["field `workload.nics`", "16"],
        ),
    ];
    for (name, body, names) in cases {
        let t = std::time::Instant::now();
        let o = sim(name, &body);
        assert_refused(&o, names);
        assert!(t.elapsed().as_secs() < 10, "{name} took {:?}", t.elapsed());
    }
}

#[test]
fn a_training_job_too_large_for_memory_is_refused_while_built() {
    // dense-400b on a fabric with enough NICs: every check before the DAG passes, and the DAG
    // alone would exceed the 6 GB cap. Refused with exit 2 (not an allocation abort).
    let o = sim(
        "dense16k.toml",
        &scenario(
            "nics = 16384",
            "kind = \"training\"\nconfig = \"dense-400b\"",
            "",
        ),
    );
    assert_refused(
        &o,
        &["dense16k.toml", "field `workload.config`", "DAG operations"],
    );
}

#[test]
fn meaningless_values_name_their_field() {
    let fail = |body: &str| format!("[[failures]]\n{body}");
    let link = "kind = \"link-down\"\nt0 = 0\nuplink = 0\n";
    let flap = "kind = \"link-flap\"\nt0 = 0\nuplink = 0\nperiod = \"1us\"\n";
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "evs.toml",
            scenario(
                NICS,
                PERM,
                "[[runs]]\ntransport = \"mrc\"\nevs_per_plane = 0",
            ),
            &["runs[0].evs_per_plane"],
        ),
        (
            "rto.toml",
            scenario(
                NICS,
                PERM,
                "[[runs]]\ntransport = \"roce\"\nroce_timeout = 255",
            ),
            &["runs[0].roce_timeout", "0..=31"],
        ),
        (
            "until.toml",
            scenario(
                NICS,
                PERM,
                &fail(&format!("{link}at = \"10us\"\nuntil = \"5us\"")),
            ),
            &["failures[0].until"],
        ),
        (
            "wrap.toml",
            scenario(
                NICS,
                PERM,
                &fail(&format!(
                    "{link}at = \"300000min\"\nduration = \"300000min\""
                )),
            ),
            &["failures[0].duration"],
        ),
        (
            "plane.toml",
            scenario(NICS, PERM, &fail("kind = \"plane-down\"\nplane = 9")),
            &["failures[0].plane", "fabric.planes"],
        ),
        (
            "flaps.toml",
            scenario(NICS, PERM, &fail(&format!("{flap}count = 4000000000"))),
            &["failures[0].count"],
        ),
        (
            "flapwrap.toml",
            scenario(
                NICS,
                PERM,
                &fail(
                    "kind = \"link-flap\"\nt0 = 0\nuplink = 0\nperiod = \"1min\"\nat = \"300000min\"\ncount = 10000",
                ),
            ),
            &["failures[0].count", "clock"],
        ),
        (
            "flapboth.toml",
            scenario(
                NICS,
                PERM,
                &fail(&format!("{flap}until = \"10us\"\ncount = 3")),
            ),
            &["failures[0]", "`count` or `until`"],
        ),
        (
            "latency.toml",
            scenario(
                &format!("{NICS}\nnic_link_latency = \"4294967296000ps\""),
                PERM,
                "",
            ),
            &["fabric.nic_link_latency"],
        ),
        (
            "trim.toml",
            scenario(NICS, PERM, "[switch]\ntrim_size = \"4294967297B\""),
            &["switch.trim_size"],
        ),
        (
            "kmin.toml",
            scenario(NICS, PERM, "[switch]\nkmin = 0.9\nkmax = 0.1"),
            &["switch.kmin", "kmax"],
        ),
        (
            "runkmin.toml",
            scenario(
                NICS,
                PERM,
                "[[runs]]\ntransport = \"mrc\"\nswitch = { kmin = 2.0 }",
            ),
            &["runs[0].switch.kmin"],
        ),
        (
            "dagbytes.toml",
            scenario(
                NICS,
                "kind = \"collective\"\ncollective = \"all-reduce\"\nsizes = [\"1000000GB\"]\niterations = 100",
                "",
            ),
            &["field `workload`", "1 EiB"],
        ),
        (
            "pfc.toml",
            scenario(
                NICS,
                PERM,
                "[switch]\npfc = true\npfc_xon = \"200KB\"\npfc_xoff = \"100KB\"",
            ),
            &["switch.pfc_xon"],
        ),
    ];
    for (name, body, names) in cases {
        let o = sim(name, &body);
        assert_refused(&o, names);
    }
}

#[test]
fn failure_fields_are_named_whichever_kind_reads_them() {
    // The fields every failure has are the scenario's, the rest its kind's (mrc_sim::failure).
    let fail = |body: &str| scenario(NICS, PERM, &format!("[[failures]]\n{body}"));
    let cases: [(&str, &[&str]); 6] = [
        (
            "kind = \"lossy\"\nprobability = \"1%\"\nperiod = \"1us\"",
            &[
                "failures[0].period",
                "unknown field",
                "`probability` (kind `lossy`)",
                "`t0`",
            ],
        ),
        (
            "kind = \"link-flap\"\nt0 = 0\nuplink = 0\nperiod = \"1us\"\ncount = \"x\"",
            &["failures[0].count", "expected u32"],
        ),
        (
            "kind = \"link-down\"\nt0 = -1",
            &["failures[0].t0", "expected u32"],
        ),
        (
            "kind = \"link-down\"\nt0 = 0",
            &["failures[0].uplink", "`link-down`"],
        ),
        ("kind = \"nope\"", &["failures[0].kind", "`plane-down`"]),
        (
            "plane = 0",
            &["failures[0].kind", "required", "`link-flap`"],
        ),
    ];
    for (i, (body, names)) in cases.iter().enumerate() {
        assert_refused(&sim(&format!("fail{i}.toml"), &fail(body)), names);
    }
}

#[test]
fn link_flap_until_bounds_the_flaps() {
    // 1 µs period from 1 µs until 4 µs: three flaps, then the link stays up.
    let body = scenario(
        NICS,
        PERM,
        "[[failures]]\nkind = \"link-flap\"\nt0 = 0\nuplink = 0\nperiod = \"1us\"\nat = \"1us\"\nuntil = \"4us\"",
    );
    let p = write("flapuntil.toml", &body);
    let j = scratch_dir("limits").join("flapuntil.json");
    let o = mrc_capped(&["sim", p.to_str().unwrap(), "--json", j.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn cm_lines_are_named_in_the_cm_file() {
    let dir = scratch_dir("limits");
    let cases = [
        (
            "self.cm",
            "Nodes 16\nConnections 1\n3->3 start 0 size 100\n",
            ":3:",
        ),
        (
            "barrier.cm",
            "Nodes 16\nConnections 1\nTriggers 1\ntrigger id 1 barrier count 0\n0->1 start 0 size 100\n",
            ":4:",
        ),
        (
            "dup.cm",
            "Nodes 16\nConnections 1\nTriggers 2\ntrigger id 1 oneshot\ntrigger id 1 oneshot\n0->1 start 0 size 100\n",
            ":5:",
        ),
    ];
    for (cm, text_cm, line) in cases {
        std::fs::write(dir.join(cm), text_cm).unwrap();
        let o = sim(
            &format!("{cm}.toml"),
            &scenario(NICS, &format!("kind = \"cm\"\nfile = \"{cm}\""), ""),
        );
        assert_refused(&o, &[&format!("{cm}{line}")]);
    }
}

#[test]
fn chakra_gzip_bomb_is_refused() {
    use std::io::Write as _;
    // 300 MB of zeros in ~1.4 MB of gzip: past the 256 MiB decompression bound.
    let dir = scratch_dir("limits");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..300 {
        gz.write_all(&zeros).unwrap();
    }
    std::fs::write(dir.join("bomb.et.gz"), gz.finish().unwrap()).unwrap();
    let o = sim(
        "bomb.toml",
        &scenario(
            NICS,
            "kind = \"chakra\"\ntrace = \"bomb.et.gz\"\nranks = 8",
            "",
        ),
    );
    assert_refused(&o, &["field `workload.trace`", "decompressed"]);
}

#[test]
fn perf_flags_are_checked_up_front() {
    let cases: [(&[&str], &[&str]); 8] = [
        (
            &["client", "--loopback", "--bytes", "18446744073709551615GiB"],
            &["--bytes", "2^64"],
        ),
        (
            &["client", "--loopback", "--bytes", "17179869185GiB"],
            &["--bytes", "2^64"],
        ),
        (
            &["bench", "--loopback", "--bytes", "1000000GiB"],
            &["--bytes", "memory"],
        ),
        (&["client", "--loopback", "--evs", "0"], &["--evs 0"]),
        (
            &["client", "--loopback", "--deadline-s", "0"],
            &["--deadline-s 0"],
        ),
        (
            &["client", "--loopback", "--nic", "3", "--to", "3"],
            &["--to 3", "--nic 3"],
        ),
        (&["bench", "--loopback", "--down-at", "NaN"], &["--down-at"]),
        (
            &["bench", "--loopback", "--down-at", "2", "--up-at", "1"],
            &["--up-at"],
        ),
    ];
    for (args, names) in cases {
        let mut a = vec!["perf"];
        a.extend_from_slice(args);
        assert_refused(&mrc_capped(&a), names);
    }
}

#[test]
fn perf_nics_and_tcp_ev_are_checked_against_the_fabric() {
    if !mrc_net::sys::is_root() {
        eprintln!("skipped: the fabric flags are checked after the root check");
        return;
    }
    // The default 4-NIC fabric spec; nothing needs to be up for the checks.
    assert_refused(
        &mrc_capped(&["perf", "client", "--to", "99"]),
        &["--to 99", "0..4"],
    );
    assert_refused(
        &mrc_capped(&["perf", "bench", "--tcp-ev", "4000000000"]),
        &["--tcp-ev 4000000000"],
    );
}

#[test]
fn truncated_pcap_records_name_the_record() {
    let dir = scratch_dir("limits");
    let full = dir.join("demo.pcap");
    let o = mrc_capped(&["decode", "--demo", "--write-pcap", full.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bytes = std::fs::read(&full).unwrap();
    // The first record starts after the 24-byte file header: cut inside its data, then
    // inside its 16-byte header.
    for (cut, what) in [
        (24 + 16 + 4, "truncated record ("),
        (24 + 9, "truncated record header"),
    ] {
        let p = dir.join(format!("cut{cut}.pcap"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let o = mrc_capped(&["decode", "--pcap", p.to_str().unwrap()]);
        assert_refused(&o, &[&format!("cut{cut}.pcap"), "record 1", what]);
    }
}

#[test]
fn output_paths_are_checked_first_and_nothing_is_half_written() {
    let dir = scratch_dir("limits-out");
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let s = sub.to_str().unwrap();
    let missing = dir.join("missing/x.json");
    let m = missing.to_str().unwrap();
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    let cases: [(&[&str], &[&str]); 7] = [
        (
            &["plan", "--nics", "64", "--json", s],
            &["--json", "directory"],
        ),
        (
            &["plan", "--nics", "64", "--json", m],
            &["--json", "does not exist"],
        ),
        (
            &[
                "plan",
                "--nics",
                "64",
                "--export",
                "frr",
                file.to_str().unwrap(),
            ],
            &["--export", "not a directory"],
        ),
        (
            &["plan", "--nics", "64", "--verify", "18446744073709551615"],
            &["--verify"],
        ),
        (&["sim", "--report", s], &["--report", "directory"]),
        (&["sim", "--json", s], &["--json", "directory"]),
        (&["report", "--out", s, "x.json"], &["--out", "directory"]),
    ];
    for (args, names) in cases {
        assert_refused(&mrc_capped(args), names);
    }
    // No `.NAME.part` left behind anywhere.
    let parts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "{parts:?}");
    // A good export and JSON land whole, with no temporary names.
    let out = dir.join("exp");
    let j = dir.join("plan.json");
    let o = mrc_capped(&[
        "plan",
        "--nics",
        "64",
        "--json",
        j.to_str().unwrap(),
        "--export",
        "iproute2",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(j.is_file());
    for e in std::fs::read_dir(&out).unwrap() {
        let n = e.unwrap().file_name();
        assert!(!n.to_string_lossy().starts_with('.'), "{n:?}");
    }
}

#[test]
fn roce_flows_that_die_with_a_qp_error_are_failed_not_done() {
    // NIC 0's only lane is down: RoCE QPs to and from it time out and error.
    let body = "name = \"qperr\"\nmax_time = \"50ms\"\n[fabric]\nkind = \"clos\"\nnics = 16\nplanes = 1\nnic_speed = \"100Gbps\"\nswitch_speed = \"1600Gbps\"\n[workload]\nkind = \"permutation\"\nsize = \"64KB\"\n[[failures]]\nkind = \"nic-lane-down\"\nnic = 0\nplane = 0\n[[runs]]\ntransport = \"roce\"\nroce_timeout = 1\n";
    let p = write("qperr.toml", body);
    let j = scratch_dir("limits").join("qperr.json");
    let o = mrc_capped(&["sim", p.to_str().unwrap(), "--json", j.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("14/16 (2 failed)"), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    let f = &v["runs"][0]["flows"];
    assert_eq!(
        (f["count"].as_u64(), f["failed"].as_u64()),
        (Some(14), Some(2))
    );
    assert_eq!(v["runs"][0]["data_intact"], false);
}

#[test]
fn sigterm_during_fabric_up_rolls_back() {
    if let Some(why) = netns_skip_reason("mrcsigprobe") {
        eprintln!("SKIPPED fabric signal test: {why}");
        return;
    }
    let count = |prefix: &str| {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(&format!("{prefix}-")))
            .count()
    };
    // Early (namespaces being added) and later (cables, tables); `up` takes ~1 s.
    for (i, ms) in [150u64, 450].into_iter().enumerate() {
        let prefix = format!("ts{i}x{}", std::process::id());
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_mrc"))
            .args(["fabric", "up", "--prefix", &prefix])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let pid = child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let o = child.wait_with_output().unwrap();
        let left = count(&prefix);
        let _ = mrc(&["fabric", "down", "--prefix", &prefix]);
        if o.status.success() {
            // Finished before the signal: nothing to roll back (a slow machine's luck).
            continue;
        }
        // Killed by the signal itself: either before it caught signals (a loaded machine
        // starts it late), when it had created nothing, or after `up` had finished and given
        // the signals back, when the whole fabric exists as after a success (4 NICs + 2 planes
        // × (2 T0 + 2 T1) namespaces) — never half a fabric.
        if std::os::unix::process::ExitStatusExt::signal(&o.status) == Some(15) {
            assert!(
                left == 0 || left == 12,
                "{left} namespaces of {prefix} left after a SIGTERM outside `up`'s rollback"
            );
            continue;
        }
        assert_eq!(o.status.code(), Some(128 + 15), "{}", text(&o));
        assert_eq!(left, 0, "namespaces of {prefix} left after SIGTERM");
    }
}
