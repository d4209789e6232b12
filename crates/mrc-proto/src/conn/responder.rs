//! Receive side: checks and places the peer's writes, tracks which PSNs arrived, stashes
//! Write-IMM completions until their PSNs are covered, and builds the SACKs and NACKs that
//! report them (`docs/protocol.md`).

use std::collections::VecDeque;

use mrc_wire::Psn;
use mrc_wire::mrc::{
    self, Body, EndpointOp, NackReason, Opcode, PathMark, TypeNext, Write, bth, cc_state, neth,
    seth,
};

use super::Connection;
use super::timers::Timer;
use crate::bits::RingBits;
use crate::config::QpState;
use crate::ev::ReverseEvs;
use crate::mr::AccessError;
use crate::time::Instant;
use crate::{Event, QpErrorReason, Received, Trim};

/// Bound of queued control packets; beyond it new ones are dropped (SACKs are cumulative).
const CTRL_QUEUE_CAP: usize = 4096;
/// A SACK triggered by PSN p reports p − 63 … p; a packet further than this below the newest
/// trigger would go unreported until the cumulative ack passes it, so it gets its own SACK.
pub(super) const SACK_COVER: i32 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SackTrigger {
    pub(super) psn: Psn,
    /// Lowest PSN whose arrival this (possibly merged) SACK must report.
    pub(super) cover: Psn,
    pub(super) ev: u32,
    pub(super) plane: u8,
    pub(super) mark: PathMark,
    pub(super) pr: bool,
}

/// The path mark a SACK echoes for a packet that arrived with (or without) ECN CE.
pub(super) fn ce_mark(ecn_ce: bool) -> PathMark {
    if ecn_ce {
        PathMark::SkipOnce
    } else {
        PathMark::None
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Ctrl {
    Sack(SackTrigger),
    Nack {
        psn: Psn,
        ev: u32,
        plane: u8,
        reason: NackReason,
    },
    EpResponse {
        op: EndpointOp,
        /// PSN\[15:0\] of the request (its probe id), echoed.
        id: u16,
        ts: u16,
        ev: u32,
        plane: u8,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct ImmStash {
    pub(super) psn: Psn,
    pub(super) imm: u32,
    pub(super) len: u32,
    pub(super) msn: u16,
}

/// The receive side's state.
#[derive(Debug)]
pub(super) struct Responder {
    /// The reverse EVs SACKs and answers go back on (learned from arrivals).
    pub(super) rev: ReverseEvs,
    pub(super) rcv_cack: Psn,
    pub(super) rcv_high: Psn,
    pub(super) rcv_bits: RingBits,
    pub(super) rcv_window: u32,
    pub(super) rcvd_bytes: u64,
    pub(super) ooo: u32,
    pub(super) imm_pending: VecDeque<ImmStash>,
    pub(super) sack_pending: Option<SackTrigger>,
    pub(super) sack_bytes: u32,
    /// Control packets waiting for a port: SACKs, NACKs, endpoint answers.
    pub(super) ctrl: VecDeque<Ctrl>,
}

impl Responder {
    /// Nothing received: the tracking window is sized at RTR (`Connection::modify_qp`).
    pub(super) fn new(rev: ReverseEvs, psn0: Psn) -> Self {
        Self {
            rev,
            rcv_cack: psn0.sub(1),
            rcv_high: psn0.sub(1),
            rcv_bits: RingBits::new(64),
            rcv_window: 0,
            rcvd_bytes: 0,
            ooo: 0,
            imm_pending: VecDeque::new(),
            sack_pending: None,
            sack_bytes: 0,
            ctrl: VecDeque::with_capacity(16),
        }
    }
}

impl Connection {
    pub(super) fn penalty(&self) -> u8 {
        let Some(start) = self.cfg.penalty_start else {
            return 0;
        };
        if self.rsp.rcv_window == 0 {
            return 0;
        }
        let frac = f64::from(self.rsp.ooo) / f64::from(self.rsp.rcv_window);
        let start = start.clamp(0.0, 0.999);
        if frac <= start {
            0
        } else {
            ((frac - start) / (1.0 - start) * 127.0).min(127.0) as u8
        }
    }

    pub(super) fn sack_repr(&self, t: SackTrigger) -> mrc::Repr {
        let cack = self.rsp.rcv_cack;
        let next = cack.add(1);
        let lo = t.psn.sub(63);
        let base = if lo.precedes(next) { next } else { lo };
        let bitmap = self.rsp.rcv_bits.window64(base.value());
        let clamp16 = |d: i32| d.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        let seth = seth::Repr {
            type_next: TypeNext::default(),
            mark: t.mark,
            pr: t.pr,
            ack_psn_offset: clamp16(t.psn.diff(cack)),
            entropy: t.ev,
            spdcid: self.cfg.qpn as u16,
            dpdcid: self.cfg.remote_qpn as u16,
            cack_psn: cack,
            cc_type: 0,
            cc_flags: 0,
            mpr: self.attr.mpr_dest,
            sack_offset: clamp16(base.diff(cack)),
            sack_bitmap: bitmap,
        };
        let cc = cc_state::Repr {
            tx_timestamp: 0,
            ooo_count: self.rsp.ooo.min(0x7FFF) as u16,
            r_c: false,
            rcv_cwnd_pen: self.penalty(),
            rcvd_bytes: ((self.rsp.rcvd_bytes >> 8) & 0xFF_FFFF) as u32,
        };
        mrc::Repr {
            bth: bth::Repr::new(Opcode::Sack, self.cfg.remote_qpn, cack),
            body: Body::Sack { seth, cc },
        }
    }

    pub(super) fn nack_repr(&self, psn: Psn, ev: u32, reason: NackReason) -> mrc::Repr {
        mrc::Repr {
            bth: bth::Repr::new(Opcode::Nack, self.cfg.remote_qpn, psn),
            body: Body::Nack(neth::Repr {
                type_next: TypeNext::default(),
                reason,
                vendor_info: 0,
                entropy: ev,
                spdcid: self.cfg.qpn as u16,
                dpdcid: self.cfg.remote_qpn as u16,
                nack_psn: psn,
                cc_type: 0x2,
                cc_flags: 0,
                tx_timestamp: 0,
            }),
        }
    }

    pub(super) fn push_ctrl(&mut self, c: Ctrl) {
        if let (Ctrl::Sack(new), Some(Ctrl::Sack(last))) = (c, self.rsp.ctrl.back_mut())
            && new.mark == PathMark::None
            && last.mark == PathMark::None
            && !new.pr
            && !last.pr
            && (0..SACK_COVER).contains(&new.psn.diff(last.cover))
        {
            let cover = if last.cover.precedes(new.cover) {
                last.cover
            } else {
                new.cover
            };
            *last = SackTrigger { cover, ..new };
            return;
        }
        if self.rsp.ctrl.len() >= CTRL_QUEUE_CAP {
            return;
        }
        // A NACK goes ahead of queued SACKs. A SACK's bitmap is built when it leaves, so
        // waiting costs it little; a NACK held behind a SACK backlog (a responder whose NIC
        // port many QPs share) leaves its trimmed packet unexplained until the sender judges
        // it lost and blames the path.
        let at = match c {
            Ctrl::Nack { .. } => self
                .rsp
                .ctrl
                .iter()
                .position(|x| matches!(x, Ctrl::Sack(_)))
                .unwrap_or(self.rsp.ctrl.len()),
            _ => self.rsp.ctrl.len(),
        };
        self.rsp.ctrl.insert(at, c);
    }

    pub(super) fn sack_now(&mut self, mut t: SackTrigger) {
        // A coalesced trigger stands for arrivals this SACK may not report (its bitmap covers
        // only the 64 PSNs below `t`): merge it if covered, else send it first. Dropping it
        // made an arrival look overtaken on its own path, i.e. lost.
        if let Some(old) = self.rsp.sack_pending.take() {
            if (0..SACK_COVER).contains(&t.psn.diff(old.cover)) {
                if old.cover.precedes(t.cover) {
                    t.cover = old.cover;
                }
            } else {
                self.push_ctrl(Ctrl::Sack(old));
            }
        }
        self.rsp.sack_bytes = 0;
        self.disarm(Timer::SackCoalesce);
        self.push_ctrl(Ctrl::Sack(t));
    }

    pub(super) fn on_write(&mut self, now: Instant, pkt: &Received<'_>, w: &Write) {
        if !matches!(self.state, QpState::Rtr | QpState::Rts) {
            self.stats.rejected_not_ready += 1;
            return;
        }
        let b = pkt.repr.bth;
        let psn = b.psn;
        let d = psn.diff(self.rsp.rcv_cack);
        if pkt.ecn_ce {
            self.stats.ecn_received += 1;
        }
        let trig = SackTrigger {
            psn,
            cover: psn,
            ev: pkt.ev,
            plane: pkt.port,
            mark: ce_mark(pkt.ecn_ce),
            pr: false,
        };
        if d <= 0 || (d as u32 <= self.rsp.rcv_window && self.rsp.rcv_bits.get(psn.value())) {
            self.stats.duplicates_received += 1;
            self.sack_now(trig);
            return;
        }
        let nack = |reason| Ctrl::Nack {
            psn,
            ev: pkt.ev,
            plane: pkt.port,
            reason,
        };
        if d as u32 > self.rsp.rcv_window {
            self.stats.rejected_out_of_window += 1;
            self.push_ctrl(nack(NackReason::PsnOorWindow));
            return;
        }
        if let Some(t) = pkt.trim {
            self.stats.trimmed_received += 1;
            let reason = match t {
                Trim::Fabric => NackReason::Trimmed,
                Trim::LastHop => NackReason::TrimmedLastHop,
            };
            self.push_ctrl(nack(reason));
            return;
        }
        let len = u64::from(w.payload_len);
        let payload = pkt.payload;
        if payload.is_some_and(|p| p.len() as u64 != len) {
            self.stats.rejected_out_of_bounds += 1;
            self.push_ctrl(nack(NackReason::UnexpEvent));
            return;
        }
        // The message range RETH claims must hold this payload and lie inside the key's
        // region: a Write-IMM's receive completion reports it as the message length.
        let claimed = message_range(b.opcode, w);
        let checked = claimed
            .map_or(Err(AccessError::OutOfBounds), |(va, n)| {
                self.regions.check_remote(w.reth.rkey, va, n)
            })
            .and_then(|_| self.regions.check_remote(w.reth.rkey, w.reth.va, len));
        if let Err(e) = checked {
            match e {
                AccessError::BadKey => self.stats.rejected_bad_key += 1,
                _ => self.stats.rejected_out_of_bounds += 1,
            }
            self.push_ctrl(nack(NackReason::UnexpEvent));
            return;
        }
        if b.opcode.has_immediate() {
            if self.rsp.imm_pending.len() >= usize::from(self.attr.max_wimm_dest) {
                self.push_ctrl(nack(NackReason::WimmLimit));
                self.enter_error(Some(QpErrorReason::WimmLimitDest));
                return;
            }
            let pos = self
                .rsp
                .imm_pending
                .partition_point(|x| x.psn.diff(psn) < 0);
            self.rsp.imm_pending.insert(
                pos,
                ImmStash {
                    psn,
                    imm: w.imm.unwrap_or(0),
                    len: w.reth.dma_len,
                    msn: w.meth.msn,
                },
            );
        }
        // Checked above: cannot fail.
        let _ = self.regions.place(w.reth.rkey, w.reth.va, len, payload);
        self.rsp.rcv_bits.set(psn.value());
        self.rsp.ooo += 1;
        self.stats.data_received += 1;
        self.stats.bytes_placed += len;
        self.rsp.rcvd_bytes += len;
        let before = self.rsp.rcv_cack;
        while self.rsp.rcv_bits.get(self.rsp.rcv_cack.add(1).value()) {
            self.rsp.rcv_cack = self.rsp.rcv_cack.add(1);
            self.rsp.rcv_bits.clear(self.rsp.rcv_cack.value());
            self.rsp.ooo = self.rsp.ooo.saturating_sub(1);
        }
        let gap_fill = self.rsp.rcv_cack.diff(before) > 1;
        if psn.diff(self.rsp.rcv_high) > 0 {
            self.rsp.rcv_high = psn;
        }
        let far_behind = self.rsp.rcv_high.diff(psn) >= SACK_COVER;
        while let Some(f) = self.rsp.imm_pending.front().copied() {
            if f.psn.diff(self.rsp.rcv_cack) > 0 {
                break;
            }
            self.rsp.imm_pending.pop_front();
            self.stats.imm_completions += 1;
            self.events.push_back(Event::RecvImm {
                imm: f.imm,
                len: f.len,
                msn: f.msn,
            });
        }
        self.rsp.rev.observe(pkt.port, pkt.ev);
        self.rsp.sack_bytes = self.rsp.sack_bytes.saturating_add(w.payload_len);
        let immediate = pkt.ecn_ce
            || b.ack_req
            || b.retransmit
            || gap_fill
            || far_behind
            || b.opcode.ends_message()
            || self.rsp.sack_bytes >= self.cfg.sack.coalesce_bytes;
        if immediate {
            self.sack_now(trig);
        } else {
            let mut trig = trig;
            if let Some(old) = self.rsp.sack_pending {
                if (0..SACK_COVER).contains(&trig.psn.diff(old.cover)) {
                    if old.cover.precedes(trig.cover) {
                        trig.cover = old.cover;
                    }
                } else {
                    self.push_ctrl(Ctrl::Sack(old));
                }
            }
            self.rsp.sack_pending = Some(trig);
            if self.timer(Timer::SackCoalesce).is_none() {
                self.arm(Timer::SackCoalesce, now + self.cfg.sack.coalesce_timeout);
            }
        }
    }
}

/// The message range `(start VA, DMA length)` a Write's RETH claims, if it is consistent with
/// the packet: an ONLY packet is the whole message, a FIRST packet starts it, a LAST packet ends
/// it, and a packet of a multi-packet message is shorter than the message. Packets arrive out of
/// order, so unlike RC the responder cannot add up a message's bytes at its last packet; checking
/// each packet against RETH (and the range against the region) bounds what a Write-IMM reports.
fn message_range(op: Opcode, w: &Write) -> Option<(u64, u64)> {
    let (va, dma, len) = (
        w.reth.va,
        u64::from(w.reth.dma_len),
        u64::from(w.payload_len),
    );
    let ok = match op {
        Opcode::WriteOnly | Opcode::WriteOnlyImm => len == dma,
        _ => len < dma,
    };
    if !ok {
        return None;
    }
    let start = match op {
        Opcode::WriteLast | Opcode::WriteLastImm => va.checked_sub(dma - len)?,
        Opcode::WriteOnly | Opcode::WriteOnlyImm | Opcode::WriteFirst => va,
        // A middle packet's offset is unknown: check only that it fits the claimed length.
        _ => va,
    };
    let n = if op == Opcode::WriteMiddle { len } else { dma };
    Some((start, n))
}
