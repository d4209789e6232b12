//! A QP of a simulated NIC: the transport plus what the simulator keeps beside it — which pair
//! it belongs to, its (bookkeeping-only) memory regions and the writes the workload posted.
//! The NIC layer (`mrc_proto::nic::Nic`) owns these, as it owns `mrc-net`'s QPs.
//!
//! A workload write may be larger than one work request and may find the send queue full, so
//! it is split here and completes (one `Event::SendComplete` with the workload's id) when all
//! its work requests have. The simulator never re-implements protocol logic.

use std::collections::VecDeque;

use mrc_proto::nic::NicQp;

use crate::sim::PairId;
use mrc_proto::{Event, PostError, RegionHandle, Transport, WcStatus, WriteRequest};

/// Largest single work request posted (bigger writes are split).
const MAX_WR: u64 = 1 << 30;

/// One posted workload write: its id, work requests not yet completed, and its outcome so far
/// (the first failure of any of them).
#[derive(Debug, Clone, Copy)]
struct Posted {
    id: u64,
    left: u64,
    status: WcStatus,
}

/// A simulated QP (module docs). Fields in memory order (`repr(C)`): what the simulator reads
/// for every packet comes first, in one cache line ahead of the transport.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct SimQp<T> {
    /// The pair this QP is one end of.
    pub(crate) pair: PairId,
    /// Local and remote QP numbers (the transport's own, kept here for the NIC's demux).
    qpns: (u32, u32),
    error: bool,
    remote: Option<RegionHandle>,
    local: RegionHandle,
    /// Posted writes not yet completed, in post order.
    wrs: VecDeque<Posted>,
    /// Byte ranges `(offset, len)` of the local region refused with a full send queue, posted
    /// as completions free slots. Kept as ranges, not work requests, so a huge write costs one
    /// entry rather than one per [`MAX_WR`].
    backlog: VecDeque<(u64, u64)>,
    conn: T,
}

impl<T: Transport> SimQp<T> {
    /// Wraps a connection with QP numbers `qpns` (local, remote) and a region of `len` bytes;
    /// `remote` is the peer's region (requester side, None at the responder).
    pub(crate) fn new(
        mut conn: T,
        qpns: (u32, u32),
        len: u64,
        remote: Option<RegionHandle>,
        pair: PairId,
    ) -> Self {
        let local = conn.regions_mut().register_virtual(len.max(1));
        Self {
            conn,
            local,
            remote,
            wrs: VecDeque::new(),
            backlog: VecDeque::new(),
            error: false,
            qpns,
            pair,
        }
    }

    /// The local region (the responder's is the target of the writes).
    pub(crate) fn region(&self) -> RegionHandle {
        self.local
    }

    /// True at the requester (the end that posts the writes).
    pub(crate) fn is_requester(&self) -> bool {
        self.remote.is_some()
    }

    /// The first work request (at most [`MAX_WR`] bytes) of `len` bytes at `offset` of the
    /// regions; `None` on the responder side (no remote region).
    fn request(&self, offset: u64, len: u64) -> Option<WriteRequest> {
        let remote = self.remote?;
        let n = len.min(MAX_WR);
        Some(WriteRequest {
            wr_id: offset / MAX_WR,
            local_addr: self.local.addr + offset,
            len: n as u32,
            remote_addr: remote.addr + offset,
            rkey: remote.rkey,
            imm: None,
        })
    }

    /// Posts backlogged work requests while the send queue has room.
    fn drain_backlog(&mut self) {
        while let Some(&(off, len)) = self.backlog.front() {
            let Some(wr) = self.request(off, len) else {
                self.backlog.clear();
                return;
            };
            match self.conn.post_write(wr) {
                Ok(()) => {
                    let n = u64::from(wr.len);
                    if n == len {
                        self.backlog.pop_front();
                    } else if let Some(f) = self.backlog.front_mut() {
                        *f = (off + n, len - n);
                    }
                }
                Err(PostError::QueueFull) => return,
                Err(_) => {
                    // The QP left RTS: these never go out; their writes fail with the QP.
                    self.backlog.clear();
                    return;
                }
            }
        }
    }

    /// Posts a write of `len` bytes at byte `offset` of both regions (requester side); it
    /// completes with `id`. Several may be outstanding; they complete in post order. False if
    /// nothing of it was accepted.
    pub(crate) fn post_write(&mut self, id: u64, offset: u64, len: u64) -> bool {
        if self.remote.is_none() {
            return false;
        }
        let total = len.div_ceil(MAX_WR);
        let mut parts = 0;
        let mut off = 0;
        while off < len {
            if !self.backlog.is_empty() {
                self.backlog.push_back((offset + off, len - off));
                break;
            }
            let Some(wr) = self.request(offset + off, len - off) else {
                return false;
            };
            match self.conn.post_write(wr) {
                Ok(()) => {}
                Err(PostError::QueueFull) => {
                    self.backlog.push_back((offset + off, len - off));
                    break;
                }
                Err(_) if parts == 0 => return false,
                Err(_) => {
                    // Part of the write was accepted: it completes (failed) with them.
                    self.wrs.push_back(Posted {
                        id,
                        left: parts,
                        status: WcStatus::Flushed,
                    });
                    return true;
                }
            }
            parts += 1;
            off += u64::from(wr.len);
        }
        self.wrs.push_back(Posted {
            id,
            left: total,
            status: WcStatus::Success,
        });
        true
    }

    /// The next event the simulator acts on: a workload write completed (`SendComplete` with
    /// the id given to [`SimQp::post_write`]), the QP failed (once), or an EV changed state.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        while let Some(e) = self.conn.poll_event() {
            match e {
                Event::SendComplete { status, .. } => {
                    let Some(front) = self.wrs.front_mut() else {
                        continue;
                    };
                    if front.status == WcStatus::Success {
                        front.status = status;
                    }
                    front.left = front.left.saturating_sub(1);
                    self.drain_backlog();
                    if let Some(&w) = self.wrs.front()
                        && w.left == 0
                    {
                        self.wrs.pop_front();
                        return Some(Event::SendComplete {
                            wr_id: w.id,
                            status: w.status,
                        });
                    }
                }
                Event::QpError(_) if !self.error => {
                    self.error = true;
                    return Some(e);
                }
                Event::EvState { .. } => return Some(e),
                _ => {}
            }
        }
        if self.error && self.conn.outstanding() == 0 {
            // Work requests the QP never accepted (backlog) fail with it.
            self.backlog.clear();
            if let Some(w) = self.wrs.pop_front() {
                return Some(Event::SendComplete {
                    wr_id: w.id,
                    status: WcStatus::Flushed,
                });
            }
        }
        None
    }
}

impl<T: Transport> NicQp for SimQp<T> {
    type Conn = T;
    fn conn(&self) -> &T {
        &self.conn
    }
    fn conn_mut(&mut self) -> &mut T {
        &mut self.conn
    }
    fn qpn(&self) -> u32 {
        self.qpns.0
    }
    fn remote_qpn(&self) -> u32 {
        self.qpns.1
    }
}
