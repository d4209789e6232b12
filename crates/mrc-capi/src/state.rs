//! The library's process-wide state: every object a C program holds a pointer to is registered
//! here by address, and every entry point looks its arguments up before using them, so a NULL,
//! stale or foreign pointer (double destroy, wrong type) is refused with `EINVAL`, never
//! dereferenced.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{LazyLock, Mutex, MutexGuard};

use crate::ctl::CtlState;
use crate::engine::Engine;
use crate::types::{IbvDevice, IbvGid, IbvQpCap, IbvWc, MrcCtlEvEvent, MrcQpHintAttr};

/// One software verbs device.
pub(crate) struct Device {
    /// `mrclo` or `mrcnic<N>`.
    pub name: String,
    /// The device's IPv6 address (its GID at indexes 0–3).
    pub addr: Ipv6Addr,
    /// The `struct ibv_device` handed to C (leaked: valid for the life of the process).
    pub ibv: *mut IbvDevice,
    /// The NIC's network namespace (fabric devices); None for `mrclo`.
    pub netns: Option<String>,
    /// The EVs of the built-in EV profile: `mrclo` 0–15; a fabric NIC the EVs its namespace
    /// routes (one policy rule `fwmark 1000 + EV` each).
    pub evs: Vec<u32>,
}

/// A memory region (`ibv_reg_mr`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mr {
    pub pd: usize,
    pub addr: u64,
    pub len: u64,
    pub access: i32,
    pub lkey: u32,
    pub rkey: u32,
}

/// A completion channel.
pub(crate) struct Chan {
    pub ctx: usize,
    /// eventfd (semaphore mode): one count per queued CQ event.
    pub fd: OwnedFd,
    /// CQs with an event not yet returned by `mrc_get_cq_event`.
    pub queue: VecDeque<usize>,
    /// CQs attached.
    pub users: u32,
}

/// A completion queue (or an EV event CQ).
pub(crate) struct Cq {
    pub ctx: usize,
    pub cqe: usize,
    pub cq_context: usize,
    pub channel: usize,
    pub armed: bool,
    pub entries: VecDeque<IbvWc>,
    /// Completions lost since the CQ was last not full.
    pub overrun: u64,
    pub unacked_events: u64,
    /// QPs using it.
    pub users: u32,
    /// An EV event CQ (`mrc_ctl_create_ev_event_cq`).
    pub ev_events: Option<EvEventQueue>,
}

/// EV events of an EV event CQ.
#[derive(Default)]
pub(crate) struct EvEventQueue {
    pub events: VecDeque<MrcCtlEvEvent>,
    /// Events dropped since the last one delivered (queue full).
    pub dropped: u32,
}

/// A QP hint.
pub(crate) struct Hint {
    pub ctx: usize,
    pub attr: MrcQpHintAttr,
    pub users: u32,
}

/// A posted send work request awaiting its completion.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendWr {
    pub wr_id: u64,
    pub signaled: bool,
    pub len: u32,
}

/// A QP (`mrc_create_qp`).
pub(crate) struct Qp {
    pub ctx: usize,
    pub qpn: u32,
    pub pd: usize,
    pub send_cq: usize,
    pub recv_cq: usize,
    pub qp_context: usize,
    pub cap: IbvQpCap,
    pub sq_sig_all: bool,
    pub send_ops_flags: u64,
    pub protocol_version: u32,
    /// `IBV_QPS_*`.
    pub state: u32,
    pub attr: mrc_proto::MrcQpAttr,
    pub hint: usize,
    pub vendor_cfg: [u8; 128],
    pub dest_qpn: u32,
    pub dgid: IbvGid,
    pub path_mtu: u32,
    /// The QP has a transport (from RTR on): in its slot of the context's NIC
    /// (`Engine::core`), generation `era`.
    pub live: bool,
    /// Generation of the QP's transport (new at each RTR and RESET, unique in the process):
    /// events of another one are dropped.
    pub era: u64,
    /// Where the peer receives (from RTR on).
    pub peer: Option<std::net::SocketAddrV6>,
    pub sends: VecDeque<SendWr>,
    pub recvs: VecDeque<u64>,
    /// Write-with-Immediate arrivals waiting for a posted receive: (imm, len).
    pub imms: VecDeque<(u32, u32)>,
}

/// An MRC context.
pub(crate) struct Ctx {
    pub ibv_ctx: usize,
    /// Device index.
    pub dev: usize,
    /// `mrc_api_version_used` (0 = current).
    pub api_version: u32,
    pub engine: Engine,
    /// Async events not yet returned: (element: QP or CQ handle, or port number; event type).
    pub async_events: VecDeque<(usize, u32)>,
    /// eventfd (semaphore mode) counting `async_events`.
    pub async_fd: OwnedFd,
    /// QP handles of this context by QPN.
    pub by_qpn: HashMap<u32, usize>,
    pub next_qp: u32,
    pub objects: u32,
}

/// Everything.
#[derive(Default)]
pub(crate) struct State {
    pub devices: Vec<Device>,
    /// `ibv_context*` → device index.
    pub ibv_ctxs: HashMap<usize, usize>,
    /// `ibv_pd*` → `ibv_context*`.
    pub pds: HashMap<usize, usize>,
    /// `ibv_mr*` → region.
    pub mrs: HashMap<usize, Mr>,
    pub next_key: u32,
    pub ctxs: HashMap<usize, Ctx>,
    pub chans: HashMap<usize, Chan>,
    pub cqs: HashMap<usize, Cq>,
    pub qps: HashMap<usize, Qp>,
    pub hints: HashMap<usize, Hint>,
    pub ctl: CtlState,
}

// SAFETY: the raw pointers in `Device` point to leaked, immutable `IbvDevice`s; all other state
// is plain data. Access is serialised by the mutex.
unsafe impl Send for State {}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| Mutex::new(State::default()));

/// Locks the state (a panic while locked does not make it unusable).
pub(crate) fn lock() -> MutexGuard<'static, State> {
    STATE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A fresh heap address to hand out as an opaque handle (never dereferenced by the library;
/// freed by [`free_handle`]).
pub(crate) fn new_handle() -> usize {
    Box::into_raw(Box::new(0u64)) as usize
}

/// Frees a handle from [`new_handle`] (once: the caller removed it from its map first).
pub(crate) fn free_handle(h: usize) {
    // SAFETY: `h` came from `Box::into_raw` in `new_handle` and was removed from its map, so
    // it is freed exactly once.
    drop(unsafe { Box::from_raw(h as *mut u64) });
}

/// A new eventfd in semaphore, close-on-exec mode.
pub(crate) fn eventfd() -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain syscall; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_SEMAPHORE | libc::EFD_CLOEXEC) };
    // SAFETY: `fd` is a new descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd.
pub(crate) fn signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local to our own eventfd.
    unsafe {
        libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8);
    }
}

impl State {
    /// Queues a completion on CQ `cq` and signals its channel if armed.
    pub(crate) fn push_wc(&mut self, cq: usize, wc: IbvWc) {
        let Some(c) = self.cqs.get_mut(&cq) else {
            return;
        };
        if c.entries.len() >= c.cqe {
            // Overrun: the completion is lost and the CQ's context gets IBV_EVENT_CQ_ERR
            // (once per overrun episode: until the CQ has room again).
            c.overrun += 1;
            if c.overrun == 1 {
                let ctx = c.ctx;
                if let Some(x) = self.ctxs.get_mut(&ctx) {
                    x.async_events
                        .push_back((cq, crate::types::IBV_EVENT_CQ_ERR));
                    signal(&x.async_fd);
                }
            }
            return;
        }
        c.overrun = 0;
        c.entries.push_back(wc);
        if c.armed && c.channel != 0 {
            c.armed = false;
            let ch = c.channel;
            if let Some(chan) = self.chans.get_mut(&ch) {
                chan.queue.push_back(cq);
                signal(&chan.fd);
            }
        }
    }
}
