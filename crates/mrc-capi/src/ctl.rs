//! `mrc_ctl.h`: device query, port admin state, EV Format / EV / CC profiles, EV event CQs,
//! endpoint requests (`docs/capi.md` §Controller).
//!
//! Profiles live in the process (there is no device firmware to hold them): a controller and
//! the QPs that name its profiles must be the same process. A QP naming EV profile 0 or 1 that
//! the controller has not configured gets the built-in profile of its device.

use core::ffi::{c_char, c_int, c_void};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::evgen::{self, FieldError};
use crate::state::{self, State};
use crate::types::*;
use crate::{fail, guard, set_errno};

/// Largest EV array of one profile.
pub const EV_MAX_COUNT_PROFILE: u32 = 65_536;
/// EV profiles at most.
pub const EV_MAX_PROFILES: u32 = 64;
/// EV Format profiles at most.
pub const EV_MAX_FMT_PROFILES: u32 = 16;
/// EVs over all profiles.
pub const EV_MAX_COUNT: u32 = 1 << 22;
/// Widest EV value in bits (SRv6 + SRH).
pub const EV_MAX_WIDTH: u32 = 256;
/// Largest EV event CQ backlog (and at most the CQ's `cqe`) before events count as dropped.
const EV_EVENT_QUEUE: usize = 1 << 20;

/// An EV Format profile.
#[derive(Debug, Clone, Default)]
pub(crate) struct FmtProfile {
    pub state: u32,
    pub mode: u32,
    pub fields: Vec<u8>,
}

/// An EV profile.
#[derive(Debug, Clone, Default)]
pub(crate) struct EvProfile {
    pub state: u32,
    pub mode: u32,
    pub fmt_id: u64,
    pub count: u32,
    pub min_active: u32,
    pub event_mask: c_int,
    pub fields: Vec<MrcCtlEvField>,
    /// The EV array with each entry's state.
    pub evs: Vec<(MrcCtlEv, u32)>,
    /// Value → positions in `evs`.
    pub index: HashMap<MrcCtlEv, BTreeSet<usize>>,
}

impl EvProfile {
    fn reindex(&mut self) {
        self.index.clear();
        for (i, (e, _)) in self.evs.iter().enumerate() {
            self.index.entry(*e).or_default().insert(i);
        }
    }
}

/// A CC profile.
#[derive(Debug, Clone, Default)]
pub(crate) struct CcProfile {
    pub state: u32,
    pub algorithm: Option<usize>,
    pub config: Option<Box<MrcCtlCcNsccCfg>>,
}

/// The controller state of the process.
#[derive(Default)]
pub(crate) struct CtlState {
    pub fmts: BTreeMap<u64, FmtProfile>,
    pub evps: BTreeMap<u64, EvProfile>,
    pub ccps: BTreeMap<u64, CcProfile>,
    pub port_disabled: bool,
    /// EV event CQs (handle).
    pub ev_cqs: Vec<usize>,
}

impl CtlState {
    /// Port 1's administrative state.
    pub(crate) fn port_enabled(&self, port: u8) -> bool {
        port == 1 && !self.port_disabled
    }

    /// A context is gone: nothing of it is kept here (profiles outlive contexts).
    pub(crate) fn forget_context(&mut self, _ctx: usize) {}

    /// A CQ is gone.
    pub(crate) fn forget_cq(&mut self, cq: usize) {
        self.ev_cqs.retain(|&c| c != cq);
    }

    /// The EVs (transport EV numbers) a QP naming EV profile `id` uses on a device whose
    /// built-in EVs are `dev`: the built-in ones for unconfigured profiles 0 / 1 and AUTO
    /// profiles; otherwise entry i of the profile's array stands for the device's EV i, and the
    /// usable entries (not DENIED, not unpopulated) among the first `dev.len()` are taken.
    /// EINVAL if the profile is not ONLINE or leaves none.
    pub(crate) fn qp_evs(&self, id: u64, dev: &[u32]) -> Result<Vec<u32>, c_int> {
        let builtin = dev.to_vec();
        match self.evps.get(&id) {
            None if id <= 1 => Ok(builtin),
            None => Err(libc::EINVAL),
            Some(p) if p.state != MRC_CTL_PROFILE_ONLINE => Err(libc::EINVAL),
            Some(p) if p.mode == MRC_CTL_EV_MODE_AUTO => Ok(builtin),
            Some(p) => {
                let evs: Vec<u32> = p
                    .evs
                    .iter()
                    .zip(dev)
                    .filter(|((e, s), _)| *s != MRC_CTL_EV_DENIED && *e != MrcCtlEv::default())
                    .map(|(_, &d)| d)
                    .collect();
                if evs.is_empty() {
                    Err(libc::EINVAL)
                } else {
                    Ok(evs)
                }
            }
        }
    }

    /// The congestion control of a QP naming CC profile `id`, given the device default `dflt`:
    /// None (keep the default) for a profile the controller never configured; for an ONLINE
    /// profile NSCC with the profile's `mrc_ctl_cc_nscc_cfg` (the fields the API does not
    /// carry, α, MSS, minimum and initial window, stay the default's; the initial window is
    /// capped at `max_cwnd`), or a fixed 64 MiB window if its algorithm is NULL (CC disabled).
    /// EINVAL for a configured profile that is not ONLINE.
    pub(crate) fn qp_cc(
        &self,
        id: u64,
        dflt: &mrc_proto::CcAlgorithm,
    ) -> Result<Option<mrc_proto::CcAlgorithm>, c_int> {
        let Some(p) = self.ccps.get(&id) else {
            return Ok(None);
        };
        if p.state != MRC_CTL_PROFILE_ONLINE {
            return Err(libc::EINVAL);
        }
        let (Some(_), Some(c)) = (p.algorithm, p.config.as_deref()) else {
            return Ok(Some(mrc_proto::CcAlgorithm::Fixed(64 << 20)));
        };
        let base = match dflt {
            mrc_proto::CcAlgorithm::Nscc(n) => n.clone(),
            _ => mrc_proto::NsccConfig::for_network(
                10_000_000_000,
                mrc_proto::Duration::from_micros(1000),
                crate::engine::PAYLOAD,
                true,
            ),
        };
        Ok(Some(mrc_proto::CcAlgorithm::Nscc(mrc_proto::NsccConfig {
            disable_qa: c.disable_qa,
            adjust_bytes_threshold: c.adjust_bytes_threshold,
            adjust_period_threshold: c.adjust_period_threshold,
            base_rtt: c.base_rtt,
            eta: c.eta,
            fi: c.fi,
            fi_scale: c.fi_scale,
            gamma: c.gamma,
            max_md_jump: c.max_md_jump,
            max_cwnd: c.max_cwnd,
            qa_gate: c.qa_gate,
            qa_threshold: c.qa_threshold,
            target_delay: c.target_delay,
            initial_cwnd: base.initial_cwnd.min(c.max_cwnd),
            min_cwnd: base.min_cwnd.min(c.max_cwnd.max(1)),
            ..base
        })))
    }

    /// The EV value of transport EV `ev` of profile `id` (its array entry; for the built-in
    /// profile a STEV value holding the EV number).
    pub(crate) fn ev_value(&self, id: u64, ev: u32) -> MrcCtlEv {
        if let Some((e, _)) = self.evps.get(&id).and_then(|p| p.evs.get(ev as usize)) {
            return *e;
        }
        let mut e = MrcCtlEv::default();
        e.val[..4].copy_from_slice(&ev.to_le_bytes());
        e.port = 1;
        e
    }

    /// Queues an EV event on every EV event CQ (the profile's event mask permitting; the
    /// built-in profile reports GOOD and ASSUMED_BAD). A full CQ counts the event as dropped:
    /// the next event delivered carries the count.
    pub(crate) fn ev_event(
        &mut self,
        cqs: &mut HashMap<usize, state::Cq>,
        id: u64,
        ev: MrcCtlEv,
        st: u32,
    ) {
        let mask = self
            .evps
            .get(&id)
            .map_or((MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD) as c_int, |p| {
                p.event_mask
            });
        if mask as u32 & st == 0 {
            return;
        }
        for h in &self.ev_cqs {
            let Some(c) = cqs.get_mut(h) else { continue };
            let cap = c.cqe.min(EV_EVENT_QUEUE);
            let Some(q) = c.ev_events.as_mut() else {
                continue;
            };
            if q.events.len() >= cap {
                q.dropped = q.dropped.saturating_add(1);
                continue;
            }
            let drop_count = core::mem::take(&mut q.dropped);
            q.events.push_back(MrcCtlEvEvent {
                profile_id: id,
                ev,
                drop_count,
                state: st,
            });
        }
    }
}

/// The controller attributes of every software device.
pub fn device_attr() -> MrcCtlDeviceAttr {
    MrcCtlDeviceAttr {
        mrc_ctl_protocol_version: 1,
        ev: MrcCtlDeviceEvAttr {
            ev_max_fmt_profiles: EV_MAX_FMT_PROFILES,
            ev_max_profiles: EV_MAX_PROFILES,
            ev_max_count: EV_MAX_COUNT,
            ev_free_count: EV_MAX_COUNT,
            ev_max_count_profile: EV_MAX_COUNT_PROFILE,
            ev_count_align: 1,
            ev_max_width: EV_MAX_WIDTH,
            ev_fmt_mode_mask: MRC_CTL_EV_FMT_MODE_STEV | MRC_CTL_EV_FMT_MODE_SRV6,
            ev_mode_mask: MRC_CTL_EV_MODE_AUTO | MRC_CTL_EV_MODE_EXP | MRC_CTL_EV_MODE_GEN,
            ev_op_max_entries: 0,
        },
        cc: MrcCtlDeviceCcAttr {
            cc_max_profiles: 16,
            algorithms: ALGORITHMS.0.as_ptr().cast_mut(),
        },
        phy_port_mask: 1 << 1,
        opt_attr: MRC_CTL_OPT_CAP_EV_PROFILE_MODIFY_ONLINE
            | MRC_CTL_OPT_CAP_EV_EVENT
            | MRC_CTL_OPT_CAP_EV_EVENT_PRECISE_DROP_CNT
            | MRC_CTL_OPT_CAP_EP_OP_EV_PROBE,
    }
}

struct Algorithms([*const c_char; 2]);
// SAFETY: the pointers name static, immutable C strings.
unsafe impl Sync for Algorithms {}
static ALGORITHMS: Algorithms = Algorithms([c"uet-1.0-nscc".as_ptr(), core::ptr::null()]);

fn err_of(e: FieldError) -> c_int {
    match e {
        FieldError::Invalid => libc::EINVAL,
        FieldError::TooBig => libc::E2BIG,
    }
}

fn ctl_query_device(context: *mut IbvContext, attr: *mut MrcCtlDeviceAttr) -> c_int {
    let st = state::lock();
    if crate::verbs::ctx_device(&st, context).is_none() || attr.is_null() {
        return fail(libc::EINVAL);
    }
    let mut a = device_attr();
    let used: u32 = st.ctl.evps.values().map(|p| p.evs.len() as u32).sum();
    a.ev.ev_free_count = EV_MAX_COUNT.saturating_sub(used);
    // SAFETY: non-NULL; the caller passes a writable mrc_ctl_device_attr.
    unsafe { attr.write(a) };
    0
}

/// `mrc_ctl_query_device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_device(
    context: *mut IbvContext,
    ctl_attr: *mut MrcCtlDeviceAttr,
) -> c_int {
    guard(-1, || ctl_query_device(context, ctl_attr))
}

/// `mrc_ctl_query_device_ex`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_device_ex(
    context: *mut IbvContext,
    mcontext: *mut MrcContext,
    ctl_attr: *mut MrcCtlDeviceAttr,
    supported: *mut c_int,
) -> c_int {
    guard(-1, || {
        if !crate::api::mcontext_of(context, mcontext) {
            return fail(libc::EINVAL);
        }
        let rc = ctl_query_device(context, ctl_attr);
        if rc == 0 && !supported.is_null() {
            // SAFETY: non-NULL; the caller passes a writable int.
            unsafe { supported.write(1) };
        }
        rc
    })
}

/// `mrc_ctl_query_version`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_version(
    current_version: *mut u32,
    last_supported_version: *mut u32,
    vendor_version: *mut u32,
    last_supported_vendor_version: *mut u32,
) {
    let w = |p: *mut u32, v: u32| {
        if !p.is_null() {
            // SAFETY: non-NULL; the caller passes a writable u32.
            unsafe { p.write(v) };
        }
    };
    w(current_version, MRC_CTL_API_CURRENT_VERSION);
    w(last_supported_version, MRC_CTL_API_LAST_SUPPORTED_VERSION);
    w(vendor_version, MRC_CTL_VENDOR_API_CURRENT_VERSION);
    w(
        last_supported_vendor_version,
        MRC_CTL_VENDOR_API_LAST_SUPPORTED_VERSION,
    );
}

fn ctx_ok(st: &State, ctx: *mut MrcContext) -> bool {
    st.ctxs.contains_key(&(ctx as usize))
}

/// `mrc_ctl_query_port`: port 1.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_port(
    context: *mut MrcContext,
    port_num: u8,
    attr: *mut MrcCtlPortAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        if !ctx_ok(&st, context) || port_num != 1 || attr.is_null() {
            return fail(libc::EINVAL);
        }
        if attr_mask & !MRC_CTL_PORT_ADMIN_STATE != 0 {
            return fail(libc::EINVAL);
        }
        if attr_mask & MRC_CTL_PORT_ADMIN_STATE != 0 {
            let s = if st.ctl.port_disabled {
                MRC_CTL_PORT_ADMIN_DISABLED
            } else {
                MRC_CTL_PORT_ADMIN_ENABLED
            };
            // SAFETY: non-NULL; the caller passes a writable port attribute struct.
            unsafe { (*attr).port_admin_state = s };
        }
        0
    })
}

/// `mrc_ctl_modify_port`: a disabled port reports `IBV_PORT_DOWN` in `ibv_query_port`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_modify_port(
    context: *mut MrcContext,
    port_num: u8,
    attr: *mut MrcCtlPortAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        if !ctx_ok(&st, context) || port_num != 1 || attr.is_null() {
            return fail(libc::EINVAL);
        }
        if attr_mask & !MRC_CTL_PORT_ADMIN_STATE != 0 {
            return fail(libc::EINVAL);
        }
        if attr_mask & MRC_CTL_PORT_ADMIN_STATE != 0 {
            // SAFETY: non-NULL; the caller passes a readable port attribute struct.
            let s = unsafe { (*attr).port_admin_state };
            match s {
                MRC_CTL_PORT_ADMIN_DISABLED => st.ctl.port_disabled = true,
                MRC_CTL_PORT_ADMIN_ENABLED => st.ctl.port_disabled = false,
                _ => return fail(libc::EINVAL),
            }
        }
        0
    })
}

const FMT_MASK: c_int = MRC_CTL_EV_FMT_PROFILE_STATE
    | MRC_CTL_EV_FMT_PROFILE_CUR_STATE
    | MRC_CTL_EV_FMT_PROFILE_MODE
    | MRC_CTL_EV_FMT_PROFILE_OP
    | MRC_CTL_EV_FMT_VENDOR_CFG;

/// Reads `n` elements from a C array (empty if NULL or n ≤ 0).
///
/// # Safety
/// `p` must be NULL or point to `n` readable elements.
unsafe fn read_array<T: Copy>(p: *const T, n: c_int) -> Option<Vec<T>> {
    if p.is_null() || n <= 0 {
        return None;
    }
    // SAFETY: the caller guarantees n readable elements.
    Some(unsafe { core::slice::from_raw_parts(p, n as usize) }.to_vec())
}

/// The EV Format profile logic (testable without C pointers).
pub(crate) fn modify_fmt(
    ctl: &mut CtlState,
    id: u64,
    a: &MrcCtlEvFmtProfileAttr,
    fields: Option<Vec<u8>>,
    mask: c_int,
) -> Result<(), c_int> {
    if mask & !FMT_MASK != 0 || mask & MRC_CTL_EV_FMT_PROFILE_CUR_STATE != 0 {
        return Err(libc::EINVAL);
    }
    if !ctl.fmts.contains_key(&id) && ctl.fmts.len() >= EV_MAX_FMT_PROFILES as usize {
        return Err(libc::ENOMEM);
    }
    let in_use_online = ctl
        .evps
        .values()
        .any(|p| p.fmt_id == id && p.state == MRC_CTL_PROFILE_ONLINE);
    let p = ctl.fmts.get(&id).cloned().unwrap_or_default();
    let mut n = p.clone();
    let online = p.state == MRC_CTL_PROFILE_ONLINE;
    if mask & MRC_CTL_EV_FMT_PROFILE_MODE != 0 {
        if online {
            return Err(libc::EBUSY);
        }
        if a.ev_fmt_mode & device_attr().ev.ev_fmt_mode_mask == 0 || a.ev_fmt_mode.count_ones() != 1
        {
            return Err(libc::EINVAL);
        }
        n.mode = a.ev_fmt_mode;
    }
    if mask & MRC_CTL_EV_FMT_PROFILE_OP != 0 {
        match a.ev_fmt_op.op {
            MRC_CTL_EV_FMT_OP_MODIFY_FIELDS => {
                if online {
                    return Err(libc::EBUSY);
                }
                let f = fields.ok_or(libc::EINVAL)?;
                let max = if n.mode == MRC_CTL_EV_FMT_MODE_STEV {
                    32
                } else {
                    EV_MAX_WIDTH
                };
                evgen::check_format(&f, max).map_err(err_of)?;
                n.fields = f;
            }
            MRC_CTL_EV_FMT_OP_QUERY_FIELDS => {}
            _ => return Err(libc::EINVAL),
        }
    }
    if mask & MRC_CTL_EV_FMT_PROFILE_STATE != 0 {
        let to = a.profile_state;
        let ok = match (p.state, to) {
            (x, y) if x == y => true,
            (MRC_CTL_PROFILE_INIT, MRC_CTL_PROFILE_OFFLINE) => n.mode != 0,
            (MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_ONLINE) => {
                n.mode != 0 && !n.fields.is_empty()
            }
            (MRC_CTL_PROFILE_ONLINE, MRC_CTL_PROFILE_OFFLINE) => {
                if in_use_online {
                    return Err(libc::EBUSY);
                }
                true
            }
            (MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_INIT) => true,
            _ => false,
        };
        if !ok {
            return Err(libc::EINVAL);
        }
        n.state = to;
        if to == MRC_CTL_PROFILE_INIT {
            n = FmtProfile::default();
        }
    } else if p.state == MRC_CTL_PROFILE_INIT && mask & !MRC_CTL_EV_FMT_VENDOR_CFG != 0 {
        // Configuring an INIT profile without moving it: keep it INIT but remember.
    }
    ctl.fmts.insert(id, n);
    Ok(())
}

/// `mrc_ctl_modify_ev_fmt_profile`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_modify_ev_fmt_profile(
    mrc_ctx: *mut MrcContext,
    ev_fmt_profile_id: u64,
    attr: *mut MrcCtlEvFmtProfileAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        if !ctx_ok(&st, mrc_ctx) || attr.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: non-NULL; the caller passes a readable attribute struct.
        let a = unsafe { attr.read() };
        let n = a.ev_fmt_op.fmt_field_count;
        if attr_mask & MRC_CTL_EV_FMT_PROFILE_OP != 0
            && (n < 0 || (a.ev_fmt_op.fmt_fields.is_null() && n > 0))
        {
            return fail(libc::EINVAL);
        }
        // SAFETY: fmt_fields points to fmt_field_count fields when the op modifies them.
        let fields = unsafe { read_array(a.ev_fmt_op.fmt_fields, a.ev_fmt_op.fmt_field_count) }
            .map(|v| v.iter().map(|f| f.width).collect());
        match modify_fmt(&mut st.ctl, ev_fmt_profile_id, &a, fields, attr_mask) {
            Ok(()) => 0,
            Err(e) => fail(e),
        }
    })
}

/// `mrc_ctl_query_ev_fmt_profile`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_ev_fmt_profile(
    mrc_ctx: *mut MrcContext,
    ev_fmt_profile_id: u64,
    attr: *mut MrcCtlEvFmtProfileAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        if !ctx_ok(&st, mrc_ctx) || attr.is_null() || attr_mask & !FMT_MASK != 0 {
            return fail(libc::EINVAL);
        }
        let p = st
            .ctl
            .fmts
            .get(&ev_fmt_profile_id)
            .cloned()
            .unwrap_or_default();
        // SAFETY: non-NULL; the caller passes a readable and writable attribute struct; the
        // field array is written only within the count the caller gave.
        unsafe {
            let a = &mut *attr;
            if attr_mask & (MRC_CTL_EV_FMT_PROFILE_STATE | MRC_CTL_EV_FMT_PROFILE_CUR_STATE) != 0 {
                a.profile_state = p.state;
                a.cur_profile_state = p.state;
            }
            if attr_mask & MRC_CTL_EV_FMT_PROFILE_MODE != 0 {
                a.ev_fmt_mode = p.mode;
            }
            if attr_mask & MRC_CTL_EV_FMT_PROFILE_OP != 0 {
                if a.ev_fmt_op.op != MRC_CTL_EV_FMT_OP_QUERY_FIELDS {
                    return fail(libc::EINVAL);
                }
                let need = p.fields.len() as c_int;
                if a.ev_fmt_op.fmt_field_count < need
                    || (a.ev_fmt_op.fmt_fields.is_null() && need > 0)
                {
                    a.ev_fmt_op.fmt_field_count = need;
                    return fail(libc::E2BIG);
                }
                for (i, &w) in p.fields.iter().enumerate() {
                    a.ev_fmt_op
                        .fmt_fields
                        .add(i)
                        .write(MrcCtlEvFmtField { width: w });
                }
                a.ev_fmt_op.fmt_field_count = need;
            }
        }
        0
    })
}

const EVP_MASK: c_int = MRC_CTL_EV_PROFILE_STATE
    | MRC_CTL_EV_PROFILE_CUR_STATE
    | MRC_CTL_EV_PROFILE_MODE
    | MRC_CTL_EV_PROFILE_FMT_ID
    | MRC_CTL_EV_PROFILE_COUNT
    | MRC_CTL_EV_PROFILE_MIN_ACTIVE
    | MRC_CTL_EV_PROFILE_EVENT_MASK
    | MRC_CTL_EV_PROFILE_EV_OP
    | MRC_CTL_EV_PROFILE_EV_FIELDS_OP
    | MRC_CTL_EV_PROFILE_VENDOR_CFG;

/// The operation arrays of an EV profile modify call, read out of C memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct EvOps {
    /// `ev_op.entries`.
    pub entries: Vec<MrcCtlEvOpEntry>,
    /// `ev_fields_op.fields`.
    pub fields: Vec<MrcCtlEvField>,
}

/// EV events to queue: (profile, EV, new state).
type Events = Vec<(u64, MrcCtlEv, u32)>;

/// The EV profile modify logic (testable without C pointers). Returns EV state changes for
/// the event CQs.
pub(crate) fn modify_ev(
    ctl: &mut CtlState,
    id: u64,
    a: &MrcCtlEvProfileAttr,
    ops: &EvOps,
    mask: c_int,
) -> Result<Events, c_int> {
    if mask & !EVP_MASK != 0
        || mask & MRC_CTL_EV_PROFILE_CUR_STATE != 0
        || (mask & MRC_CTL_EV_PROFILE_EV_OP != 0 && mask & MRC_CTL_EV_PROFILE_EV_FIELDS_OP != 0)
    {
        return Err(libc::EINVAL);
    }
    if !ctl.evps.contains_key(&id) && ctl.evps.len() >= EV_MAX_PROFILES as usize {
        return Err(libc::ENOMEM);
    }
    let mut p = ctl.evps.remove(&id).unwrap_or_default();
    let saved = (
        p.state,
        p.mode,
        p.fmt_id,
        p.count,
        p.min_active,
        p.event_mask,
        p.fields.clone(),
    );
    let r = apply_ev(ctl, id, &mut p, a, ops, mask);
    if r.is_err() {
        // Attribute changes are all or nothing; EV operations may have partly succeeded
        // (the header's per-entry semantics) and stay.
        (
            p.state,
            p.mode,
            p.fmt_id,
            p.count,
            p.min_active,
            p.event_mask,
            p.fields,
        ) = saved;
    }
    ctl.evps.insert(id, p);
    r
}

fn apply_ev(
    ctl: &CtlState,
    id: u64,
    p: &mut EvProfile,
    a: &MrcCtlEvProfileAttr,
    ops: &EvOps,
    mask: c_int,
) -> Result<Events, c_int> {
    let old_state = p.state;
    let online = old_state == MRC_CTL_PROFILE_ONLINE;
    let has = |b: c_int| mask & b != 0;
    let mut events = Vec::new();
    if online
        && (has(MRC_CTL_EV_PROFILE_MODE)
            || has(MRC_CTL_EV_PROFILE_FMT_ID)
            || has(MRC_CTL_EV_PROFILE_COUNT)
            || has(MRC_CTL_EV_PROFILE_MIN_ACTIVE))
    {
        return Err(libc::EBUSY);
    }
    if has(MRC_CTL_EV_PROFILE_MODE) {
        if a.ev_mode.count_ones() != 1 || a.ev_mode & device_attr().ev.ev_mode_mask == 0 {
            return Err(libc::EINVAL);
        }
        p.mode = a.ev_mode;
    }
    if has(MRC_CTL_EV_PROFILE_FMT_ID) {
        p.fmt_id = a.ev_fmt_profile_id;
    }
    if has(MRC_CTL_EV_PROFILE_COUNT) {
        if a.ev_count == 0 {
            return Err(libc::EINVAL);
        }
        if a.ev_count > EV_MAX_COUNT_PROFILE {
            return Err(libc::E2BIG);
        }
        p.count = a.ev_count;
    }
    if has(MRC_CTL_EV_PROFILE_MIN_ACTIVE) {
        p.min_active = a.ev_min_active;
    }
    if has(MRC_CTL_EV_PROFILE_EVENT_MASK) {
        if a.ev_event_mask as u32 & !(MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD) != 0 {
            return Err(libc::EINVAL);
        }
        p.event_mask = a.ev_event_mask;
    }
    let fmt_fields = |ctl: &CtlState, p: &EvProfile| {
        ctl.fmts
            .get(&p.fmt_id)
            .filter(|f| f.state != MRC_CTL_PROFILE_INIT)
            .map(|f| f.fields.clone())
    };
    if has(MRC_CTL_EV_PROFILE_EV_FIELDS_OP) {
        match a.ev_fields_op.op {
            MRC_CTL_EV_FIELDS_OP_MODIFY_FIELDS => {
                if ops.fields.is_empty() {
                    return Err(libc::EINVAL);
                }
                let fmt = fmt_fields(ctl, p).ok_or(libc::EINVAL)?;
                evgen::check_fields(&ops.fields, &fmt).map_err(err_of)?;
                p.fields = ops.fields.clone();
                if p.mode == MRC_CTL_EV_MODE_GEN && p.state != MRC_CTL_PROFILE_INIT {
                    p.evs = evgen::generate(&p.fields, &fmt, p.count, 1)
                        .into_iter()
                        .map(|e| (e, MRC_CTL_EV_GOOD))
                        .collect();
                    p.reindex();
                }
            }
            MRC_CTL_EV_FIELDS_OP_QUERY_FIELDS => {}
            _ => return Err(libc::EINVAL),
        }
    }
    // State transition (before EV operations: the examples move to OFFLINE and then populate).
    if has(MRC_CTL_EV_PROFILE_STATE) {
        let to = a.profile_state;
        match (old_state, to) {
            (x, y) if x == y => {}
            (MRC_CTL_PROFILE_INIT, MRC_CTL_PROFILE_OFFLINE) => {
                if p.mode == 0 {
                    return Err(libc::EINVAL);
                }
                if p.mode != MRC_CTL_EV_MODE_AUTO {
                    let fmt = fmt_fields(ctl, p).ok_or(libc::EINVAL)?;
                    if p.count == 0 {
                        return Err(libc::EINVAL);
                    }
                    if p.mode == MRC_CTL_EV_MODE_GEN {
                        if p.fields.is_empty() {
                            return Err(libc::EINVAL);
                        }
                        p.evs = evgen::generate(&p.fields, &fmt, p.count, 1)
                            .into_iter()
                            .map(|e| (e, MRC_CTL_EV_GOOD))
                            .collect();
                        // The implementation-adjusted count (at most the combinations).
                        p.count = p.evs.len() as u32;
                    } else {
                        p.evs = vec![(MrcCtlEv::default(), MRC_CTL_EV_GOOD); p.count as usize];
                    }
                    p.reindex();
                }
            }
            (MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_ONLINE) => {
                if p.mode != MRC_CTL_EV_MODE_AUTO {
                    let fmt_online = ctl
                        .fmts
                        .get(&p.fmt_id)
                        .is_some_and(|f| f.state == MRC_CTL_PROFILE_ONLINE);
                    let populated = p.evs.iter().all(|(e, _)| *e != MrcCtlEv::default());
                    if !fmt_online || !populated || p.min_active > p.count {
                        return Err(libc::EINVAL);
                    }
                }
            }
            (MRC_CTL_PROFILE_ONLINE, MRC_CTL_PROFILE_OFFLINE) => {}
            (MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_INIT) => {
                *p = EvProfile::default();
            }
            _ => return Err(libc::EINVAL),
        }
        p.state = to;
    }
    if has(MRC_CTL_EV_PROFILE_EV_OP) {
        if p.state == MRC_CTL_PROFILE_INIT || p.mode == MRC_CTL_EV_MODE_AUTO {
            return Err(libc::EINVAL);
        }
        match a.ev_op.op {
            MRC_CTL_EV_OP_REPLACE_EV => {
                if p.mode != MRC_CTL_EV_MODE_EXP {
                    return Err(libc::EINVAL);
                }
                for e in &ops.entries {
                    let all = e.flags & MRC_CTL_EV_OP_F_ALL_COPIES != 0;
                    let st = if e.state == 0 {
                        MRC_CTL_EV_GOOD
                    } else {
                        e.state
                    };
                    let pos: Vec<usize> = match p.index.get(&e.ev) {
                        Some(v) if all => v.iter().copied().collect(),
                        Some(v) => v.first().copied().into_iter().collect(),
                        None => Vec::new(),
                    };
                    if pos.is_empty() {
                        return Err(libc::ENOENT);
                    }
                    for i in pos {
                        if let Some(slot) = p.evs.get_mut(i) {
                            *slot = (e.ev_new, st);
                        }
                        if let Some(v) = p.index.get_mut(&e.ev) {
                            v.remove(&i);
                            if v.is_empty() {
                                p.index.remove(&e.ev);
                            }
                        }
                        p.index.entry(e.ev_new).or_default().insert(i);
                    }
                }
            }
            MRC_CTL_EV_OP_MODIFY_EV_STATE => {
                for e in &ops.entries {
                    if !matches!(
                        e.state,
                        MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD | MRC_CTL_EV_DENIED
                    ) {
                        return Err(libc::EINVAL);
                    }
                    let pos: Vec<usize> = p
                        .index
                        .get(&e.ev)
                        .map(|v| v.iter().copied().collect())
                        .unwrap_or_default();
                    if pos.is_empty() {
                        return Err(libc::ENOENT);
                    }
                    for i in pos {
                        if let Some(slot) = p.evs.get_mut(i)
                            && slot.1 != e.state
                        {
                            slot.1 = e.state;
                            events.push((id, e.ev, e.state));
                        }
                    }
                }
            }
            MRC_CTL_EV_OP_QUERY_EV_STATE | MRC_CTL_EV_OP_QUERY_EV_ARRAY => {}
            _ => return Err(libc::EINVAL),
        }
    }
    Ok(events)
}

/// `mrc_ctl_modify_ev_profile`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_modify_ev_profile(
    mrc_ctx: *mut MrcContext,
    ev_profile_id: u64,
    attr: *mut MrcCtlEvProfileAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        if !ctx_ok(&st, mrc_ctx) || attr.is_null() {
            return fail(libc::EINVAL);
        }
        // SAFETY: non-NULL; the caller passes a readable attribute struct.
        let a = unsafe { attr.read() };
        let bad_array = |p: bool, n: c_int| n < 0 || (p && n > 0);
        if (attr_mask & MRC_CTL_EV_PROFILE_EV_OP != 0
            && bad_array(a.ev_op.entries.is_null(), a.ev_op.entry_count))
            || (attr_mask & MRC_CTL_EV_PROFILE_EV_FIELDS_OP != 0
                && bad_array(a.ev_fields_op.fields.is_null(), a.ev_fields_op.field_count))
        {
            return fail(libc::EINVAL);
        }
        let mut ops = EvOps::default();
        if attr_mask & MRC_CTL_EV_PROFILE_EV_OP != 0 {
            // SAFETY: entries points to entry_count readable entries (header contract).
            ops.entries =
                unsafe { read_array(a.ev_op.entries, a.ev_op.entry_count) }.unwrap_or_default();
        }
        if attr_mask & MRC_CTL_EV_PROFILE_EV_FIELDS_OP != 0
            && a.ev_fields_op.op == MRC_CTL_EV_FIELDS_OP_MODIFY_FIELDS
        {
            // SAFETY: fields points to field_count readable fields (header contract).
            ops.fields = unsafe { read_array(a.ev_fields_op.fields, a.ev_fields_op.field_count) }
                .unwrap_or_default();
        }
        let State { ctl, cqs, .. } = &mut *st;
        match modify_ev(ctl, ev_profile_id, &a, &ops, attr_mask) {
            Ok(events) => {
                for (id, ev, s) in events {
                    ctl.ev_event(cqs, id, ev, s);
                }
                notify_ev_cqs(&mut st);
                0
            }
            Err(e) => fail(e),
        }
    })
}

/// Signals the channels of EV event CQs that hold events and are armed.
pub(crate) fn notify_ev_cqs(st: &mut State) {
    let cqs: Vec<usize> = st.ctl.ev_cqs.clone();
    for h in cqs {
        let Some(c) = st.cqs.get_mut(&h) else {
            continue;
        };
        let pending = c.ev_events.as_ref().is_some_and(|q| !q.events.is_empty());
        if pending && c.armed && c.channel != 0 {
            c.armed = false;
            let ch = c.channel;
            if let Some(chan) = st.chans.get_mut(&ch) {
                chan.queue.push_back(h);
                state::signal(&chan.fd);
            }
        }
    }
}

/// `mrc_ctl_query_ev_profile`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_ev_profile(
    mrc_ctx: *mut MrcContext,
    ev_profile_id: u64,
    attr: *mut MrcCtlEvProfileAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        if !ctx_ok(&st, mrc_ctx)
            || attr.is_null()
            || attr_mask & !EVP_MASK != 0
            || (attr_mask & MRC_CTL_EV_PROFILE_EV_OP != 0
                && attr_mask & MRC_CTL_EV_PROFILE_EV_FIELDS_OP != 0)
        {
            return fail(libc::EINVAL);
        }
        let empty = EvProfile::default();
        let p = st.ctl.evps.get(&ev_profile_id).unwrap_or(&empty);
        let has = |b: c_int| attr_mask & b != 0;
        // SAFETY: non-NULL; the caller passes a readable, writable attribute struct; output
        // arrays are written only within the counts the caller gave.
        unsafe {
            let a = &mut *attr;
            if has(MRC_CTL_EV_PROFILE_STATE | MRC_CTL_EV_PROFILE_CUR_STATE) {
                a.profile_state = p.state;
                a.cur_profile_state = p.state;
            }
            if has(MRC_CTL_EV_PROFILE_MODE) {
                a.ev_mode = p.mode;
            }
            if has(MRC_CTL_EV_PROFILE_FMT_ID) {
                a.ev_fmt_profile_id = p.fmt_id;
            }
            if has(MRC_CTL_EV_PROFILE_COUNT) {
                a.ev_count = p.count;
            }
            if has(MRC_CTL_EV_PROFILE_MIN_ACTIVE) {
                a.ev_min_active = p.min_active;
            }
            if has(MRC_CTL_EV_PROFILE_EVENT_MASK) {
                a.ev_event_mask = p.event_mask;
            }
            if has(MRC_CTL_EV_PROFILE_EV_FIELDS_OP) {
                if a.ev_fields_op.op != MRC_CTL_EV_FIELDS_OP_QUERY_FIELDS {
                    return fail(libc::EINVAL);
                }
                let need = p.fields.len() as c_int;
                if a.ev_fields_op.field_count < need
                    || (a.ev_fields_op.fields.is_null() && need > 0)
                {
                    a.ev_fields_op.field_count = need;
                    return fail(libc::E2BIG);
                }
                for (i, f) in p.fields.iter().enumerate() {
                    a.ev_fields_op.fields.add(i).write(*f);
                }
                a.ev_fields_op.field_count = need;
            }
            if has(MRC_CTL_EV_PROFILE_EV_OP) {
                match a.ev_op.op {
                    MRC_CTL_EV_OP_QUERY_EV_ARRAY => {
                        let need = p.evs.len() as c_int;
                        if a.ev_op.entry_count < need || (a.ev_op.entries.is_null() && need > 0) {
                            a.ev_op.entry_count = need;
                            return fail(libc::E2BIG);
                        }
                        for (i, (e, s)) in p.evs.iter().enumerate() {
                            let o = a.ev_op.entries.add(i);
                            (*o).ev = *e;
                            (*o).state = *s;
                        }
                        a.ev_op.entry_count = need;
                    }
                    MRC_CTL_EV_OP_QUERY_EV_STATE => {
                        let n = a.ev_op.entry_count.max(0) as usize;
                        if n > 0 && a.ev_op.entries.is_null() {
                            return fail(libc::EINVAL);
                        }
                        for i in 0..n {
                            let o = a.ev_op.entries.add(i);
                            let Some(&j) = p.index.get(&(*o).ev).and_then(|v| v.first()) else {
                                return fail(libc::ENOENT);
                            };
                            (*o).state = p.evs.get(j).map_or(MRC_CTL_EV_UNKNOWN, |e| e.1);
                        }
                    }
                    _ => return fail(libc::EINVAL),
                }
            }
        }
        0
    })
}

const CC_MASK: c_int = MRC_CTL_CC_PROFILE_STATE
    | MRC_CTL_CC_PROFILE_CUR_STATE
    | MRC_CTL_CC_PROFILE_ALGORITHM
    | MRC_CTL_CC_PROFILE_CONFIG
    | MRC_CTL_CC_PROFILE_VENDOR_CFG;

/// `mrc_ctl_modify_cc_profile`: algorithm `"uet-1.0-nscc"` (or NULL: CC disabled) with a
/// `struct mrc_ctl_cc_nscc_cfg`; QPs created in this process that name the profile run NSCC
/// with these parameters (`CtlState::qp_cc`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_modify_cc_profile(
    mrc_ctx: *mut MrcContext,
    cc_profile_id: u64,
    attr: *mut MrcCtlCcProfileAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let mut st = state::lock();
        if !ctx_ok(&st, mrc_ctx)
            || attr.is_null()
            || attr_mask & !CC_MASK != 0
            || attr_mask & MRC_CTL_CC_PROFILE_CUR_STATE != 0
        {
            return fail(libc::EINVAL);
        }
        // SAFETY: non-NULL; the caller passes a readable attribute struct.
        let a = unsafe { attr.read() };
        let old = st.ctl.ccps.get(&cc_profile_id).cloned().unwrap_or_default();
        let mut p = old.clone();
        let online = old.state == MRC_CTL_PROFILE_ONLINE;
        if attr_mask & MRC_CTL_CC_PROFILE_ALGORITHM != 0 {
            if online {
                return fail(libc::EBUSY);
            }
            if a.algorithm.is_null() {
                p.algorithm = None;
            } else {
                // SAFETY: non-NULL; the caller passes a NUL-terminated string.
                let s = unsafe { core::ffi::CStr::from_ptr(a.algorithm) };
                if s != c"uet-1.0-nscc" {
                    return fail(libc::EINVAL);
                }
                p.algorithm = Some(0);
            }
        }
        if attr_mask & MRC_CTL_CC_PROFILE_CONFIG != 0 {
            if a.cc_config.is_null() {
                return fail(libc::EINVAL);
            }
            // SAFETY: non-NULL; for NSCC the caller passes a struct mrc_ctl_cc_nscc_cfg.
            let c = unsafe { a.cc_config.cast::<MrcCtlCcNsccCfg>().read() };
            if !(c.eta.is_finite() && c.fi.is_finite() && c.gamma.is_finite()) || c.base_rtt == 0 {
                return fail(libc::EINVAL);
            }
            p.config = Some(Box::new(c));
        }
        if attr_mask & MRC_CTL_CC_PROFILE_STATE != 0 {
            let to = a.profile_state;
            let ok = match (old.state, to) {
                (x, y) if x == y => true,
                (MRC_CTL_PROFILE_INIT, MRC_CTL_PROFILE_OFFLINE) => {
                    attr_mask & MRC_CTL_CC_PROFILE_ALGORITHM != 0 || p.algorithm.is_some()
                }
                (MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_ONLINE) => {
                    p.config.is_some() || p.algorithm.is_none()
                }
                (MRC_CTL_PROFILE_ONLINE, MRC_CTL_PROFILE_OFFLINE) => true,
                (MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_INIT) => {
                    p = CcProfile::default();
                    true
                }
                _ => false,
            };
            if !ok {
                return fail(libc::EINVAL);
            }
            p.state = to;
        }
        st.ctl.ccps.insert(cc_profile_id, p);
        0
    })
}

/// `mrc_ctl_query_cc_profile`: `cc_config` points to the library's copy (valid until the
/// profile is next modified).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_query_cc_profile(
    mrc_ctx: *mut MrcContext,
    cc_profile_id: u64,
    attr: *mut MrcCtlCcProfileAttr,
    attr_mask: c_int,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        if !ctx_ok(&st, mrc_ctx) || attr.is_null() || attr_mask & !CC_MASK != 0 {
            return fail(libc::EINVAL);
        }
        let empty = CcProfile::default();
        let p = st.ctl.ccps.get(&cc_profile_id).unwrap_or(&empty);
        // SAFETY: non-NULL; the caller passes a writable attribute struct.
        unsafe {
            let a = &mut *attr;
            if attr_mask & (MRC_CTL_CC_PROFILE_STATE | MRC_CTL_CC_PROFILE_CUR_STATE) != 0 {
                a.profile_state = p.state;
                a.cur_profile_state = p.state;
            }
            if attr_mask & MRC_CTL_CC_PROFILE_ALGORITHM != 0 {
                a.algorithm = p
                    .algorithm
                    .and_then(|i| ALGORITHMS.0.get(i).copied())
                    .unwrap_or(core::ptr::null());
            }
            if attr_mask & MRC_CTL_CC_PROFILE_CONFIG != 0 {
                a.cc_config = p.config.as_deref().map_or(core::ptr::null(), |c| {
                    core::ptr::from_ref(c).cast::<c_void>()
                });
            }
        }
        0
    })
}

/// `mrc_ctl_create_ev_event_cq`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_create_ev_event_cq(
    mrc_ctx: *mut MrcContext,
    cqe: c_int,
    cq_context: *mut c_void,
    channel: *mut MrcCompChannel,
    comp_vector: c_int,
) -> *mut MrcCq {
    guard(core::ptr::null_mut(), || {
        let cq = crate::api::create_cq(mrc_ctx, cqe, cq_context, channel, comp_vector, true);
        if !cq.is_null() {
            state::lock().ctl.ev_cqs.push(cq as usize);
        }
        cq
    })
}

/// `mrc_ctl_poll_ev_event`: returns the number of events, or `-errno` (EINVAL for a CQ that
/// is not an EV event CQ).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_poll_ev_event(
    ev_cq: *mut MrcCq,
    num_entries: c_int,
    ev_event: *mut MrcCtlEvEvent,
) -> c_int {
    guard(-libc::EIO, || {
        let mut st = state::lock();
        let old_api = st
            .cqs
            .get(&(ev_cq as usize))
            .and_then(|c| st.ctxs.get(&c.ctx))
            .is_some_and(|x| x.api_version < api_ver(1, 0, 1));
        let Some(q) = st
            .cqs
            .get_mut(&(ev_cq as usize))
            .and_then(|c| c.ev_events.as_mut())
        else {
            set_errno(libc::EINVAL);
            return -libc::EINVAL;
        };
        if num_entries < 0 || (ev_event.is_null() && num_entries > 0) {
            set_errno(libc::EINVAL);
            return -libc::EINVAL;
        }
        let mut n = 0;
        while n < num_entries {
            let Some(mut e) = q.events.pop_front() else {
                break;
            };
            if old_api {
                // Before API 1.0.1 the struct ends after drop_count (48 bytes, no `state`):
                // write the caller's shorter layout.
                e.state = 0;
                let short = core::mem::offset_of!(MrcCtlEvEvent, state).next_multiple_of(8);
                // SAFETY: the caller's array has num_entries elements of the short layout and
                // n < num_entries; `e` is a local of at least `short` bytes.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        (&raw const e).cast::<u8>(),
                        ev_event.cast::<u8>().add(n as usize * short),
                        short,
                    );
                }
                n += 1;
                continue;
            }
            // SAFETY: `ev_event` has room for num_entries events and n < num_entries.
            unsafe { ev_event.add(n as usize).write(e) };
            n += 1;
        }
        n
    })
}

/// The transport EV an EV probe names: an entry of an ONLINE EV profile (entry i = the device's
/// EV i), or a STEV value that is one of the device's EVs.
pub(crate) fn probe_ev(ctl: &CtlState, ev: &MrcCtlEv, dev: &[u32]) -> Option<u32> {
    for p in ctl.evps.values() {
        if p.state != MRC_CTL_PROFILE_ONLINE {
            continue;
        }
        if let Some(&i) = p.index.get(ev).and_then(|v| v.first()) {
            return dev.get(i).copied();
        }
    }
    let v = u32::from_le_bytes([ev.val[0], ev.val[1], ev.val[2], ev.val[3]]);
    let rest_zero = ev.val[4..].iter().all(|&b| b == 0);
    (rest_zero && ev.port == 1 && dev.contains(&v)).then_some(v)
}

/// `mrc_ctl_ep_batch_send_wait`: EV probes (`MRC_CTL_EP_OP_EV_PROBE`) or port status updates
/// (`MRC_CTL_EP_OP_PORT_STATUS_UPDATE`: the QPs of the `dgid` endpoint bound to this device stop
/// sending on the planes whose ports the mask leaves out) on the paths the requests' EVs name;
/// each answer gives its RTT. `sgid` must be the device's GID; on `mrclo` a request reaches the
/// requesting context itself, on a fabric NIC the context that has the `dgid` NIC open.
/// ETIMEDOUT (with `*num_rsp` set) if not all answers came in time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_ctl_ep_batch_send_wait(
    mrc_ctx: *mut MrcContext,
    req_tc: u8,
    op_type: u32,
    req: *mut MrcCtlEpReq,
    num_req: c_int,
    rsp_timeout: u32,
    rsp: *mut MrcCtlEpRsp,
    num_rsp: *mut c_int,
) -> c_int {
    let _ = req_tc;
    guard(-1, || {
        let key = mrc_ctx as usize;
        if req.is_null() || rsp.is_null() || num_rsp.is_null() || !(1..=4096).contains(&num_req) {
            return fail(libc::EINVAL);
        }
        // SAFETY: non-NULL; the caller passes a writable int.
        unsafe { num_rsp.write(0) };
        let port_status = match op_type {
            MRC_CTL_EP_OP_EV_PROBE => false,
            MRC_CTL_EP_OP_PORT_STATUS_UPDATE => true,
            _ => return fail(libc::EINVAL),
        };
        // SAFETY: `req` holds num_req readable requests (header contract).
        let reqs = unsafe { core::slice::from_raw_parts(req, num_req as usize) }.to_vec();
        {
            let mut st = state::lock();
            let Some(c) = st.ctxs.get(&key) else {
                return fail(libc::EINVAL);
            };
            let Some(dev) = st.devices.get(c.dev) else {
                return fail(libc::EINVAL);
            };
            let (gid, dev_evs) = (
                IbvGid {
                    raw: dev.addr.octets(),
                },
                dev.evs.clone(),
            );
            let mut plan = Vec::new();
            for r in &reqs {
                let Some(ev) = probe_ev(&st.ctl, &r.req_ev, &dev_evs) else {
                    return fail(libc::EINVAL);
                };
                if r.sgid != gid || r.ev_fmt_mode & device_attr().ev.ev_fmt_mode_mask == 0 {
                    return fail(libc::EINVAL);
                }
                if plan.iter().any(|&(id, _, _, _)| id == r.req_id) {
                    return fail(libc::EINVAL);
                }
                // SAFETY: `port_status_update` is the union's only member.
                let mask = unsafe { r.op.port_status_update.port_status };
                // API: bit N = port N (1-based); wire: bit p = port p + 1.
                let ports = port_status.then_some(mask >> 1);
                plan.push((r.req_id, std::net::Ipv6Addr::from(r.dgid.raw), ev, ports));
            }
            let Some(c) = st.ctxs.get_mut(&key) else {
                return fail(libc::EINVAL);
            };
            let mut core = c.engine.core();
            let eng = &mut *core;
            eng.probes.clear();
            eng.probe_answers.clear();
            for (id, dgid, ev, ports) in plan {
                let to = eng.endpoint_addr(dgid);
                let op = if ports.is_some() {
                    mrc_wire::mrc::EndpointOp::PortStatusUpdate
                } else {
                    mrc_wire::mrc::EndpointOp::EvProbe
                };
                eng.probes.insert(id, (op, std::time::Instant::now()));
                let request = crate::engine::Engine::probe_request(id, ports);
                if !eng.send_repr(&request, to, ev) {
                    return fail(libc::EIO);
                }
            }
            drop(core);
            c.engine.kick();
        }
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_nanos(u64::from(rsp_timeout));
        let mut answers: Vec<(u16, u64)> = Vec::new();
        loop {
            {
                let mut st = state::lock();
                let Some(c) = st.ctxs.get_mut(&key) else {
                    return fail(libc::EINVAL);
                };
                let mut core = c.engine.core();
                answers.append(&mut core.probe_answers);
                if answers.len() >= reqs.len() || std::time::Instant::now() >= deadline {
                    core.probes.clear();
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        for (i, &(id, rtt)) in answers.iter().take(reqs.len()).enumerate() {
            // SAFETY: `rsp` has room for num_req responses and i < num_req.
            unsafe {
                rsp.add(i).write(MrcCtlEpRsp {
                    req_id: id,
                    port: 1,
                    rtt: rtt.min(u64::from(u32::MAX)) as u32,
                    adj_svc_time: 0,
                });
            }
        }
        let n = answers.len().min(reqs.len());
        // SAFETY: non-NULL; the caller passes a writable int.
        unsafe { num_rsp.write(n as c_int) };
        if n < reqs.len() {
            return fail(libc::ETIMEDOUT);
        }
        0
    })
}
