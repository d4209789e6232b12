//! `mrc.h`: contexts, completion channels, CQs, QP hints, QPs, posting, events.
//!
//! Return conventions (`docs/capi.md` §Errors): functions the header documents as "-1 on
//! failure (errno set)" return -1 and set `errno`; those documented as "errors like
//! `ibv_X()`" return the errno value itself (as libibverbs does) and also set `errno`;
//! `mrc_post_recv` and `mrc_poll_cq` return -1. Every pointer argument is looked up in the
//! library's registry first: NULL, stale (destroyed) or foreign pointers give `EINVAL`.

use core::ffi::{c_int, c_uint, c_void};
use std::collections::{HashMap, VecDeque};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use mrc_proto::config::{attr_mask, ibv_mask};
use mrc_proto::{ConnectionConfig, MrcQpAttr, QpHint, QpState, Transport, WriteRequest};

use crate::engine::{self, Engine};
use crate::state::{self, Chan, Cq, Ctx, Hint, Qp, SendWr, State};
use crate::types::*;
use crate::{fail, fail_code, guard, set_errno};

/// Largest CQ.
pub const MAX_CQE: c_int = 1 << 20;
/// Largest send or receive queue.
pub const MAX_WR: u32 = 4096;
/// Largest number of QP hints.
pub const MAX_QP_HINT: u32 = 64;

/// The device attributes every software device reports.
pub fn device_attr() -> MrcDeviceAttr {
    let d = mrc_proto::DeviceAttr::default();
    MrcDeviceAttr {
        mrc_protocol_version: MRC_PROTOCOL_VERSION_1,
        wimm_attr: MrcDeviceWimmAttr {
            max_wimm: d.max_wimm,
            max_wimm_dest: d.max_wimm_dest,
        },
        mpr_attr: MrcDeviceMprAttr {
            max_mpr: d.max_mpr,
            mpr_resolution: d.mpr_resolution,
        },
        qp_attr: MrcDeviceQpAttr {
            max_qp_hint: MAX_QP_HINT,
        },
        cap: MRC_DEVICE_CAP_TRIM_NACK,
    }
}

/// Writes `v` through `p` if `p` is not NULL.
///
/// # Safety
/// `p` must be NULL or valid for writes.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-NULL, and the caller guarantees it is writable.
        unsafe { p.write(v) };
    }
}

/// `mrc_query_version`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_query_version(
    current_version: *mut u32,
    last_supported_version: *mut u32,
    vendor_version: *mut u32,
    last_supported_vendor_version: *mut u32,
) {
    // SAFETY: each pointer is NULL or a writable u32 (header contract).
    unsafe {
        put(current_version, MRC_API_CURRENT_VERSION);
        put(last_supported_version, MRC_API_LAST_SUPPORTED_VERSION);
        put(vendor_version, MRC_VENDOR_API_CURRENT_VERSION);
        put(
            last_supported_vendor_version,
            MRC_VENDOR_API_LAST_SUPPORTED_VERSION,
        );
    }
}

fn query_device(
    context: *mut IbvContext,
    attr: *mut MrcDeviceAttr,
    supported: *mut c_int,
) -> c_int {
    let st = state::lock();
    if crate::verbs::ctx_device(&st, context).is_none() || attr.is_null() {
        return fail(libc::EINVAL);
    }
    // SAFETY: `attr` is non-NULL and writable; `supported` NULL or writable (header contract).
    unsafe {
        attr.write(device_attr());
        put(supported, 1);
    }
    0
}

/// `mrc_query_device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_query_device(
    context: *mut IbvContext,
    attr: *mut MrcDeviceAttr,
    supported: *mut c_int,
) -> c_int {
    guard(-1, || query_device(context, attr, supported))
}

/// Whether `mcontext` is NULL or an MRC context opened on `context` (the `_ex` queries' rule).
pub(crate) fn mcontext_of(context: *mut IbvContext, mcontext: *mut MrcContext) -> bool {
    mcontext.is_null()
        || state::lock()
            .ctxs
            .get(&(mcontext as usize))
            .is_some_and(|c| c.ibv_ctx == context as usize)
}

/// `mrc_query_device_ex`: `mcontext` may be NULL; if given it must be a context of `context`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_query_device_ex(
    context: *mut IbvContext,
    mcontext: *mut MrcContext,
    attr: *mut MrcDeviceAttr,
    supported: *mut c_int,
) -> c_int {
    guard(-1, || {
        if !mcontext_of(context, mcontext) {
            return fail(libc::EINVAL);
        }
        query_device(context, attr, supported)
    })
}

/// `mrc_create_context`: binds the context's sockets and starts its progress thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_create_context(
    vcontext: *mut IbvContext,
    context_attr: *mut MrcContextAttr,
) -> *mut MrcContext {
    guard(core::ptr::null_mut(), || {
        let mut st = state::lock();
        let Some(dev) = crate::verbs::ctx_device(&st, vcontext) else {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        };
        let mut version = MRC_API_CURRENT_VERSION;
        if !context_attr.is_null() {
            // SAFETY: non-NULL; the caller passes a readable mrc_context_attr.
            let a = unsafe { context_attr.read() };
            if a.mrc_api_version_used > MRC_API_CURRENT_VERSION
                || a.mrc_vendor_api_version_used > MRC_VENDOR_API_CURRENT_VERSION
            {
                set_errno(libc::ENOTSUP);
                return core::ptr::null_mut();
            }
            if a.mrc_api_version_used != 0 {
                version = a.mrc_api_version_used;
            }
        }
        let Some(d) = st.devices.get(dev) else {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        };
        let engine = match Engine::new(d.addr, d.netns.as_deref(), &d.evs) {
            Ok(e) => e,
            Err(e) => {
                // A fabric NIC's port 4791 is taken by another context: EBUSY.
                let busy = e.kind() == std::io::ErrorKind::AddrInUse;
                set_errno(if busy { libc::EBUSY } else { libc::EIO });
                return core::ptr::null_mut();
            }
        };
        let Some(async_fd) = state::eventfd() else {
            set_errno(libc::EMFILE);
            return core::ptr::null_mut();
        };
        let h = state::new_handle();
        st.ctxs.insert(
            h,
            Ctx {
                ibv_ctx: vcontext as usize,
                dev,
                api_version: version,
                engine,
                async_events: VecDeque::new(),
                async_fd,
                by_qpn: HashMap::new(),
                next_qp: 1,
                objects: 0,
            },
        );
        let started = st.ctxs.get_mut(&h).map(|c| c.engine.start(h));
        if !matches!(started, Some(Ok(()))) {
            st.ctxs.remove(&h);
            state::free_handle(h);
            set_errno(libc::EIO);
            return core::ptr::null_mut();
        }
        h as *mut MrcContext
    })
}

/// `mrc_destroy_context`: EBUSY while QPs, CQs, channels or hints of it exist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_destroy_context(mrc_ctx: *mut MrcContext) -> c_int {
    guard(-1, || {
        let key = mrc_ctx as usize;
        let mut ctx = {
            let mut st = state::lock();
            match st.ctxs.get(&key) {
                None => return fail(libc::EINVAL),
                Some(c) if c.objects > 0 => return fail(libc::EBUSY),
                Some(_) => {}
            }
            let Some(c) = st.ctxs.remove(&key) else {
                return fail(libc::EINVAL);
            };
            st.ctl.forget_context(key);
            c
        };
        ctx.engine.shutdown();
        drop(ctx);
        state::free_handle(key);
        0
    })
}

/// `mrc_create_comp_channel`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_create_comp_channel(
    mrc_ctx: *mut MrcContext,
    channel: *mut *mut MrcCompChannel,
) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = mrc_ctx as usize;
        if channel.is_null() || !st.ctxs.contains_key(&key) {
            return fail_code(libc::EINVAL);
        }
        let Some(fd) = state::eventfd() else {
            return fail_code(libc::EMFILE);
        };
        let h = state::new_handle();
        st.chans.insert(
            h,
            Chan {
                ctx: key,
                fd,
                queue: VecDeque::new(),
                users: 0,
            },
        );
        if let Some(c) = st.ctxs.get_mut(&key) {
            c.objects += 1;
        }
        // SAFETY: non-NULL; the caller passes a writable pointer slot.
        unsafe { channel.write(h as *mut MrcCompChannel) };
        0
    })
}

/// `mrc_get_comp_channel_fd`: an eventfd, readable while CQ events are queued.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_get_comp_channel_fd(
    channel: *mut MrcCompChannel,
    fd: *mut c_int,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        match st.chans.get(&(channel as usize)) {
            Some(c) if !fd.is_null() => {
                // SAFETY: non-NULL; the caller passes a writable int.
                unsafe { fd.write(c.fd.as_raw_fd()) };
                0
            }
            _ => fail(libc::EINVAL),
        }
    })
}

/// `mrc_destroy_comp_channel`: EBUSY while CQs use it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_destroy_comp_channel(channel: *mut MrcCompChannel) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = channel as usize;
        match st.chans.get(&key) {
            None => return fail_code(libc::EINVAL),
            Some(c) if c.users > 0 => return fail_code(libc::EBUSY),
            Some(_) => {}
        }
        if let Some(c) = st.chans.remove(&key)
            && let Some(x) = st.ctxs.get_mut(&c.ctx)
        {
            x.objects = x.objects.saturating_sub(1);
        }
        state::free_handle(key);
        0
    })
}

/// Creates a CQ (or an EV event CQ) on context `ctx`.
pub(crate) fn create_cq(
    mrc_ctx: *mut MrcContext,
    cqe: c_int,
    cq_context: *mut c_void,
    channel: *mut MrcCompChannel,
    comp_vector: c_int,
    ev_cq: bool,
) -> *mut MrcCq {
    let mut st = state::lock();
    let key = mrc_ctx as usize;
    let ch = channel as usize;
    let ok_chan = ch == 0 || st.chans.get(&ch).is_some_and(|c| c.ctx == key);
    if !st.ctxs.contains_key(&key) || !(1..=MAX_CQE).contains(&cqe) || !ok_chan || comp_vector != 0
    {
        set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    let h = state::new_handle();
    st.cqs.insert(
        h,
        Cq {
            ctx: key,
            cqe: cqe as usize,
            cq_context: cq_context as usize,
            channel: ch,
            armed: false,
            entries: VecDeque::new(),
            overrun: 0,
            unacked_events: 0,
            users: 0,
            ev_events: ev_cq.then(Default::default),
        },
    );
    if let Some(c) = st.chans.get_mut(&ch) {
        c.users += 1;
    }
    if let Some(c) = st.ctxs.get_mut(&key) {
        c.objects += 1;
    }
    h as *mut MrcCq
}

/// `mrc_create_cq`: `comp_vector` must be 0 (one completion vector).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_create_cq(
    mrc_ctx: *mut MrcContext,
    cqe: c_int,
    cq_context: *mut c_void,
    channel: *mut MrcCompChannel,
    comp_vector: c_int,
) -> *mut MrcCq {
    guard(core::ptr::null_mut(), || {
        create_cq(mrc_ctx, cqe, cq_context, channel, comp_vector, false)
    })
}

/// `mrc_poll_cq`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_poll_cq(cq: *mut MrcCq, num_entries: c_int, wc: *mut IbvWc) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        let Some(c) = st.cqs.get_mut(&(cq as usize)) else {
            return fail(libc::EINVAL);
        };
        if c.ev_events.is_some() || num_entries < 0 || (wc.is_null() && num_entries > 0) {
            return fail(libc::EINVAL);
        }
        let mut n = 0;
        while n < num_entries {
            let Some(e) = c.entries.pop_front() else {
                break;
            };
            // SAFETY: `wc` points to at least `num_entries` writable ibv_wc (header contract)
            // and n < num_entries.
            unsafe { wc.add(n as usize).write(e) };
            n += 1;
        }
        drop(st);
        if n == 0 {
            // An empty poll gives the CPU away once: applications spin on mrc_poll_cq, and
            // the progress thread that fills the CQ needs a core too.
            std::thread::yield_now();
        }
        n
    })
}

/// `mrc_destroy_cq`: EBUSY while QPs use it or CQ events are unacknowledged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_destroy_cq(cq: *mut MrcCq) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = cq as usize;
        match st.cqs.get(&key) {
            None => return fail_code(libc::EINVAL),
            Some(c) if c.users > 0 || c.unacked_events > 0 => return fail_code(libc::EBUSY),
            Some(_) => {}
        }
        if let Some(c) = st.cqs.remove(&key) {
            if let Some(ch) = st.chans.get_mut(&c.channel) {
                ch.users = ch.users.saturating_sub(1);
                ch.queue.retain(|&q| q != key);
            }
            if let Some(x) = st.ctxs.get_mut(&c.ctx) {
                x.objects = x.objects.saturating_sub(1);
            }
            st.ctl.forget_cq(key);
        }
        state::free_handle(key);
        0
    })
}

const HINT_MASK: c_int = MRC_QP_HINT_NUM_QPS_PER_PEER
    | MRC_QP_HINT_NUM_SEND_PEERS
    | MRC_QP_HINT_NUM_REMOTE_RECV_PEERS
    | MRC_QP_HINT_VENDOR_CFG;

fn hint_valid(a: &MrcQpHintAttr, mask: c_int) -> bool {
    let ok = |bit: c_int, v: c_int| mask & bit == 0 || v >= 0;
    ok(MRC_QP_HINT_NUM_QPS_PER_PEER, a.num_qps_per_peer)
        && ok(MRC_QP_HINT_NUM_SEND_PEERS, a.num_send_peers)
        && ok(MRC_QP_HINT_NUM_REMOTE_RECV_PEERS, a.num_remote_recv_peers)
}

/// `mrc_create_qp_hint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_create_qp_hint(
    mrc_ctx: *mut MrcContext,
    init_attr: *mut MrcQpHintInitAttr,
) -> *mut MrcQpHint {
    guard(core::ptr::null_mut(), || {
        let mut st = state::lock();
        let key = mrc_ctx as usize;
        if !st.ctxs.contains_key(&key) || init_attr.is_null() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        // SAFETY: non-NULL; the caller passes a readable init attribute struct.
        let attr = unsafe { init_attr.read() }.attr;
        if !hint_valid(&attr, HINT_MASK) {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        if st.hints.len() >= MAX_QP_HINT as usize {
            set_errno(libc::ENOMEM);
            return core::ptr::null_mut();
        }
        let h = state::new_handle();
        st.hints.insert(
            h,
            Hint {
                ctx: key,
                attr,
                users: 0,
            },
        );
        if let Some(c) = st.ctxs.get_mut(&key) {
            c.objects += 1;
        }
        h as *mut MrcQpHint
    })
}

/// `mrc_destroy_qp_hint`: EBUSY while QPs use it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_destroy_qp_hint(qp_hint: *mut MrcQpHint) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        let key = qp_hint as usize;
        match st.hints.get(&key) {
            None => return fail(libc::EINVAL),
            Some(h) if h.users > 0 => return fail(libc::EBUSY),
            Some(_) => {}
        }
        if let Some(h) = st.hints.remove(&key)
            && let Some(x) = st.ctxs.get_mut(&h.ctx)
        {
            x.objects = x.objects.saturating_sub(1);
        }
        state::free_handle(key);
        0
    })
}

/// `mrc_query_qp_hint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_query_qp_hint(
    qp_hint: *mut MrcQpHint,
    qp_hint_attr: *mut MrcQpHintAttr,
    qp_hint_attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        let Some(h) = st.hints.get(&(qp_hint as usize)) else {
            return fail(libc::EINVAL);
        };
        if qp_hint_attr.is_null() || qp_hint_attr_mask & !HINT_MASK != 0 {
            return fail(libc::EINVAL);
        }
        let m = qp_hint_attr_mask;
        let a = h.attr;
        // SAFETY: non-NULL; the caller passes a writable hint attribute struct; only the
        // fields named in the mask are written.
        unsafe {
            let o = qp_hint_attr;
            if m & MRC_QP_HINT_NUM_QPS_PER_PEER != 0 {
                (*o).num_qps_per_peer = a.num_qps_per_peer;
            }
            if m & MRC_QP_HINT_NUM_SEND_PEERS != 0 {
                (*o).num_send_peers = a.num_send_peers;
            }
            if m & MRC_QP_HINT_NUM_REMOTE_RECV_PEERS != 0 {
                (*o).num_remote_recv_peers = a.num_remote_recv_peers;
            }
            if m & MRC_QP_HINT_VENDOR_CFG != 0 {
                (*o).vendor_cfg = a.vendor_cfg;
            }
        }
        0
    })
}

/// `mrc_modify_qp_hint`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_modify_qp_hint(
    qp_hint: *mut MrcQpHint,
    qp_hint_attr: *mut MrcQpHintAttr,
    qp_hint_attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        let Some(h) = st.hints.get_mut(&(qp_hint as usize)) else {
            return fail(libc::EINVAL);
        };
        if qp_hint_attr.is_null() || qp_hint_attr_mask & !HINT_MASK != 0 {
            return fail(libc::EINVAL);
        }
        // SAFETY: non-NULL; the caller passes a readable hint attribute struct.
        let a = unsafe { qp_hint_attr.read() };
        let m = qp_hint_attr_mask;
        if !hint_valid(&a, m) {
            return fail(libc::EINVAL);
        }
        if m & MRC_QP_HINT_NUM_QPS_PER_PEER != 0 {
            h.attr.num_qps_per_peer = a.num_qps_per_peer;
        }
        if m & MRC_QP_HINT_NUM_SEND_PEERS != 0 {
            h.attr.num_send_peers = a.num_send_peers;
        }
        if m & MRC_QP_HINT_NUM_REMOTE_RECV_PEERS != 0 {
            h.attr.num_remote_recv_peers = a.num_remote_recv_peers;
        }
        if m & MRC_QP_HINT_VENDOR_CFG != 0 {
            h.attr.vendor_cfg = a.vendor_cfg;
        }
        0
    })
}

/// `mrc_create_qp`: up to 4096 send and receive WRs, one SGE each, no inline data; send
/// operations RDMA Write and Write-with-Immediate only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_create_qp(
    mrc_ctx: *mut MrcContext,
    mrc_qp_attr: *mut MrcQpInitAttr,
) -> *mut MrcQp {
    guard(core::ptr::null_mut(), || {
        let mut st = state::lock();
        let key = mrc_ctx as usize;
        let Some(ibv_ctx) = st.ctxs.get(&key).map(|c| c.ibv_ctx) else {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        };
        if mrc_qp_attr.is_null() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        // SAFETY: non-NULL; the caller passes a readable mrc_qp_init_attr.
        let a = unsafe { mrc_qp_attr.read() };
        let cq_ok = |cq: *mut MrcCq| {
            st.cqs
                .get(&(cq as usize))
                .is_some_and(|c| c.ctx == key && c.ev_events.is_none())
        };
        let pd_ok = st.pds.get(&(a.pd as usize)) == Some(&ibv_ctx);
        if !cq_ok(a.send_cq) || !cq_ok(a.recv_cq) || !pd_ok {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        let c = a.cap;
        if c.max_send_wr > MAX_WR
            || c.max_recv_wr > MAX_WR
            || c.max_send_sge > 1
            || c.max_recv_sge > 1
            || c.max_inline_data > 0
            || !matches!(
                a.protocol_version,
                MRC_PROTOCOL_VERSION_0 | MRC_PROTOCOL_VERSION_1
            )
        {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        if a.send_ops_flags & !(IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM) != 0
        {
            set_errno(libc::EOPNOTSUPP);
            return core::ptr::null_mut();
        }
        let Some(ctx) = st.ctxs.get_mut(&key) else {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        };
        if ctx.next_qp > 255 {
            set_errno(libc::ENOMEM);
            return core::ptr::null_mut();
        }
        let qpn = (u32::from(ctx.engine.port) << 8) | ctx.next_qp;
        let h = state::new_handle();
        if !ctx.engine.core().add_qp(h, qpn) {
            state::free_handle(h);
            set_errno(libc::ENOMEM);
            return core::ptr::null_mut();
        }
        ctx.next_qp += 1;
        ctx.objects += 1;
        ctx.by_qpn.insert(qpn, h);
        let mut cap = c;
        cap.max_send_wr = cap.max_send_wr.max(1);
        cap.max_recv_wr = cap.max_recv_wr.max(1);
        st.qps.insert(
            h,
            Qp {
                ctx: key,
                qpn,
                pd: a.pd as usize,
                send_cq: a.send_cq as usize,
                recv_cq: a.recv_cq as usize,
                qp_context: a.qp_context as usize,
                cap,
                sq_sig_all: a.sq_sig_all != 0,
                send_ops_flags: a.send_ops_flags,
                protocol_version: a.protocol_version,
                state: IBV_QPS_RESET,
                attr: MrcQpAttr {
                    ev_profile_id: 0,
                    cc_profile_id: 0,
                    ..MrcQpAttr::default()
                },
                hint: 0,
                vendor_cfg: [0; 128],
                dest_qpn: 0,
                dgid: IbvGid::default(),
                path_mtu: IBV_MTU_4096,
                live: false,
                era: 0,
                peer: None,
                sends: VecDeque::new(),
                recvs: VecDeque::new(),
                imms: VecDeque::new(),
            },
        );
        for cq in [a.send_cq as usize, a.recv_cq as usize] {
            if let Some(c) = st.cqs.get_mut(&cq) {
                c.users += 1;
            }
        }
        h as *mut MrcQp
    })
}

/// `mrc_destroy_qp`: pending work requests are dropped without completions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_destroy_qp(qp: *mut MrcQp) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = qp as usize;
        let Some(q) = st.qps.remove(&key) else {
            return fail_code(libc::EINVAL);
        };
        for cq in [q.send_cq, q.recv_cq] {
            if let Some(c) = st.cqs.get_mut(&cq) {
                c.users = c.users.saturating_sub(1);
            }
        }
        if let Some(h) = st.hints.get_mut(&q.hint) {
            h.users = h.users.saturating_sub(1);
        }
        if let Some(c) = st.ctxs.get_mut(&q.ctx) {
            c.engine.core().install(key, None, 0, None, true);
            c.by_qpn.remove(&q.qpn);
            c.objects = c.objects.saturating_sub(1);
        }
        state::free_handle(key);
        0
    })
}

fn ibv_state(s: QpState) -> u32 {
    match s {
        QpState::Reset => IBV_QPS_RESET,
        QpState::Init => IBV_QPS_INIT,
        QpState::Rtr => IBV_QPS_RTR,
        QpState::Rts => IBV_QPS_RTS,
        QpState::Error => IBV_QPS_ERR,
    }
}

fn to_mrc_attr(q: &Qp) -> MrcQpAttrC {
    MrcQpAttrC {
        mpr: MrcQpAttrMpr {
            mpr: q.attr.mpr,
            mpr_dest: q.attr.mpr_dest,
        },
        wimm: MrcQpAttrWimm {
            max_wimm: q.attr.max_wimm,
            max_wimm_dest: q.attr.max_wimm_dest,
        },
        timeout: q.attr.timeout,
        profile: MrcQpAttrProfile {
            ev_profile_id: q.attr.ev_profile_id,
            cc_profile_id: q.attr.cc_profile_id,
        },
        retry: MrcQpAttrRetry {
            linear_cnt: q.attr.retry.linear_cnt,
            exp_cnt: q.attr.retry.exp_cnt,
        },
        qp_hint: q.hint as *mut MrcQpHint,
        cap: q.attr.cap,
        vendor_cfg: q.vendor_cfg,
    }
}

/// `mrc_query_qp`: any state; `vattr` / `mrc_attr` / `init_attr` may be NULL when not wanted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_query_qp(
    qp: *mut MrcQp,
    vattr: *mut IbvQpAttr,
    vattr_mask: c_int,
    mrc_attr: *mut MrcQpAttrC,
    mrc_attr_mask: c_int,
    init_attr: *mut MrcQpInitAttr,
) -> c_int {
    guard(libc::EIO, || {
        let st = state::lock();
        let Some(q) = st.qps.get(&(qp as usize)) else {
            return fail_code(libc::EINVAL);
        };
        if (vattr.is_null() && vattr_mask != 0) || (mrc_attr.is_null() && mrc_attr_mask != 0) {
            return fail_code(libc::EINVAL);
        }
        let state = q.state;
        let v = IbvQpAttr {
            qp_state: state,
            cur_qp_state: state,
            path_mtu: q.path_mtu,
            dest_qp_num: q.dest_qpn,
            cap: q.cap,
            ah_attr: IbvAhAttr {
                grh: IbvGlobalRoute {
                    dgid: q.dgid,
                    hop_limit: 64,
                    ..IbvGlobalRoute::default()
                },
                is_global: 1,
                port_num: 1,
                ..IbvAhAttr::default()
            },
            port_num: 1,
            timeout: q.attr.timeout,
            ..IbvQpAttr::default()
        };
        // SAFETY: each pointer is NULL or a writable struct of its type (header contract).
        unsafe {
            put(vattr, v);
            put(mrc_attr, to_mrc_attr(q));
            put(
                init_attr,
                MrcQpInitAttr {
                    qp_context: q.qp_context as *mut c_void,
                    send_cq: q.send_cq as *mut MrcCq,
                    recv_cq: q.recv_cq as *mut MrcCq,
                    cap: q.cap,
                    sq_sig_all: c_int::from(q.sq_sig_all),
                    pd: q.pd as *mut IbvPd,
                    send_ops_flags: q.send_ops_flags,
                    protocol_version: q.protocol_version,
                },
            );
        }
        0
    })
}

/// The MRC attribute bits this library knows.
const MRC_MASK_ALL: c_int = MRC_QP_MAX_WIMM
    | MRC_QP_MAX_WIMM_DEST
    | MRC_QP_MPR
    | MRC_QP_MPR_DEST
    | MRC_QP_TIMEOUT
    | MRC_QP_EV_PROFILE_ID
    | MRC_QP_CC_PROFILE_ID
    | MRC_QP_HINT
    | MRC_QP_RETRY_CNT
    | MRC_QP_CAP
    | MRC_QP_VENDOR_CFG;

/// The connection configuration of QP `q` (peer QPN known): EVs and CC from the profiles the
/// attributes name (the controller's, or the built-in loopback profile), with the timing
/// `mrc perf` uses over kernel sockets.
fn conn_config(st: &State, q: &Qp) -> Result<ConnectionConfig, c_int> {
    let dev_evs = st
        .ctxs
        .get(&q.ctx)
        .and_then(|c| st.devices.get(c.dev))
        .map(|d| d.evs.clone())
        .unwrap_or_default();
    let evs = st.ctl.qp_evs(q.attr.ev_profile_id, &dev_evs)?;
    let seed = mrc_net::sys::os_random_u64().unwrap_or_else(|_| u64::from(q.qpn) ^ 0x5eed);
    // One plane per `EV >> 8` (the fabric's EV = plane << 8 | uplink).
    let mut planes: Vec<Vec<u32>> = Vec::new();
    for ev in evs {
        let p = (ev >> 8) as usize;
        if planes.len() <= p {
            planes.resize(p + 1, Vec::new());
        }
        if let Some(v) = planes.get_mut(p) {
            v.push(ev);
        }
    }
    planes.retain(|p| !p.is_empty());
    let mut c = mrc_net::perf::QpProfile {
        evs: &planes,
        seed,
        payload: engine::PAYLOAD,
        base_rtt: mrc_proto::Duration::from_micros(1000),
        sleek_scale: 1.0,
        rate_bps: 10_000_000_000,
        // Each QP is sized as if alone: the API does not say how many QPs share a port.
        share: 1,
    }
    .conn_config(q.qpn, q.dest_qpn);
    c.ev_profile.id = q.attr.ev_profile_id;
    c.cc_profile.id = q.attr.cc_profile_id;
    if let Some(alg) = st
        .ctl
        .qp_cc(q.attr.cc_profile_id, &c.cc_profile.algorithm)?
    {
        c.cc_profile.algorithm = alg;
    }
    c.max_send_wr = q.cap.max_send_wr;
    Ok(c)
}

fn modify_qp(
    st: &mut State,
    key: usize,
    v: &IbvQpAttr,
    vmask: c_int,
    m: Option<&MrcQpAttrC>,
    mmask: c_int,
) -> c_int {
    let hints_ok = {
        let Some(q) = st.qps.get(&key) else {
            return libc::EINVAL;
        };
        if vmask & IBV_QP_CUR_STATE != 0 && v.cur_qp_state != q.state {
            return libc::EINVAL;
        }
        if mmask & !MRC_MASK_ALL != 0 || (mmask != 0 && m.is_none()) {
            return libc::EINVAL;
        }
        match m {
            Some(m) if mmask & MRC_QP_HINT != 0 && !m.qp_hint.is_null() => st
                .hints
                .get(&(m.qp_hint as usize))
                .is_some_and(|h| h.ctx == q.ctx),
            _ => true,
        }
    };
    if !hints_ok {
        return libc::EINVAL;
    }
    for (bit, _) in ibv_mask::REJECTED {
        if vmask as u32 & bit != 0 {
            return libc::EINVAL;
        }
    }
    let hint_attr = m
        .filter(|_| mmask & MRC_QP_HINT != 0)
        .and_then(|m| st.hints.get(&(m.qp_hint as usize)).map(|h| h.attr));
    let Some(q) = st.qps.get_mut(&key) else {
        return libc::EINVAL;
    };
    let to = if vmask & IBV_QP_STATE != 0 {
        v.qp_state
    } else {
        q.state
    };
    // Validate the transition before touching anything.
    let from = q.state;
    let legal = match (from, to) {
        (_, IBV_QPS_RESET) | (_, IBV_QPS_ERR) => true,
        (IBV_QPS_RESET, IBV_QPS_INIT) | (IBV_QPS_INIT, IBV_QPS_INIT) => true,
        (IBV_QPS_INIT, IBV_QPS_RTR) | (IBV_QPS_RTR, IBV_QPS_RTS) | (IBV_QPS_RTS, IBV_QPS_RTS) => {
            true
        }
        (a, b) => a == b && vmask & IBV_QP_STATE == 0,
    };
    if !legal {
        return libc::EINVAL;
    }
    // Take the attributes (kept on failure only if the transition succeeds).
    let old = (q.attr, q.hint, q.vendor_cfg, q.dest_qpn, q.dgid, q.path_mtu);
    if let Some(m) = m {
        let a = &mut q.attr;
        let has = |b: c_int| mmask & b != 0;
        if has(MRC_QP_MAX_WIMM) {
            a.max_wimm = m.wimm.max_wimm;
        }
        if has(MRC_QP_MAX_WIMM_DEST) {
            a.max_wimm_dest = m.wimm.max_wimm_dest;
        }
        if has(MRC_QP_MPR) {
            a.mpr = m.mpr.mpr;
        }
        if has(MRC_QP_MPR_DEST) {
            a.mpr_dest = m.mpr.mpr_dest;
        }
        if has(MRC_QP_TIMEOUT) {
            a.timeout = m.timeout;
        }
        if has(MRC_QP_EV_PROFILE_ID) {
            a.ev_profile_id = m.profile.ev_profile_id;
        }
        if has(MRC_QP_CC_PROFILE_ID) {
            a.cc_profile_id = m.profile.cc_profile_id;
        }
        if has(MRC_QP_RETRY_CNT) {
            a.retry.linear_cnt = m.retry.linear_cnt;
            a.retry.exp_cnt = m.retry.exp_cnt;
        }
        if has(MRC_QP_CAP) {
            a.cap = m.cap;
        }
        if has(MRC_QP_HINT) {
            a.hint = hint_attr.map(|h| QpHint {
                num_qps_per_peer: h.num_qps_per_peer.max(0) as u32,
                num_send_peers: h.num_send_peers.max(0) as u32,
                num_remote_recv_peers: h.num_remote_recv_peers.max(0) as u32,
            });
            q.hint = m.qp_hint as usize;
        }
        if has(MRC_QP_VENDOR_CFG) {
            q.vendor_cfg = m.vendor_cfg;
        }
    }
    if vmask & IBV_QP_DEST_QPN != 0 {
        q.dest_qpn = v.dest_qp_num & 0xFF_FFFF;
    }
    if vmask & IBV_QP_AV != 0 {
        q.dgid = v.ah_attr.grh.dgid;
    }
    if vmask & IBV_QP_PATH_MTU != 0 {
        q.path_mtu = v.path_mtu;
    }
    let err = transition(st, key, from, to, vmask);
    let Some(q) = st.qps.get_mut(&key) else {
        return libc::EINVAL;
    };
    if err != 0 {
        (q.attr, q.hint, q.vendor_cfg, q.dest_qpn, q.dgid, q.path_mtu) = old;
        return err;
    }
    if q.hint != old.1 {
        let (new, prev) = (q.hint, old.1);
        if let Some(h) = st.hints.get_mut(&prev) {
            h.users = h.users.saturating_sub(1);
        }
        if let Some(h) = st.hints.get_mut(&new) {
            h.users += 1;
        }
    }
    0
}

/// Runs the state transition `from → to` of QP `key` (attributes already taken).
fn transition(st: &mut State, key: usize, from: u32, to: u32, vmask: c_int) -> c_int {
    let mut wcs = Vec::new();
    let rc = {
        let cfg = match st.qps.get(&key) {
            Some(q) if from == IBV_QPS_INIT && to == IBV_QPS_RTR => match conn_config(st, q) {
                Ok(c) => Some(c),
                Err(e) => return e,
            },
            Some(_) => None,
            None => return libc::EINVAL,
        };
        let State { qps, ctxs, mrs, .. } = &mut *st;
        let Some(q) = qps.get_mut(&key) else {
            return libc::EINVAL;
        };
        let Some(ctx) = ctxs.get(&q.ctx) else {
            return libc::EINVAL;
        };
        let mut core = ctx.engine.core();
        let vm = (vmask as u32) & ibv_mask::STATE;
        let attr = q.attr;
        let rc = match (from, to) {
            (_, IBV_QPS_RESET) => {
                q.era = engine::next_era();
                core.install(key, None, q.era, None, false);
                q.live = false;
                q.peer = None;
                q.sends.clear();
                q.recvs.clear();
                q.imms.clear();
                Ok(())
            }
            (_, IBV_QPS_ERR) => {
                if let Some(c) = core.conn_mut(key).filter(|_| q.live) {
                    let _ = c.modify_qp(QpState::Error, vm, &attr, 0);
                }
                engine::flush_recvs(q, &mut wcs);
                Ok(())
            }
            (IBV_QPS_INIT, IBV_QPS_RTR) => {
                let Some(cfg) = cfg else {
                    return libc::EINVAL;
                };
                let mut c = mrc_proto::Connection::new(cfg);
                let r = c
                    .modify_qp(QpState::Init, vm, &attr, attr_mask::INIT_REQUIRED)
                    .and_then(|()| {
                        c.modify_qp(
                            QpState::Rtr,
                            vm,
                            &attr,
                            attr_mask::RTR_REQUIRED | attr_mask::INIT_REQUIRED,
                        )
                    });
                if r.is_ok() {
                    // Without IBV_QP_AV and IBV_QP_DEST_QPN (the QP walkthrough's RTR step)
                    // the QP has no peer: it accepts nothing and posting to it fails.
                    let ip = Ipv6Addr::from(q.dgid.raw);
                    q.peer = (q.dest_qpn != 0 && q.dgid != IbvGid::default())
                        .then(|| SocketAddrV6::new(ip, (q.dest_qpn >> 8) as u16, 0, 0));
                    let pd = q.pd;
                    for m in mrs.values().filter(|m| m.pd == pd) {
                        engine::register_in(&mut c, m);
                    }
                    q.era = engine::next_era();
                    q.live = true;
                    core.install(key, Some(c), q.era, q.peer, false);
                }
                r
            }
            (IBV_QPS_RTR, IBV_QPS_RTS) => match core.conn_mut(key).filter(|_| q.live) {
                Some(c) => c.modify_qp(QpState::Rts, vm, &attr, attr_mask::RTS_REQUIRED),
                None => return libc::EINVAL,
            },
            _ => Ok(()),
        };
        match rc {
            Ok(()) => {
                q.state = match core.conn(key) {
                    Some(c) if q.live && to != IBV_QPS_RESET => ibv_state(c.state()),
                    _ => to,
                };
                0
            }
            Err(_) => libc::EINVAL,
        }
    };
    for (cq, wc) in wcs {
        st.push_wc(cq, wc);
    }
    rc
}

/// `mrc_modify_qp`. Attributes the transition requires but the mask omits keep their current
/// values (the defaults of the API examples: MPR 8, WIMM 128, timeout 8, retries 7 + 25). The
/// peer is `IBV_QP_AV` (its GID) and `IBV_QP_DEST_QPN`, given at RTR or before; a QP that
/// reaches RTR without them has no peer (posting to it fails with EINVAL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_modify_qp(
    qp: *mut MrcQp,
    vattr: *mut IbvQpAttr,
    vattr_mask: c_int,
    mrc_attr: *mut MrcQpAttrC,
    mrc_attr_mask: c_int,
) -> c_int {
    guard(libc::EIO, || {
        if vattr.is_null() && vattr_mask != 0 {
            return fail_code(libc::EINVAL);
        }
        let v = if vattr.is_null() {
            IbvQpAttr::default()
        } else {
            // SAFETY: non-NULL; the caller passes a readable ibv_qp_attr (header contract).
            unsafe { vattr.read() }
        };
        // SAFETY: read only when non-NULL; the caller passes a readable mrc_qp_attr.
        let m = (!mrc_attr.is_null()).then(|| unsafe { mrc_attr.read() });
        let mut st = state::lock();
        let rc = modify_qp(
            &mut st,
            qp as usize,
            &v,
            vattr_mask,
            m.as_ref(),
            mrc_attr_mask,
        );
        if rc != 0 {
            return fail_code(rc);
        }
        0
    })
}

/// `mrc_get_qpn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_get_qpn(qp: *mut MrcQp, qpn: *mut u32) -> c_int {
    guard(-1, || {
        let st = state::lock();
        match st.qps.get(&(qp as usize)) {
            Some(q) if !qpn.is_null() => {
                // SAFETY: non-NULL; the caller passes a writable u32.
                unsafe { qpn.write(q.qpn) };
                0
            }
            _ => fail(libc::EINVAL),
        }
    })
}

/// `mrc_post_recv`: receives for Write-with-Immediate (the SGE is not used: the data goes
/// where the Write put it). ENOMEM when the receive queue is full; in ERROR the WRs complete
/// at once with `IBV_WC_WR_FLUSH_ERR`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_post_recv(
    qp: *mut MrcQp,
    wr: *mut IbvRecvWr,
    bad_wr: *mut *mut IbvRecvWr,
) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        let key = qp as usize;
        let mut w = wr;
        let mut err = 0;
        let mut wcs = Vec::new();
        {
            let Some(q) = st.qps.get_mut(&key) else {
                // SAFETY: `bad_wr` is NULL or writable.
                unsafe { put(bad_wr, wr) };
                return fail(libc::EINVAL);
            };
            if q.state == IBV_QPS_RESET || wr.is_null() {
                err = libc::EINVAL;
            }
            while err == 0 && !w.is_null() {
                // SAFETY: `w` is a non-NULL element of the caller's WR list.
                let r = unsafe { &*w };
                if !(0..=1).contains(&r.num_sge) {
                    err = libc::EINVAL;
                    break;
                }
                if q.recvs.len() >= q.cap.max_recv_wr as usize {
                    err = libc::ENOMEM;
                    break;
                }
                q.recvs.push_back(r.wr_id);
                w = r.next;
            }
            if q.state == IBV_QPS_ERR {
                engine::flush_recvs(q, &mut wcs);
            } else {
                engine::match_imms(q, &mut wcs);
            }
        }
        for (cq, wc) in wcs {
            st.push_wc(cq, wc);
        }
        if err != 0 {
            // SAFETY: `bad_wr` is NULL or writable.
            unsafe { put(bad_wr, w) };
            return fail(err);
        }
        0
    })
}

/// `mrc_post_send`: RDMA Write / Write-with-Immediate with one SGE inside an MR of the QP's PD,
/// or none (a zero-length Write: the remote address and key must still name a remote MR);
/// EINVAL otherwise, and EINVAL unless the QP is in RTS; ENOMEM when the send queue is full.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_post_send(
    qp: *mut MrcQp,
    wr: *mut IbvSendWr,
    bad_wr: *mut *mut IbvSendWr,
) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = qp as usize;
        let State { qps, mrs, ctxs, .. } = &mut *st;
        let Some(q) = qps.get_mut(&key) else {
            // SAFETY: `bad_wr` is NULL or writable.
            unsafe { put(bad_wr, wr) };
            return fail_code(libc::EINVAL);
        };
        let mut w = wr;
        let mut err = if wr.is_null() || q.state != IBV_QPS_RTS || q.peer.is_none() {
            libc::EINVAL
        } else {
            0
        };
        let mut posted = 0;
        let mut core = ctxs.get(&q.ctx).map(|c| c.engine.core());
        while err == 0 && !w.is_null() {
            // SAFETY: `w` is a non-NULL element of the caller's WR list.
            let r = unsafe { &*w };
            let imm = match r.opcode {
                IBV_WR_RDMA_WRITE => None,
                IBV_WR_RDMA_WRITE_WITH_IMM => Some(u32::from_be(r.imm_data)),
                _ => {
                    err = libc::EINVAL;
                    break;
                }
            };
            if !(0..=1).contains(&r.num_sge)
                || (r.num_sge == 1 && r.sg_list.is_null())
                || r.send_flags & IBV_SEND_INLINE != 0
            {
                err = libc::EINVAL;
                break;
            }
            let sge = if r.num_sge == 1 {
                // SAFETY: num_sge == 1 and sg_list is non-NULL: one readable ibv_sge.
                unsafe { r.sg_list.read() }
            } else {
                // A zero-length Write: no local bytes; any MR of the PD anchors the request.
                match mrs.values().filter(|m| m.pd == q.pd).map(|m| m.addr).min() {
                    Some(addr) => IbvSge {
                        addr,
                        length: 0,
                        lkey: 0,
                    },
                    None => {
                        err = libc::EINVAL;
                        break;
                    }
                }
            };
            let inside = mrs.values().any(|m| {
                (r.num_sge == 0 || m.lkey == sge.lkey)
                    && m.pd == q.pd
                    && sge.addr >= m.addr
                    && sge.addr.saturating_add(u64::from(sge.length)) <= m.addr + m.len
            });
            if !inside {
                err = libc::EINVAL;
                break;
            }
            if q.sends.len() >= q.cap.max_send_wr as usize {
                err = libc::ENOMEM;
                break;
            }
            let Some(conn) = core
                .as_mut()
                .and_then(|c| c.conn_mut(key))
                .filter(|_| q.live)
            else {
                err = libc::EINVAL;
                break;
            };
            let req = WriteRequest {
                wr_id: r.wr_id,
                local_addr: sge.addr,
                len: sge.length,
                remote_addr: r.wr_remote_addr,
                rkey: r.wr_rkey,
                imm,
            };
            match conn.post_write(req) {
                Ok(()) => {}
                Err(mrc_proto::PostError::QueueFull) => {
                    err = libc::ENOMEM;
                    break;
                }
                Err(_) => {
                    err = libc::EINVAL;
                    break;
                }
            }
            q.sends.push_back(SendWr {
                wr_id: r.wr_id,
                signaled: r.send_flags & IBV_SEND_SIGNALED != 0,
                len: sge.length,
            });
            posted += 1;
            w = r.next;
        }
        drop(core);
        if posted > 0
            && let Some(c) = ctxs.get(&q.ctx)
        {
            c.engine.kick();
        }
        if err != 0 {
            // SAFETY: `bad_wr` is NULL or writable.
            unsafe { put(bad_wr, w) };
            return fail_code(err);
        }
        0
    })
}

/// Reads one count from a semaphore eventfd (blocks unless the caller made it non-blocking).
fn wait_fd(fd: c_int) -> bool {
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into a local.
    let n = unsafe { libc::read(fd, (&raw mut v).cast(), 8) };
    n == 8
}

/// `mrc_get_async_event`: blocks until an event (QP fatal / access error) is queued.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_get_async_event(
    mrc_ctx: *mut MrcContext,
    event: *mut MrcAsyncEvent,
) -> c_int {
    guard(-1, || {
        let fd = {
            let st = state::lock();
            match st.ctxs.get(&(mrc_ctx as usize)) {
                Some(c) if !event.is_null() => c.async_fd.as_raw_fd(),
                _ => return fail(libc::EINVAL),
            }
        };
        if !wait_fd(fd) {
            return -1;
        }
        let mut st = state::lock();
        let Some((elem, t)) = st
            .ctxs
            .get_mut(&(mrc_ctx as usize))
            .and_then(|c| c.async_events.pop_front())
        else {
            return fail(libc::EAGAIN);
        };
        let element = if t == IBV_EVENT_CQ_ERR {
            MrcAsyncElement {
                cq: elem as *mut MrcCq,
            }
        } else if t == IBV_EVENT_PORT_ERR || t == IBV_EVENT_PORT_ACTIVE {
            MrcAsyncElement {
                port_num: elem as c_int,
            }
        } else {
            MrcAsyncElement {
                qp: elem as *mut MrcQp,
            }
        };
        // SAFETY: non-NULL; the caller passes a writable mrc_async_event.
        unsafe {
            event.write(MrcAsyncEvent {
                element,
                event_type: t,
            });
        }
        0
    })
}

/// `mrc_ack_async_event`: nothing to release.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ack_async_event(event: *mut MrcAsyncEvent) {
    let _ = event;
}

/// `mrc_req_notify_cq`: the next completion on the CQ queues an event on its channel.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_req_notify_cq(cq: *mut MrcCq, solicited_only: c_int) -> c_int {
    let _ = solicited_only;
    guard(libc::EIO, || {
        let mut st = state::lock();
        match st.cqs.get_mut(&(cq as usize)) {
            Some(c) if c.channel != 0 => {
                c.armed = true;
                0
            }
            _ => fail_code(libc::EINVAL),
        }
    })
}

/// `mrc_get_cq_event`: blocks on the channel's fd until a CQ event is queued.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_get_cq_event(
    channel: *mut MrcCompChannel,
    cq: *mut *mut MrcCq,
    cq_context: *mut *mut c_void,
) -> c_int {
    guard(-1, || {
        let fd = {
            let st = state::lock();
            match st.chans.get(&(channel as usize)) {
                Some(c) if !cq.is_null() && !cq_context.is_null() => c.fd.as_raw_fd(),
                _ => return fail(libc::EINVAL),
            }
        };
        if !wait_fd(fd) {
            return -1;
        }
        let mut st = state::lock();
        let Some(h) = st
            .chans
            .get_mut(&(channel as usize))
            .and_then(|c| c.queue.pop_front())
        else {
            return fail(libc::EAGAIN);
        };
        let Some(c) = st.cqs.get_mut(&h) else {
            return fail(libc::EAGAIN);
        };
        c.unacked_events += 1;
        // SAFETY: both non-NULL; the caller passes writable pointer slots.
        unsafe {
            cq.write(h as *mut MrcCq);
            cq_context.write(c.cq_context as *mut c_void);
        }
        0
    })
}

/// `mrc_ack_cq_events`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ack_cq_events(cq: *mut MrcCq, nevents: c_uint) {
    guard((), || {
        let mut st = state::lock();
        if let Some(c) = st.cqs.get_mut(&(cq as usize)) {
            c.unacked_events = c.unacked_events.saturating_sub(u64::from(nevents));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::*;
    use crate::verbs::*;

    /// A QP naming an ONLINE CC profile runs NSCC with the profile's parameters: its window
    /// starts at (and stays under) the profile's `max_cwnd`; a QP naming no configured profile
    /// keeps the device default; a configured but OFFLINE profile is refused.
    #[test]
    fn cc_profile_reaches_the_qp() {
        // SAFETY: calls into this library with valid, live arguments throughout.
        unsafe {
            let mut n = 0;
            let list = ibv_get_device_list(&raw mut n);
            let ibv = ibv_open_device(*list);
            ibv_free_device_list(list);
            let ctx = mrc_create_context(ibv, core::ptr::null_mut());
            assert!(!ctx.is_null());
            let cfg = MrcCtlCcNsccCfg {
                base_rtt: 20_000,
                max_cwnd: 16_384,
                target_delay: 15_000,
                qa_threshold: 60_000,
                adjust_period_threshold: 20_000,
                adjust_bytes_threshold: 65_536,
                eta: 100.0,
                fi: 1000.0,
                fi_scale: 0.5,
                gamma: 0.8,
                max_md_jump: 0.5,
                qa_gate: 3,
                disable_qa: 0,
            };
            let mut a = MrcCtlCcProfileAttr {
                profile_state: MRC_CTL_PROFILE_OFFLINE,
                cur_profile_state: 0,
                algorithm: c"uet-1.0-nscc".as_ptr(),
                cc_config: (&raw const cfg).cast(),
                vendor_cfg: [0; 128],
            };
            let m =
                MRC_CTL_CC_PROFILE_STATE | MRC_CTL_CC_PROFILE_ALGORITHM | MRC_CTL_CC_PROFILE_CONFIG;
            assert_eq!(mrc_ctl_modify_cc_profile(ctx, 41, &raw mut a, m), 0);
            let mut on = a;
            on.profile_state = MRC_CTL_PROFILE_ONLINE;
            let st_mask = MRC_CTL_CC_PROFILE_STATE;
            assert_eq!(mrc_ctl_modify_cc_profile(ctx, 41, &raw mut on, st_mask), 0);
            let pd = ibv_alloc_pd(ibv);
            let cq = mrc_create_cq(ctx, 64, core::ptr::null_mut(), core::ptr::null_mut(), 0);
            let mut init = MrcQpInitAttr {
                qp_context: core::ptr::null_mut(),
                send_cq: cq,
                recv_cq: cq,
                cap: IbvQpCap {
                    max_send_wr: 8,
                    max_recv_wr: 8,
                    max_send_sge: 1,
                    max_recv_sge: 1,
                    max_inline_data: 0,
                },
                sq_sig_all: 0,
                pd,
                send_ops_flags: 0,
                protocol_version: 0,
            };
            let to_rtr = |qp: *mut MrcQp, cc: u64, peer: u32| -> c_int {
                let mut v = IbvQpAttr {
                    qp_state: IBV_QPS_INIT,
                    ..IbvQpAttr::default()
                };
                let mut m = MrcQpAttrC {
                    mpr: MrcQpAttrMpr::default(),
                    wimm: MrcQpAttrWimm::default(),
                    timeout: 8,
                    profile: MrcQpAttrProfile {
                        ev_profile_id: 1,
                        cc_profile_id: cc,
                    },
                    retry: MrcQpAttrRetry::default(),
                    qp_hint: core::ptr::null_mut(),
                    cap: 0,
                    vendor_cfg: [0; 128],
                };
                let mm = MRC_QP_EV_PROFILE_ID | MRC_QP_CC_PROFILE_ID;
                assert_eq!(
                    mrc_modify_qp(qp, &raw mut v, IBV_QP_STATE, &raw mut m, mm),
                    0
                );
                v.qp_state = IBV_QPS_RTR;
                v.dest_qp_num = peer;
                v.ah_attr.grh.dgid.raw = Ipv6Addr::LOCALHOST.octets();
                mrc_modify_qp(
                    qp,
                    &raw mut v,
                    IBV_QP_STATE | IBV_QP_AV | IBV_QP_DEST_QPN,
                    core::ptr::null_mut(),
                    0,
                )
            };
            let q1 = mrc_create_qp(ctx, &raw mut init);
            let q2 = mrc_create_qp(ctx, &raw mut init);
            let (mut n1, mut n2) = (0, 0);
            assert_eq!(mrc_get_qpn(q1, &raw mut n1), 0);
            assert_eq!(mrc_get_qpn(q2, &raw mut n2), 0);
            assert_eq!(to_rtr(q1, 41, n2), 0);
            assert_eq!(to_rtr(q2, 1, n1), 0);
            {
                let st = state::lock();
                let core = st.ctxs[&(ctx as usize)].engine.core();
                let w1 = core.conn(q1 as usize).map(|c| c.cwnd());
                let w2 = core.conn(q2 as usize).map(|c| c.cwnd());
                assert!(w1.is_some_and(|w| w <= 16_384), "profile 41 window {w1:?}");
                assert!(w2.is_some_and(|w| w > 1 << 20), "default window {w2:?}");
            }
            // Profile 41 OFFLINE: a new QP naming it is refused at RTR.
            let mut off = a;
            off.profile_state = MRC_CTL_PROFILE_OFFLINE;
            assert_eq!(mrc_ctl_modify_cc_profile(ctx, 41, &raw mut off, st_mask), 0);
            let q3 = mrc_create_qp(ctx, &raw mut init);
            assert_eq!(to_rtr(q3, 41, n1), libc::EINVAL);
            for q in [q1, q2, q3] {
                assert_eq!(mrc_destroy_qp(q), 0);
            }
            assert_eq!(mrc_destroy_cq(cq), 0);
            assert_eq!(mrc_destroy_context(ctx), 0);
            assert_eq!(ibv_dealloc_pd(pd), 0);
            assert_eq!(ibv_close_device(ibv), 0);
        }
    }
}
