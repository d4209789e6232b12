//! `mrc perf server|client|bench`: the real MRC transport over UDP/IPv6 (iperf-like), with the
//! TCP baseline on the same path; byte-for-byte verification; `--json`.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mrc_net::endpoint::{PORT, PathMode};
use mrc_net::fabric::MARK_BASE;
use mrc_net::perf::{self, PerfConfig, PerfReport, TcpConfig};
use serde::Serialize;

use crate::fabric::{Which, load, require_root};
use crate::results::perf::{
    BenchMrc, BenchTcp, PerfBench, PerfOneSide, PerfPerm, PerfResult, PermSide, Pull as PullResult,
};
use crate::units::size_flag;
use crate::{bad_input, budget};

/// Flags of `mrc perf`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    role: Role,
}

#[derive(clap::Args, Clone)]
struct Common {
    #[command(flatten)]
    which: Which,
    /// Plain UDP on ::1 without SRv6 (EV in the UDP source port); no fabric needed.
    #[arg(long)]
    loopback: bool,
    /// QPs (each moves `--bytes`).
    #[arg(long, default_value_t = 1)]
    qps: u32,
    /// Bytes per QP (KiB, MiB, GiB are powers of 2; KB, MB, GB powers of 10).
    #[arg(long, default_value = "256MiB")]
    bytes: String,
    /// Bytes per RDMA Write.
    #[arg(long, default_value = "1MiB")]
    write_size: String,
    /// EVs in use per plane (default: every uplink).
    #[arg(long)]
    evs: Option<u32>,
    /// Payload bytes per packet (default: 8192, capped by MTU − encapsulation).
    #[arg(long)]
    payload: Option<u32>,
    /// Seed of the data pattern (both sides must agree).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Derive the QPs' memory keys from this seed instead of drawing them from the OS and
    /// exchanging them over TCP first. Reproducible runs and packet traces; both sides must
    /// give the same value, and anyone who knows it can forge writes: for tests, not for use.
    #[arg(long, value_name = "N")]
    key_seed: Option<u64>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    deadline_s: u64,
    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Role {
    /// Receive one transfer (inside NIC `--nic` of the fabric) and verify it.
    Server {
        #[command(flatten)]
        common: Common,
        /// NIC of the fabric to run in.
        #[arg(long, default_value_t = 3)]
        nic: u32,
        /// TCP baseline instead of MRC (pinned to `--tcp-ev`).
        #[arg(long)]
        tcp: bool,
        /// EV the TCP baseline is pinned to.
        #[arg(long, default_value_t = 1)]
        tcp_ev: u32,
    },
    /// Send one transfer from NIC `--nic` to NIC `--to`.
    Client {
        #[command(flatten)]
        common: Common,
        /// NIC of the fabric to run in.
        #[arg(long, default_value_t = 0)]
        nic: u32,
        /// Destination NIC.
        #[arg(long, default_value_t = 3)]
        to: u32,
        /// TCP baseline instead of MRC (pinned to `--tcp-ev`).
        #[arg(long)]
        tcp: bool,
        /// EV the TCP baseline is pinned to.
        #[arg(long, default_value_t = 1)]
        tcp_ev: u32,
    },
    /// Every NIC of the fabric sends to NIC (i + n/2) mod n at once, with MRC and then with TCP
    /// flows each pinned to one EV drawn from `--seed` (as ECMP hashing pins a flow), side by
    /// side: aggregate throughput as a fraction of the NICs' capacity on a shaped fabric
    /// (`lane_mbit` in the fabric spec).
    Perm {
        #[command(flatten)]
        common: Common,
        /// Skip the TCP baseline.
        #[arg(long)]
        no_tcp: bool,
    },
    /// Server and client in one process: MRC, then TCP pinned to one EV, side by side;
    /// optionally pulls a cable during the MRC run and again during the TCP run.
    Bench {
        #[command(flatten)]
        common: Common,
        /// Sending NIC.
        #[arg(long, default_value_t = 0)]
        from: u32,
        /// Receiving NIC.
        #[arg(long, default_value_t = 3)]
        to: u32,
        /// EV the TCP baseline is pinned to.
        #[arg(long, default_value_t = 1)]
        tcp_ev: u32,
        /// Skip the TCP baseline.
        #[arg(long)]
        no_tcp: bool,
        /// Pull this cable during each run: `A,B` (e.g. `p0-t0-0:u1,p0-t1-1`).
        #[arg(long)]
        pull: Option<String>,
        /// Seconds into each run to pull the cable.
        #[arg(long, default_value_t = 0.3)]
        down_at: f64,
        /// Seconds into each run to restore it (≤ 0: never).
        #[arg(long, default_value_t = 1.0)]
        up_at: f64,
    },
}

struct Setup {
    fabric: Option<mrc_net::Fabric>,
    evs: Vec<Vec<u32>>,
    payload: u32,
    bytes: u64,
    write: u32,
}

/// Checks the common flags and loads the fabric; `sides` is how many ends of the transfer
/// this process holds (each keeps `--qps` × `--bytes` in memory).
/// How many ends of transfers this process holds (each keeps `--qps` × `--bytes` in memory).
#[derive(Clone, Copy)]
enum Sides {
    /// A server, a client, or both.
    Fixed(u64),
    /// A server and a client on every NIC of the fabric (`perm`).
    TwoPerNic,
}

fn setup(c: &Common, sides: Sides) -> Result<Setup> {
    let bytes = size_flag("--bytes", &c.bytes)?;
    if !bytes.is_multiple_of(1024) {
        bad_input!("--bytes {}: expected a multiple of 1 KiB", c.bytes);
    }
    if c.qps == 0 || c.qps > 64 {
        bad_input!("--qps {}: expected 1..=64", c.qps);
    }
    if c.evs == Some(0) {
        bad_input!("--evs 0: expected at least 1 EV per plane");
    }
    if c.deadline_s == 0 {
        bad_input!("--deadline-s 0: expected at least 1 second");
    }
    if let Some(p) = &c.json {
        crate::output::check("--json", p)?;
    }
    let write = size_flag("--write-size", &c.write_size)?;
    let Ok(write) = u32::try_from(write) else {
        bad_input!("--write-size {}: expected at most 4 GiB − 1", c.write_size);
    };
    let (fabric, evs, max) = if c.loopback {
        let n = c.evs.unwrap_or(4);
        if n > 64 {
            bad_input!("--evs {n}: expected 1..=64 EVs per plane on loopback");
        }
        let evs = (0..2u32)
            .map(|p| (0..n).map(|u| (p << 8) | u).collect())
            .collect();
        (None, evs, 65_000 - 48)
    } else {
        let f = load(&c.which)?;
        require_root("mrc perf on the namespace fabric")?;
        let evs = perf::fabric_evs(&f, c.evs);
        let max = f.max_udp_payload();
        (Some(f), evs, max)
    };
    // Refuse up front what the buffers cannot hold rather than abort mid-way.
    let sides = match (sides, &fabric) {
        (Sides::Fixed(n), _) => n,
        (Sides::TwoPerNic, f) => 2 * u64::from(f.as_ref().map_or(1, |f| f.spec().nics)),
    };
    let need = bytes.saturating_mul(u64::from(c.qps)).saturating_mul(sides);
    budget::check_buffers(
        &format!("--bytes {}", c.bytes),
        &format!("{} QP(s) × {sides} side(s)", c.qps),
        need,
    )?;
    // MRC headers (BTH, METH, RETH, ImmDt, ICRC) need at most 64 bytes.
    let cap = max.saturating_sub(64);
    let payload = c.payload.unwrap_or_else(|| 8192.min(cap));
    if payload == 0 || payload > cap {
        bad_input!(
            "--payload {payload}: expected 1..={cap} (MTU − encapsulation − headers; larger datagrams vanish silently)"
        );
    }
    Ok(Setup {
        fabric,
        evs,
        payload,
        bytes,
        write,
    })
}

fn config(c: &Common, s: &Setup, bind: SocketAddrV6, peer: Option<SocketAddrV6>) -> PerfConfig {
    let mode = if c.loopback {
        PathMode::Loopback
    } else {
        PathMode::Srv6
    };
    let mut p = PerfConfig::new(mode, bind, s.evs.clone());
    p.peer = peer;
    p.qps = c.qps;
    p.bytes = s.bytes;
    p.write_size = s.write;
    p.payload = s.payload;
    p.seed = c.seed;
    p.key_seed = c.key_seed;
    p.deadline = Duration::from_secs(c.deadline_s);
    // On a shaped fabric NSCC is scaled for the NIC's real rate (its lanes), not 10 Gbit/s.
    if let Some(f) = &s.fabric
        && let Some(mbit) = f.spec().lane_mbit
    {
        p.rate_bps = u64::from(mbit) * 1_000_000 * u64::from(f.spec().planes);
    }
    p
}

fn addrs(s: &Setup, server_nic: u32, client_nic: u32) -> (SocketAddrV6, SocketAddrV6) {
    match &s.fabric {
        Some(f) => (
            SocketAddrV6::new(f.nic_addr(server_nic), PORT, 0, 0),
            SocketAddrV6::new(f.nic_addr(client_nic), PORT, 0, 0),
        ),
        None => (perf::loopback(PORT), perf::loopback(PORT + 1)),
    }
}

fn line(name: &str, r: &PerfReport) -> String {
    format!(
        "{name:<5} {:>8.3} Gbit/s  {:>7.3} s  {:>9.0} pkt/s  cpu {:>5.2} s ({:>3.0}%)  retx {:>6}  nacks {:>4}  trims {:>4}  EVs good/skip/bad/denied {}/{}/{}/{}  gap {:>7.2} ms  {}",
        r.gbps,
        r.secs,
        r.pps,
        r.cpu_secs,
        if r.secs > 0.0 {
            100.0 * r.cpu_secs / r.secs
        } else {
            0.0
        },
        r.retransmits,
        r.nacks,
        r.trims,
        r.ev_states.0,
        r.ev_states.1,
        r.ev_states.2,
        r.ev_states.3,
        r.max_gap_ms,
        if r.verified {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    )
}

fn write_json<T: Serialize>(path: &Option<PathBuf>, doc: &T) -> Result<()> {
    if let Some(p) = path {
        let text = crate::results::to_pretty(doc)?;
        crate::output::write_atomic("--json", p, text.as_bytes())?;
    }
    Ok(())
}

/// The two ends of a transfer: distinct NICs of the fabric.
fn check_ends(s: &Setup, a: (&str, u32), b: (&str, u32)) -> Result<()> {
    if let Some(f) = &s.fabric {
        for (flag, n) in [a, b] {
            if n >= f.spec().nics {
                bad_input!("{flag} {n}: the fabric has NICs 0..{}", f.spec().nics);
            }
        }
    }
    if a.1 == b.1 {
        bad_input!("{} {}: expected a NIC other than {} {}", b.0, b.1, a.0, a.1);
    }
    Ok(())
}

/// The EV the TCP baseline is pinned to must be one the fabric routes (it names a route table).
fn check_tcp_ev(s: &Setup, ev: u32) -> Result<()> {
    if let Some(f) = &s.fabric
        && !f.clos().evs().any(|e| e.0 == ev)
    {
        bad_input!("--tcp-ev {ev}: not an EV of the fabric (expected one of its plane/uplink EVs)");
    }
    Ok(())
}

fn enter(s: &Setup, nic: u32) -> Result<()> {
    if let Some(f) = &s.fabric {
        if nic >= f.spec().nics {
            bad_input!("--nic {nic}: the fabric has NICs 0..{}", f.spec().nics);
        }
        mrc_net::sys::enter_netns(&f.nic_ns(nic))
            .context("entering the NIC namespace (is the fabric up?)")?;
    }
    Ok(())
}

pub(crate) fn run(args: &Args) -> Result<()> {
    match &args.role {
        Role::Server {
            common,
            nic,
            tcp,
            tcp_ev,
        } => {
            let s = setup(common, Sides::Fixed(1))?;
            check_tcp_ev(&s, *tcp_ev)?;
            let (me, peer) = addrs(&s, *nic, 0);
            enter(&s, *nic)?;
            let r = if *tcp {
                let mark = s.fabric.as_ref().map(|_| MARK_BASE + tcp_ev);
                let bind = SocketAddrV6::new(*me.ip(), PORT + 1, 0, 0);
                perf::tcp_server(
                    bind,
                    mark,
                    common.seed,
                    Duration::from_secs(common.deadline_s),
                )?
            } else {
                let cfg = config(common, &s, me, common.loopback.then_some(peer));
                println!(
                    "mrc perf server on [{}]:{}, {} QP(s), EVs {:?}",
                    me.ip(),
                    me.port(),
                    common.qps,
                    s.evs
                );
                perf::run_server(&cfg)?
            };
            println!("{}", line(if *tcp { "tcp" } else { "mrc" }, &r));
            write_json(
                &common.json,
                &PerfOneSide {
                    result: (&r).into(),
                    role: "server".into(),
                    transport: if *tcp { "tcp" } else { "mrc" }.into(),
                },
            )?;
            if !r.verified {
                anyhow::bail!("received data did not verify");
            }
            Ok(())
        }
        Role::Client {
            common,
            nic,
            to,
            tcp,
            tcp_ev,
        } => {
            let s = setup(common, Sides::Fixed(1))?;
            check_tcp_ev(&s, *tcp_ev)?;
            check_ends(&s, ("--nic", *nic), ("--to", *to))?;
            let (srv, me) = addrs(&s, *to, *nic);
            enter(&s, *nic)?;
            let r = if *tcp {
                let mark = s.fabric.as_ref().map(|_| MARK_BASE + tcp_ev);
                let dst = SocketAddrV6::new(*srv.ip(), PORT + 1, 0, 0);
                let src = s.fabric.as_ref().map(|_| *me.ip());
                perf::tcp_client(
                    src,
                    dst,
                    mark,
                    s.bytes,
                    common.seed,
                    Duration::from_secs(common.deadline_s),
                )?
            } else {
                let cfg = config(common, &s, me, Some(srv));
                perf::run_client(&cfg, &mut |_| {})?
            };
            println!("{}", line(if *tcp { "tcp" } else { "mrc" }, &r));
            write_json(
                &common.json,
                &PerfOneSide {
                    result: (&r).into(),
                    role: "client".into(),
                    transport: if *tcp { "tcp" } else { "mrc" }.into(),
                },
            )?;
            if !r.verified {
                anyhow::bail!("the server's digest does not match");
            }
            Ok(())
        }
        Role::Bench {
            common,
            from,
            to,
            tcp_ev,
            no_tcp,
            pull,
            down_at,
            up_at,
        } => bench(
            common,
            *from,
            *to,
            *tcp_ev,
            *no_tcp,
            pull.as_deref(),
            *down_at,
            *up_at,
        ),
        Role::Perm { common, no_tcp } => permutation(common, *no_tcp),
    }
}

/// Aggregate of concurrent transfers: the sum of each one's rate over its own duration (as
/// iperf sums parallel streams), and the span from the first start to the last end, so a
/// reader sees how far the transfers overlapped.
fn aggregate(reports: &[PerfReport]) -> (f64, f64) {
    let start = reports.iter().filter_map(|r| r.started).min();
    let end = reports
        .iter()
        .filter_map(|r| r.started.map(|s| s + Duration::from_secs_f64(r.secs)))
        .max();
    let span = match (start, end) {
        (Some(s), Some(e)) => e.saturating_duration_since(s).as_secs_f64(),
        _ => 0.0,
    };
    (reports.iter().map(|r| r.gbps).sum(), span)
}

/// Joins transfer threads in order; a panicked one becomes a transfer error.
fn join_all<T>(
    hs: Vec<std::thread::ScopedJoinHandle<'_, mrc_net::Result<T>>>,
) -> Vec<mrc_net::Result<T>> {
    hs.into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(mrc_net::NetError::Transfer("thread panicked".into())))
        })
        .collect()
}

/// `mrc perf perm`: see [`Role::Perm`].
fn permutation(c: &Common, no_tcp: bool) -> Result<()> {
    if c.loopback {
        bad_input!("--loopback: `perm` needs the namespace fabric (one NIC per namespace)");
    }
    let s = setup(c, Sides::TwoPerNic)?;
    let Some(f) = &s.fabric else {
        bad_input!("`perm` needs the namespace fabric");
    };
    let n = f.spec().nics;
    let pairs: Vec<(u32, u32)> = (0..n).map(|i| (i, (i + n / 2) % n)).collect();
    // A NIC's lanes bound what it can send; unknown on an unshaped fabric.
    let capacity_gbps = f
        .spec()
        .lane_mbit
        .map(|m| f64::from(m) * f64::from(f.spec().planes) * f64::from(n) / 1e3);
    println!(
        "mrc perf perm: {n} NICs, {}, {} bytes each; capacity {}",
        pairs
            .iter()
            .map(|(a, b)| format!("{a}→{b}"))
            .collect::<Vec<_>>()
            .join(" "),
        s.bytes,
        capacity_gbps.map_or_else(
            || "unknown (unshaped fabric: set lane_mbit in the spec)".into(),
            |g| format!("{g:.2} Gbit/s ({} × {} lanes)", n, f.spec().planes)
        )
    );
    let fraction = |g: f64| capacity_gbps.map(|cap| g / cap);
    let show = |name: &str, (g, span): (f64, f64)| {
        println!(
            "{name:<5} aggregate {g:.3} Gbit/s{} (all transfers within {span:.3} s)",
            fraction(g).map_or(String::new(), |x| format!(
                " = {:.0}% of capacity",
                x * 100.0
            ))
        );
    };
    // MRC: a server (PORT) and a client (PORT + 2) in every NIC's namespace.
    let results: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = pairs
            .iter()
            .map(|&(from, to)| {
                let srv = SocketAddrV6::new(f.nic_addr(to), PORT, 0, 0);
                let cli = SocketAddrV6::new(f.nic_addr(from), PORT + 2, 0, 0);
                let (scfg, ccfg) = (config(c, &s, srv, None), config(c, &s, cli, Some(srv)));
                let (sns, cns) = (f.nic_ns(to), f.nic_ns(from));
                sc.spawn(move || perf::run_pair(&scfg, Some(&sns), &ccfg, Some(&cns), &mut |_| {}))
            })
            .collect();
        join_all(hs)
    });
    let mut clients = Vec::new();
    let mut verified = true;
    for ((from, to), r) in pairs.iter().zip(results) {
        let (sr, cr) = r.with_context(|| format!("MRC {from}→{to}"))?;
        verified &= sr.verified && cr.verified;
        println!(
            "mrc   {from}→{to}: {:.3} Gbit/s, {} retransmits, verified {}",
            cr.gbps, cr.retransmits, cr.verified
        );
        clients.push(cr);
    }
    let (mrc_g, mrc_span) = aggregate(&clients);
    show("mrc", (mrc_g, mrc_span));
    let mut out = PerfPerm {
        capacity_gbps,
        mrc: PermSide {
            aggregate_gbps: mrc_g,
            evs: None,
            flows: clients.iter().map(PerfResult::from).collect(),
            fraction: fraction(mrc_g),
            span_s: mrc_span,
        },
        pairs: pairs.clone(),
        tcp: None,
    };
    if !no_tcp {
        let all: Vec<u32> = s.evs.iter().flatten().copied().collect();
        let mut rng = mrc_proto::rng::Rng::new(c.seed);
        let evs: Vec<u32> = pairs
            .iter()
            .map(|_| all[rng.below(all.len() as u64) as usize])
            .collect();
        let results: Vec<_> = std::thread::scope(|sc| {
            let hs: Vec<_> = pairs
                .iter()
                .zip(&evs)
                .map(|(&(from, to), &ev)| {
                    let t = TcpConfig {
                        client_src: Some(f.nic_addr(from)),
                        server: SocketAddrV6::new(f.nic_addr(to), PORT + 1, 0, 0),
                        mark: Some(MARK_BASE + ev),
                        bytes: s.bytes,
                        seed: c.seed,
                        deadline: Duration::from_secs(c.deadline_s.min(60)),
                    };
                    let (sns, cns) = (f.nic_ns(to), f.nic_ns(from));
                    sc.spawn(move || perf::run_tcp_pair(&t, Some(&sns), Some(&cns)))
                })
                .collect();
            join_all(hs)
        });
        let mut tcp = Vec::new();
        for (((from, to), ev), r) in pairs.iter().zip(&evs).zip(results) {
            let (sr, cr) = r.with_context(|| format!("TCP {from}→{to}"))?;
            verified &= sr.verified && cr.verified;
            println!(
                "tcp   {from}→{to} on EV {ev}: {:.3} Gbit/s, verified {}",
                cr.gbps, cr.verified
            );
            tcp.push(cr);
        }
        let (tcp_g, tcp_span) = aggregate(&tcp);
        show("tcp", (tcp_g, tcp_span));
        out.tcp = Some(PermSide {
            aggregate_gbps: tcp_g,
            evs: Some(evs),
            flows: tcp.iter().map(PerfResult::from).collect(),
            fraction: fraction(tcp_g),
            span_s: tcp_span,
        });
    }
    write_json(&c.json, &out)?;
    if !verified {
        anyhow::bail!("a transfer did not verify");
    }
    Ok(())
}

struct Pull<'a> {
    fabric: &'a mrc_net::Fabric,
    a: String,
    b: String,
    down_at: f64,
    up_at: f64,
}

/// Runs `f` while a helper thread pulls/restores the cable at the given times after `go`.
fn with_pull<T>(
    pull: Option<&Pull<'_>>,
    f: impl FnOnce(&AtomicBool) -> T,
) -> (T, Option<f64>, Option<f64>) {
    let go = AtomicBool::new(false);
    let Some(p) = pull else {
        return (f(&go), None, None);
    };
    let times = Mutex::new((None::<f64>, None::<f64>));
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|sc| {
        sc.spawn(|| {
            let t = Instant::now();
            while !go.load(Ordering::Relaxed) && t.elapsed() < Duration::from_secs(600) {
                std::thread::sleep(Duration::from_micros(200));
            }
            let start = Instant::now();
            let wait_until = |secs: f64| {
                while start.elapsed().as_secs_f64() < secs && !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_micros(200));
                }
            };
            wait_until(p.down_at);
            if p.fabric.set_link(&p.a, &p.b, false).is_ok()
                && let Ok(mut t) = times.lock()
            {
                t.0 = Some(start.elapsed().as_secs_f64());
            }
            if p.up_at > 0.0 {
                wait_until(p.up_at);
                if p.fabric.set_link(&p.a, &p.b, true).is_ok()
                    && let Ok(mut t) = times.lock()
                {
                    t.1 = Some(start.elapsed().as_secs_f64());
                }
            }
        });
        let r = f(&go);
        go.store(true, Ordering::Relaxed);
        done.store(true, Ordering::Relaxed);
        r
    });
    // Leave the cable up whatever happened.
    if p.up_at > 0.0 {
        let _ = p.fabric.set_link(&p.a, &p.b, true);
    }
    let t = times.lock().map(|t| *t).unwrap_or((None, None));
    (out, t.0, t.1)
}

#[allow(clippy::too_many_arguments, reason = "flags of one subcommand")]
fn bench(
    c: &Common,
    from: u32,
    to: u32,
    tcp_ev: u32,
    no_tcp: bool,
    pull: Option<&str>,
    down_at: f64,
    up_at: f64,
) -> Result<()> {
    let s = setup(c, Sides::Fixed(2))?;
    check_tcp_ev(&s, tcp_ev)?;
    check_ends(&s, ("--from", from), ("--to", to))?;
    for (flag, v) in [("--down-at", down_at), ("--up-at", up_at)] {
        if !v.is_finite() {
            bad_input!("{flag} {v}: expected a number of seconds");
        }
    }
    if down_at < 0.0 {
        bad_input!("{} {down_at}: expected ≥ 0 seconds", "--down-at");
    }
    if up_at > 0.0 && up_at <= down_at {
        bad_input!("--up-at {up_at}: expected after --down-at {down_at} (or ≤ 0: never)");
    }
    let (srv, cli) = addrs(&s, to, from);
    let (sns, cns) = match &s.fabric {
        Some(f) => (Some(f.nic_ns(to)), Some(f.nic_ns(from))),
        None => (None, None),
    };
    let pull = match (pull, &s.fabric) {
        (None, _) => None,
        (Some(_), None) => bad_input!("--pull needs the namespace fabric (not --loopback)"),
        (Some(p), Some(f)) => {
            let Some((a, b)) = p.split_once(',') else {
                bad_input!("--pull {p}: expected `A,B` (two node names, e.g. p0-t0-0:u1,p0-t1-1)")
            };
            if let Err(e) = f.find_links(a, b) {
                bad_input!("--pull {p}: {e}");
            }
            Some(Pull {
                fabric: f,
                a: a.into(),
                b: b.into(),
                down_at,
                up_at,
            })
        }
    };
    let scfg = config(c, &s, srv, c.loopback.then_some(cli));
    let ccfg = config(c, &s, cli, Some(srv));
    println!(
        "mrc perf bench: {} → {}, {} QP(s) × {} bytes, writes of {} B, payload {} B/packet, EVs {:?}{}",
        cli.ip(),
        srv.ip(),
        c.qps,
        s.bytes,
        s.write,
        s.payload,
        s.evs,
        pull.as_ref().map_or(String::new(), |p| format!(
            ", cable {}–{} down at {} s, up at {} s",
            p.a, p.b, p.down_at, p.up_at
        ))
    );
    let ((mrc_res, _), mdown, mup) = with_pull(pull.as_ref(), |go| {
        let mut hook = |_t: Duration| go.store(true, Ordering::Relaxed);
        (
            perf::run_pair(&scfg, sns.as_deref(), &ccfg, cns.as_deref(), &mut hook),
            (),
        )
    });
    let (sr, cr) = mrc_res?;
    println!("{}", line("mrc", &cr));
    println!(
        "      receiver: {:.3} Gbit/s, longest gap between data packets {:.2} ms ({:.2} ms between arrivals on the socket), data per EV {:?}",
        sr.gbps, sr.max_gap_ms, sr.max_arrival_gap_ms, sr.data_per_ev
    );
    let mut out = PerfBench {
        from,
        mrc: BenchMrc {
            client: (&cr).into(),
            pull: None,
            server: (&sr).into(),
        },
        tcp: None,
        to,
    };
    if let Some(d) = mdown {
        let retire = cr
            .ev_changes
            .iter()
            .filter(|e| !e.good && e.t >= d)
            .map(|e| e.t - d)
            .next();
        let resurrect = mup.and_then(|u| {
            cr.ev_changes
                .iter()
                .filter(|e| e.good && e.t >= u)
                .map(|e| e.t - u)
                .next()
        });
        println!(
            "      cable down at {d:.3} s, up at {}: first retirement {} after the pull, first resurrection {} after the repair",
            mup.map_or_else(|| "never".into(), |u| format!("{u:.3} s")),
            retire.map_or_else(|| "none".into(), |x| format!("{:.2} ms", x * 1e3)),
            resurrect.map_or_else(|| "none".into(), |x| format!("{:.2} ms", x * 1e3)),
        );
        out.mrc.pull = Some(PullResult {
            down_at: d,
            resurrect_ms: resurrect.map(|x| x * 1e3),
            retire_ms: retire.map(|x| x * 1e3),
            up_at: mup,
        });
    }
    if !no_tcp {
        let mark = s.fabric.as_ref().map(|_| MARK_BASE + tcp_ev);
        let tcfg = TcpConfig {
            client_src: s.fabric.as_ref().map(|_| *cli.ip()),
            server: SocketAddrV6::new(
                if s.fabric.is_some() {
                    *srv.ip()
                } else {
                    Ipv6Addr::LOCALHOST
                },
                PORT + 1,
                0,
                0,
            ),
            mark,
            bytes: s.bytes,
            seed: c.seed,
            deadline: Duration::from_secs(c.deadline_s.min(20)),
        };
        let (tcp_res, tdown, tup) = with_pull(pull.as_ref(), |go| {
            go.store(true, Ordering::Relaxed);
            perf::run_tcp_pair(&tcfg, sns.as_deref(), cns.as_deref())
        });
        match tcp_res {
            Ok((ts, tc)) => {
                println!("{}", line("tcp", &tc));
                println!(
                    "      receiver: longest gap between 1 MiB reads {:.2} ms",
                    ts.max_gap_ms
                );
                out.tcp = Some(BenchTcp {
                    error: None,
                    ev: tcp_ev,
                    pulled_at: tdown,
                    receiver_max_gap_ms: Some(ts.max_gap_ms),
                    restored_at: tup,
                    result: Some((&tc).into()),
                });
                if cr.gbps > 0.0 && tc.gbps > 0.0 {
                    println!("      MRC / TCP = {:.0}%", 100.0 * cr.gbps / tc.gbps);
                }
            }
            Err(e) => {
                println!(
                    "tcp   FAILED (pinned to EV {tcp_ev}{}): {e}",
                    tdown.map_or(String::new(), |d| format!(", cable pulled at {d:.3} s"))
                );
                out.tcp = Some(BenchTcp {
                    error: Some(e.to_string()),
                    ev: tcp_ev,
                    pulled_at: tdown,
                    receiver_max_gap_ms: None,
                    restored_at: tup,
                    result: None,
                });
            }
        }
    }
    write_json(&c.json, &out)?;
    if !(sr.verified && cr.verified) {
        anyhow::bail!("MRC transfer did not verify");
    }
    Ok(())
}
