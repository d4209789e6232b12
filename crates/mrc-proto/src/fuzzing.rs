//! A connection pair driven by bytes, for the `conn_pair` fuzz target and the seed test.
//!
//! Each input byte is one step: poll transmits, deliver (in order, reordered, duplicated,
//! trimmed, ECN-marked), drop, advance time, or inject a packet. Injected packets come from
//! `mrc_wire::sample` or from packets in flight, and are of two kinds:
//!
//! - *off-path forgeries*, the attacks the crate's trust model covers (see the crate docs): a
//!   wrong destination QPN, a wrong R_Key or a PSN / ack outside the window, each with a
//!   corrupted payload. After these, the data checks stay on.
//! - *anything*: arbitrary field values and bytes (what an on-path attacker or a broken peer
//!   could send). After one of these only "no panic" is checked.
//!
//! Checked, while only off-path forgeries were injected: every byte of the destination is
//! either untouched (zero) or the source byte of the same offset; a successful send completion
//! means its bytes are all there; completions come in post order; a Write-IMM reports its own
//! length; and once the network is clean again every work request completes, or the QP errors
//! with a reason.

use std::collections::VecDeque;
use std::sync::OnceLock;

use mrc_wire::Psn;
use mrc_wire::mrc::{self, Body, ENDPOINT_QPN};

use crate::testing::mrc_pair_configs;
use crate::time::{Duration, Instant};
use crate::{
    Connection, Event, MrcQpAttr, PortMask, QpState, Received, Retry, Transport, Trim, WcStatus,
    WriteRequest,
};

const REGION: u64 = 8 << 10;
const QPN: [u32; 2] = [0x11, 0x22];
/// Steps after the input runs out, on a clean network, for every request to finish.
const DRAIN_STEPS: usize = 200_000;

#[derive(Debug, Clone)]
struct Flight {
    to: usize,
    repr: mrc::Repr,
    ev: u32,
    port: u8,
    payload: Option<Vec<u8>>,
}

struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

struct Wr {
    off: u64,
    len: u32,
    imm: Option<u32>,
}

struct Pair {
    ends: [Connection; 2],
    dst: crate::RegionHandle,
    now: Instant,
    net: VecDeque<Flight>,
    wrs: Vec<Wr>,
    completed: Vec<Option<WcStatus>>,
    next_completion: usize,
    imms: Vec<(u32, u32)>,
    qp_error: [bool; 2],
    trusted: bool,
    placed: u64,
}

fn samples() -> &'static [mrc::Repr] {
    static S: OnceLock<Vec<mrc::Repr>> = OnceLock::new();
    S.get_or_init(|| {
        mrc_wire::sample::all()
            .into_iter()
            .map(|s| s.repr.mrc)
            .collect()
    })
}

/// Source byte at `off` (never all zero, so a misplaced byte shows).
fn pattern(off: u64) -> u8 {
    (off as u8).wrapping_mul(31) ^ (off >> 8) as u8 | 1
}

impl Pair {
    fn new(inp: &mut Input<'_>) -> Self {
        let (mut a, mut b) = mrc_pair_configs(
            u64::from(inp.byte()),
            2,
            2,
            1,
            100_000_000_000,
            Duration::from_micros(10),
        );
        // Small packets (more PSNs per byte); a start near the 24-bit wrap half the time.
        let psn0 = if inp.byte() & 1 == 1 { 0xFF_FFF0 } else { 0 };
        for c in [&mut a, &mut b] {
            c.mtu = 256;
            c.initial_psn = psn0;
        }
        let attr = MrcQpAttr {
            timeout: 4,
            retry: Retry {
                linear_cnt: 3,
                exp_cnt: 3,
            },
            max_wimm_dest: 8,
            ..MrcQpAttr::default()
        };
        let (Ok(mut a), Ok(mut b)) = (Connection::new_rts(a, attr), Connection::new_rts(b, attr))
        else {
            unreachable!("the pair's attributes are valid");
        };
        let src = a.regions_mut().register(REGION);
        debug_assert_eq!(src.len, REGION);
        let bytes: Vec<u8> = (0..REGION).map(pattern).collect();
        assert!(a.regions_mut().write_local(src.addr, &bytes));
        let dst = b.regions_mut().register(REGION);
        let mut wrs = Vec::new();
        for i in 0..=(inp.byte() % 4) {
            let off = u64::from(inp.u16()) % REGION;
            let len = (u64::from(inp.u16()) % (REGION - off)) as u32 + 1;
            let imm = (inp.byte() & 1 == 1).then_some(0x100 + u32::from(i));
            wrs.push(Wr { off, len, imm });
        }
        for (i, w) in wrs.iter().enumerate() {
            let posted = a.post_write(WriteRequest {
                wr_id: i as u64,
                local_addr: src.addr + w.off,
                len: w.len,
                remote_addr: dst.addr + w.off,
                rkey: dst.rkey,
                imm: w.imm,
            });
            assert!(posted.is_ok(), "{posted:?}");
        }
        let n = wrs.len();
        Self {
            ends: [a, b],
            dst,
            now: Instant::ZERO,
            net: VecDeque::new(),
            wrs,
            completed: vec![None; n],
            next_completion: 0,
            imms: Vec::new(),
            qp_error: [false; 2],
            trusted: true,
            placed: 0,
        }
    }

    fn pump(&mut self) {
        for side in 0..2 {
            for _ in 0..8 {
                let Some(tx) = self.ends[side].poll_transmit(self.now, PortMask::ALL) else {
                    break;
                };
                let payload = tx.payload.and_then(|p| {
                    self.ends[side]
                        .regions()
                        .read(p.addr, u64::from(p.len))
                        .map(<[u8]>::to_vec)
                });
                self.net.push_back(Flight {
                    to: 1 - side,
                    repr: tx.repr,
                    ev: tx.ev,
                    port: tx.port,
                    payload,
                });
            }
        }
    }

    fn timers(&mut self) {
        for e in &mut self.ends {
            if e.poll_timeout().is_some_and(|t| t <= self.now) {
                e.handle_timeout(self.now);
            }
        }
    }

    fn deliver(&mut self, f: &Flight, ecn: bool, trim: Option<Trim>) {
        let mut repr = f.repr;
        if trim.is_some()
            && let Body::Write(w) = &mut repr.body
        {
            w.payload_len = 0;
        }
        let rx = Received {
            repr,
            ev: f.ev,
            port: f.port,
            ecn_ce: ecn,
            trim,
            payload: if trim.is_some() {
                None
            } else {
                f.payload.as_deref()
            },
        };
        if let Some(end) = self.ends.get_mut(f.to) {
            end.handle_packet(self.now, &rx);
        }
    }

    fn take(&mut self, k: u8) -> Option<Flight> {
        let n = self.net.len();
        (n > 0)
            .then(|| self.net.remove(usize::from(k) % n))
            .flatten()
    }

    /// A packet to forge from: one in flight or a sample (sent to either side).
    fn base(&mut self, inp: &mut Input<'_>) -> Flight {
        let k = inp.byte();
        if k & 1 == 0
            && let Some(f) = self.net.get(usize::from(k >> 1) % self.net.len().max(1))
        {
            return f.clone();
        }
        let s = samples();
        let repr = s[usize::from(k >> 1) % s.len()];
        let payload = match &repr.body {
            Body::Write(w) => Some(vec![0xA5; w.payload_len as usize]),
            _ => None,
        };
        Flight {
            to: usize::from(k >> 7),
            repr,
            ev: u32::from(inp.byte()),
            port: inp.byte() & 1,
            payload,
        }
    }

    /// An off-path forgery: wrong QPN, wrong key, or a PSN / ack half the sequence space away;
    /// its payload is corrupted, so placing it anywhere would show.
    fn forge_off_path(&mut self, inp: &mut Input<'_>) {
        let mut f = self.base(inp);
        if let Some(p) = &mut f.payload {
            p.iter_mut().for_each(|b| *b = !*b);
        }
        let far = 1 << 23;
        let how = inp.byte() % 3;
        let b = &mut f.repr.bth;
        match (&mut f.repr.body, how) {
            (Body::Write(w), 1) => w.reth.rkey ^= u32::from(inp.byte()) | 1,
            (Body::Write(_), 2) => b.psn = b.psn.add(far),
            (Body::Sack { seth, .. }, 2) => {
                seth.cack_psn = seth.cack_psn.add(far);
                b.psn = seth.cack_psn;
            }
            (Body::Nack(n), 2) => n.nack_psn = n.nack_psn.add(far),
            _ => {
                let mut q = b.dest_qp ^ (u32::from(inp.u16()) << 4 | 1);
                while QPN.contains(&q) || q == ENDPOINT_QPN {
                    q = (q + 0x1000) & 0xFF_FFFF;
                }
                b.dest_qp = q;
            }
        }
        self.deliver(&f, false, None);
    }

    /// Anything: one field set to an input value, or raw bytes that parse.
    fn inject_any(&mut self, inp: &mut Input<'_>) {
        self.trusted = false;
        let mut f = self.base(inp);
        let v = u32::from(inp.u16()) | u32::from(inp.byte()) << 16;
        let b = &mut f.repr.bth;
        match (&mut f.repr.body, inp.byte() % 8) {
            (_, 0) => b.psn = Psn::new(v),
            (_, 1) => b.dest_qp = QPN[(v & 1) as usize],
            (Body::Write(w), 2) => w.reth.va = self.dst.addr + u64::from(v % (REGION as u32)),
            (Body::Write(w), 3) => w.reth.rkey = self.dst.rkey,
            (Body::Write(w), 4) => w.reth.dma_len = v,
            (Body::Sack { seth, .. }, 2) => seth.cack_psn = Psn::new(v),
            (Body::Sack { seth, .. }, 3) => seth.sack_bitmap = u64::from(v).rotate_left(v % 64),
            (Body::Sack { seth, .. }, 4) => seth.mark = mrc::PathMark::from_bits(v as u8 & 3),
            (Body::Nack(n), 2) => n.reason = mrc::NackReason::from_u8(v as u8),
            (Body::Nack(n), 3) => n.nack_psn = Psn::new(v),
            (Body::EndpointRequest(r), _) => r.port_status_mask = v,
            _ => {
                let len = usize::from(inp.byte());
                let bytes: Vec<u8> = (0..len).map(|_| inp.byte()).collect();
                if let Ok((repr, payload)) = mrc::Repr::parse_bytes(&bytes) {
                    f.repr = repr;
                    f.payload = Some(payload.to_vec());
                }
            }
        }
        self.deliver(&f, false, None);
    }

    fn step(&mut self, inp: &mut Input<'_>) {
        match inp.byte() % 12 {
            0..=2 => self.pump(),
            3 => {
                if let Some(f) = self.net.pop_front() {
                    self.deliver(&f, false, None);
                }
            }
            4 => {
                if let Some(f) = self.take(inp.byte()) {
                    self.deliver(&f, false, None);
                }
            }
            5 => {
                self.take(inp.byte());
            }
            6 => {
                let k = inp.byte();
                if let Some(f) = self.net.get(usize::from(k) % self.net.len().max(1)) {
                    let f = f.clone();
                    self.deliver(&f, false, None);
                }
            }
            7 => {
                let k = inp.byte();
                if let Some(f) = self.take(k) {
                    let t = if k & 0x80 != 0 {
                        Trim::LastHop
                    } else {
                        Trim::Fabric
                    };
                    self.deliver(&f, false, Some(t));
                }
            }
            8 => {
                self.now += Duration::from_micros(u64::from(inp.byte()) + 1);
                self.timers();
            }
            9 => {
                if let Some(f) = self.take(inp.byte()) {
                    self.deliver(&f, true, None);
                }
            }
            10 => self.forge_off_path(inp),
            _ => self.inject_any(inp),
        }
        self.check();
    }

    fn check(&mut self) {
        for side in 0..2 {
            while let Some(e) = self.ends[side].poll_event() {
                match e {
                    Event::QpError(_) => self.qp_error[side] = true,
                    Event::SendComplete { wr_id, status } if side == 0 => {
                        let i = wr_id as usize;
                        if self.trusted {
                            assert_eq!(i, self.next_completion, "completions out of post order");
                            if status == WcStatus::Success {
                                let w = &self.wrs[i];
                                let got = self.ends[1]
                                    .regions()
                                    .read(self.dst.addr + w.off, u64::from(w.len));
                                let want: Vec<u8> =
                                    (w.off..w.off + u64::from(w.len)).map(pattern).collect();
                                assert!(
                                    got == Some(&want[..]),
                                    "WR {i} completed before its bytes landed"
                                );
                            }
                        }
                        self.next_completion = i + 1;
                        if let Some(c) = self.completed.get_mut(i) {
                            *c = Some(status);
                        }
                    }
                    Event::RecvImm { imm, len, .. } if side == 1 => self.imms.push((imm, len)),
                    _ => {}
                }
            }
        }
        if !self.trusted {
            return;
        }
        for &(imm, len) in &self.imms {
            let w = self.wrs.iter().find(|w| w.imm == Some(imm));
            assert_eq!(w.map(|w| w.len), Some(len), "Write-IMM {imm:#x} length");
        }
        let placed = self.ends[1].stats().bytes_placed;
        if placed != self.placed {
            self.placed = placed;
            let got = self.ends[1].regions().read(self.dst.addr, REGION);
            for (off, &b) in got.unwrap_or(&[]).iter().enumerate() {
                assert!(
                    b == 0 || b == pattern(off as u64),
                    "corrupt or misplaced byte at offset {off}"
                );
            }
        }
    }

    /// A clean network until every request finished or the requester errored.
    fn drain(&mut self) {
        for _ in 0..DRAIN_STEPS {
            if self.completed.iter().all(Option::is_some) || self.qp_error[0] {
                break;
            }
            self.pump();
            if let Some(f) = self.net.pop_front() {
                self.deliver(&f, false, None);
            } else {
                let next = self.ends.iter().filter_map(Transport::poll_timeout).min();
                match next {
                    Some(t) => self.now = t.max(self.now + Duration::from_nanos(1)),
                    None => break,
                }
                self.timers();
            }
            self.check();
        }
        if !self.trusted {
            return;
        }
        let a = &self.ends[0];
        let unfinished = self.completed.iter().filter(|c| c.is_none()).count();
        if a.state() == QpState::Error {
            assert!(self.qp_error[0], "requester in ERROR without a reason");
            assert_eq!(unfinished, 0, "a request was neither completed nor flushed");
        } else {
            assert_eq!(
                unfinished,
                0,
                "requests left hanging in {:?} at {:?}: {:?}",
                a.state(),
                self.now,
                a.stats()
            );
        }
    }
}

/// What one run did (for tests that the checks were exercised).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Work requests posted.
    pub posted: usize,
    /// Work requests completed with success.
    pub succeeded: usize,
    /// The requester's QP errored.
    pub errored: bool,
    /// Only off-path forgeries were injected (the data checks ran to the end).
    pub checked: bool,
}

/// Runs one input; panics if a check fails.
pub fn run(data: &[u8]) -> Outcome {
    let mut inp = Input { data, at: 0 };
    let mut pair = Pair::new(&mut inp);
    let mut steps = 0;
    while !inp.done() && steps < 4096 {
        pair.step(&mut inp);
        steps += 1;
    }
    pair.drain();
    Outcome {
        posted: pair.wrs.len(),
        succeeded: pair
            .completed
            .iter()
            .filter(|c| **c == Some(WcStatus::Success))
            .count(),
        errored: pair.qp_error[0],
        checked: pair.trusted,
    }
}
