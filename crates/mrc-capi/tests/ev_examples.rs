//! The worked examples of the OCP controller walkthroughs (generated and explicit EV profiles),
//! value for value, through the library's C entry points. Where the walkthrough text has a
//! typo, the test follows what the text says it does (`docs/capi.md` §Walkthrough errata).
//! Profile IDs differ between tests: the controller state is per process.

use core::ffi::c_int;
use core::ptr::{null, null_mut};

use _mrc::api::*;
use _mrc::ctl::*;
use _mrc::types::*;
use _mrc::verbs::*;

/// An MRC context on `mrclo` (the ibv context is leaked: tests are short).
fn context() -> *mut MrcContext {
    // SAFETY: plain calls into the library with valid arguments.
    unsafe {
        let mut n = 0;
        let list = ibv_get_device_list(&raw mut n);
        assert!(n >= 1 && !list.is_null());
        let ibv = ibv_open_device(*list);
        ibv_free_device_list(list);
        assert!(!ibv.is_null());
        let mut attr = MrcContextAttr {
            mrc_api_version_used: MRC_API_CURRENT_VERSION,
            mrc_vendor_api_version_used: 0,
        };
        let ctx = mrc_create_context(ibv, &raw mut attr);
        assert!(!ctx.is_null());
        ctx
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn fmt_attr(
    state: u32,
    mode: u32,
    op: u32,
    fields: &mut [MrcCtlEvFmtField],
) -> MrcCtlEvFmtProfileAttr {
    MrcCtlEvFmtProfileAttr {
        profile_state: state,
        cur_profile_state: 0,
        ev_fmt_mode: mode,
        ev_fmt_op: MrcCtlEvFmtOp {
            op,
            fmt_fields: fields.as_mut_ptr(),
            fmt_field_count: fields.len() as c_int,
        },
        vendor_cfg: [0; 128],
    }
}

/// Creates an ONLINE EV Format profile as the walkthroughs do (INIT → OFFLINE with mode and
/// fields, then OFFLINE → ONLINE) and checks the query returns the widths.
fn make_fmt(ctx: *mut MrcContext, id: u64, mode: u32, widths: &[u8]) {
    let mut f: Vec<MrcCtlEvFmtField> = widths
        .iter()
        .map(|&w| MrcCtlEvFmtField { width: w })
        .collect();
    let mut a = fmt_attr(
        MRC_CTL_PROFILE_OFFLINE,
        mode,
        MRC_CTL_EV_FMT_OP_MODIFY_FIELDS,
        &mut f,
    );
    let mask =
        MRC_CTL_EV_FMT_PROFILE_STATE | MRC_CTL_EV_FMT_PROFILE_MODE | MRC_CTL_EV_FMT_PROFILE_OP;
    // SAFETY: valid context and attribute struct with a live field array.
    unsafe {
        assert_eq!(mrc_ctl_modify_ev_fmt_profile(ctx, id, &raw mut a, mask), 0);
        let mut b = fmt_attr(MRC_CTL_PROFILE_ONLINE, 0, 0, &mut []);
        assert_eq!(
            mrc_ctl_modify_ev_fmt_profile(ctx, id, &raw mut b, MRC_CTL_EV_FMT_PROFILE_STATE),
            0
        );
        // Query with too small an array: E2BIG and the count needed.
        let mut small = [MrcCtlEvFmtField::default(); 1];
        let mut q = fmt_attr(0, 0, MRC_CTL_EV_FMT_OP_QUERY_FIELDS, &mut small);
        let qm =
            MRC_CTL_EV_FMT_PROFILE_STATE | MRC_CTL_EV_FMT_PROFILE_MODE | MRC_CTL_EV_FMT_PROFILE_OP;
        if widths.len() > 1 {
            assert_eq!(mrc_ctl_query_ev_fmt_profile(ctx, id, &raw mut q, qm), -1);
            assert_eq!(errno(), libc::E2BIG);
            assert_eq!(q.ev_fmt_op.fmt_field_count, widths.len() as c_int);
        }
        let mut big = vec![MrcCtlEvFmtField::default(); 16];
        let mut q = fmt_attr(0, 0, MRC_CTL_EV_FMT_OP_QUERY_FIELDS, &mut big);
        assert_eq!(mrc_ctl_query_ev_fmt_profile(ctx, id, &raw mut q, qm), 0);
        assert_eq!(q.profile_state, MRC_CTL_PROFILE_ONLINE);
        assert_eq!(q.ev_fmt_mode, mode);
        let got: Vec<u8> = big[..q.ev_fmt_op.fmt_field_count as usize]
            .iter()
            .map(|f| f.width)
            .collect();
        assert_eq!(got, widths);
    }
}

fn ev_attr() -> MrcCtlEvProfileAttr {
    MrcCtlEvProfileAttr {
        profile_state: 0,
        cur_profile_state: 0,
        ev_mode: 0,
        ev_fmt_profile_id: 0,
        ev_count: 0,
        ev_min_active: 0,
        ev_event_mask: 0,
        ev_op: MrcCtlEvOp {
            op: 0,
            entries: null_mut(),
            entry_count: 0,
        },
        ev_fields_op: MrcCtlEvFieldsOp {
            op: 0,
            fields: null_mut(),
            field_count: 0,
        },
        vendor_cfg: [0; 128],
    }
}

fn field(width: u32, init_val: u32, min_val: u32, max_val: u32, mask: u32) -> MrcCtlEvField {
    MrcCtlEvField {
        width,
        init_val,
        min_val,
        max_val,
        mask,
    }
}

/// A generated profile: INIT → OFFLINE (mode, format, count, min active, event mask, fields),
/// then ONLINE.
fn make_gen(ctx: *mut MrcContext, id: u64, fmt: u64, count: u32, fields: &mut [MrcCtlEvField]) {
    let mut a = ev_attr();
    a.profile_state = MRC_CTL_PROFILE_OFFLINE;
    a.ev_mode = MRC_CTL_EV_MODE_GEN;
    a.ev_fmt_profile_id = fmt;
    a.ev_count = count;
    a.ev_min_active = count / 4;
    a.ev_event_mask = (MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD) as c_int;
    a.ev_fields_op = MrcCtlEvFieldsOp {
        op: MRC_CTL_EV_FIELDS_OP_MODIFY_FIELDS,
        fields: fields.as_mut_ptr(),
        field_count: fields.len() as c_int,
    };
    let mask = MRC_CTL_EV_PROFILE_STATE
        | MRC_CTL_EV_PROFILE_MODE
        | MRC_CTL_EV_PROFILE_FMT_ID
        | MRC_CTL_EV_PROFILE_COUNT
        | MRC_CTL_EV_PROFILE_MIN_ACTIVE
        | MRC_CTL_EV_PROFILE_EVENT_MASK
        | MRC_CTL_EV_PROFILE_EV_FIELDS_OP;
    // SAFETY: valid context and attribute struct with a live field array.
    unsafe {
        assert_eq!(
            mrc_ctl_modify_ev_profile(ctx, id, &raw mut a, mask),
            0,
            "errno {}",
            errno()
        );
        let mut b = ev_attr();
        b.profile_state = MRC_CTL_PROFILE_ONLINE;
        assert_eq!(
            mrc_ctl_modify_ev_profile(ctx, id, &raw mut b, MRC_CTL_EV_PROFILE_STATE),
            0
        );
    }
}

/// The EV array (values and states) of profile `id`.
fn query_array(ctx: *mut MrcContext, id: u64) -> Vec<MrcCtlEvOpEntry> {
    // SAFETY: valid context; arrays sized from the queried count.
    unsafe {
        let mut a = ev_attr();
        let m = MRC_CTL_EV_PROFILE_STATE | MRC_CTL_EV_PROFILE_COUNT;
        assert_eq!(mrc_ctl_query_ev_profile(ctx, id, &raw mut a, m), 0);
        let n = a.ev_count as usize;
        let mut v = vec![MrcCtlEvOpEntry::default(); n];
        let mut q = ev_attr();
        q.ev_op = MrcCtlEvOp {
            op: MRC_CTL_EV_OP_QUERY_EV_ARRAY,
            entries: v.as_mut_ptr(),
            entry_count: n as c_int - 1,
        };
        assert_eq!(
            mrc_ctl_query_ev_profile(ctx, id, &raw mut q, MRC_CTL_EV_PROFILE_EV_OP),
            -1
        );
        assert_eq!(errno(), libc::E2BIG);
        assert_eq!(q.ev_op.entry_count, n as c_int);
        assert_eq!(
            mrc_ctl_query_ev_profile(ctx, id, &raw mut q, MRC_CTL_EV_PROFILE_EV_OP),
            0
        );
        v
    }
}

fn set_state(ctx: *mut MrcContext, id: u64, ev: MrcCtlEv, state: u32) -> c_int {
    let mut e = MrcCtlEvOpEntry {
        ev,
        state,
        ..MrcCtlEvOpEntry::default()
    };
    let mut a = ev_attr();
    a.ev_op = MrcCtlEvOp {
        op: MRC_CTL_EV_OP_MODIFY_EV_STATE,
        entries: &raw mut e,
        entry_count: 1,
    };
    // SAFETY: valid context, one live entry.
    unsafe { mrc_ctl_modify_ev_profile(ctx, id, &raw mut a, MRC_CTL_EV_PROFILE_EV_OP) }
}

fn u32_of(ev: &MrcCtlEv) -> u32 {
    u32::from_le_bytes([ev.val[0], ev.val[1], ev.val[2], ev.val[3]])
}

/// Generated EVs, STEV: format 8/4/4 bits, fields T0 (8 bits, 0–255), T1 and T2 (4 bits,
/// 0–15), 256·16·16 = 65,536 EVs; then T0 values 180–255 denied.
#[test]
fn gen_stev_three_tiers_and_deny() {
    let ctx = context();
    // SAFETY: valid out-pointer.
    let dev = unsafe {
        let mut a = core::mem::zeroed::<MrcCtlDeviceAttr>();
        let mut list_n = 0;
        let list = ibv_get_device_list(&raw mut list_n);
        let ibv = ibv_open_device(*list);
        ibv_free_device_list(list);
        assert_eq!(mrc_ctl_query_device(ibv, &raw mut a), 0);
        assert_ne!(a.ev.ev_mode_mask & MRC_CTL_EV_MODE_GEN, 0);
        a
    };
    make_fmt(ctx, 113, MRC_CTL_EV_FMT_MODE_STEV, &[8, 4, 4]);
    let mut f = [
        field(8, 0, 0, 255, 0xff),
        field(4, 0, 0, 15, 0x0f),
        field(4, 0, 0, 15, 0x0f),
    ];
    let mut count = (f[0].max_val + 1) * (f[1].max_val + 1) * (f[2].max_val + 1);
    assert_eq!(count, 65_536);
    count = count.min(dev.ev.ev_max_count_profile);
    count -= count % dev.ev.ev_count_align;
    make_gen(ctx, 101, 113, count, &mut f);

    // Query: mode, format, count, fields.
    // SAFETY: valid context; the field array has 10 entries as the walkthrough allocates.
    unsafe {
        let mut a = ev_attr();
        let m = MRC_CTL_EV_PROFILE_STATE
            | MRC_CTL_EV_PROFILE_MODE
            | MRC_CTL_EV_PROFILE_FMT_ID
            | MRC_CTL_EV_PROFILE_COUNT;
        assert_eq!(mrc_ctl_query_ev_profile(ctx, 101, &raw mut a, m), 0);
        assert_eq!(a.ev_mode, MRC_CTL_EV_MODE_GEN);
        assert_eq!(a.ev_fmt_profile_id, 113);
        assert_eq!(a.ev_count, 65_536);
        assert_eq!(a.profile_state, MRC_CTL_PROFILE_ONLINE);
        let mut qf = vec![MrcCtlEvField::default(); 10];
        let mut q = ev_attr();
        q.ev_fields_op = MrcCtlEvFieldsOp {
            op: MRC_CTL_EV_FIELDS_OP_QUERY_FIELDS,
            fields: qf.as_mut_ptr(),
            field_count: 10,
        };
        assert_eq!(
            mrc_ctl_query_ev_profile(ctx, 101, &raw mut q, MRC_CTL_EV_PROFILE_EV_FIELDS_OP),
            0
        );
        assert_eq!(q.ev_fields_op.field_count, 3);
        assert_eq!(&qf[..3], &f[..]);
    }

    let evs = query_array(ctx, 101);
    assert_eq!(evs.len(), 65_536);
    for (i, e) in evs.iter().enumerate() {
        let (t0, t1, t2) = ((i >> 8) as u8, ((i >> 4) & 15) as u8, (i & 15) as u8);
        let mut want = [0u8; 32];
        want[0] = t0;
        want[1] = (t1 << 4) | t2;
        assert_eq!(e.ev.val, want, "EV[{i}]");
        assert_eq!(e.ev.port, 1);
        assert_eq!(e.state, MRC_CTL_EV_GOOD);
        // The walkthrough reads T0 as the low byte of the uint32 it memcpys out.
        assert_eq!(u32_of(&e.ev) & 0xff, u32::from(t0));
    }

    // Deny T0 = 180..=255, one call per EV as the walkthrough does.
    let mut denied = 0;
    for e in &evs {
        let v = u32_of(&e.ev);
        if (180..=255).contains(&(v & 0xff)) {
            assert_eq!(set_state(ctx, 101, e.ev, MRC_CTL_EV_DENIED), 0);
            denied += 1;
        }
    }
    assert_eq!(denied, 76 * 256);
    let after = query_array(ctx, 101);
    for (i, e) in after.iter().enumerate() {
        let want = if i >> 8 >= 180 {
            MRC_CTL_EV_DENIED
        } else {
            MRC_CTL_EV_GOOD
        };
        assert_eq!(e.state, want, "EV[{i}] state");
    }
    // An EV the profile does not hold: ENOENT.
    let mut stranger = MrcCtlEv::default();
    stranger.val[5] = 1;
    stranger.port = 1;
    assert_eq!(set_state(ctx, 101, stranger, MRC_CTL_EV_DENIED), -1);
    assert_eq!(errno(), libc::ENOENT);
}

/// Generated EVs, SRv6: a fixed 32-bit locator 0xdeadcafe and four 16-bit uSIDs whose upper
/// byte is the tier (1–4) and lower byte generated (0–255); 256^4 combinations, capped at the
/// device's 65,536 per profile: the last two uSIDs vary, the first two hold 0x0100 / 0x0200.
#[test]
fn gen_srv6_locator_and_usids() {
    let ctx = context();
    make_fmt(ctx, 114, MRC_CTL_EV_FMT_MODE_SRV6, &[32, 16, 16, 16, 16]);
    let mut f = [
        field(32, 0xdead_cafe, 0, 0, 0),
        field(16, 0x100, 0, 255, 0xff),
        field(16, 0x200, 0, 255, 0xff),
        field(16, 0x300, 0, 255, 0xff),
        field(16, 0x400, 0, 255, 0xff),
    ];
    make_gen(ctx, 102, 114, EV_MAX_COUNT_PROFILE, &mut f);
    let evs = query_array(ctx, 102);
    assert_eq!(evs.len(), 65_536);
    for (i, e) in evs.iter().enumerate() {
        let addr = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&e.ev.val[..16]).expect("16"));
        let want: std::net::Ipv6Addr = format!(
            "dead:cafe:100:200:{:x}:{:x}::",
            0x300 | (i >> 8),
            0x400 | (i & 0xff)
        )
        .parse()
        .expect("address");
        assert_eq!(addr, want, "EV[{i}]");
        assert!(e.ev.val[16..].iter().all(|&b| b == 0));
    }
}

/// SRv6 + SRH format: 32-bit locator + six 16-bit uSIDs (the SRv6 address, 128 bits) and
/// 32-bit locator + four 16-bit uSIDs (the SRH segment, 96 bits): 224 bits, accepted; a 257th
/// bit is E2BIG; then the walkthroughs' teardown (ONLINE → OFFLINE → INIT).
#[test]
fn srv6_srh_format_and_teardown() {
    let ctx = context();
    let w = [32, 16, 16, 16, 16, 16, 16, 32, 16, 16, 16, 16];
    assert_eq!(w.iter().map(|&x| u32::from(x)).sum::<u32>(), 224);
    make_fmt(ctx, 115, MRC_CTL_EV_FMT_MODE_SRV6, &w);
    // A generated profile spanning both halves: the SRH locator lands at byte 16.
    let mut f = [
        field(32, 0xfc00_0000, 0, 0, 0),
        field(16, 0x0001, 0, 0, 0),
        field(16, 0x0002, 0, 0, 0),
        field(16, 0x0003, 0, 0, 0),
        field(16, 0x0004, 0, 0, 0),
        field(16, 0x0005, 0, 0, 0),
        field(16, 0xe000, 0, 0, 0),
        field(32, 0xfc01_0000, 0, 0, 0),
        field(16, 0x0100, 0, 3, 0x3),
    ];
    make_gen(ctx, 103, 115, 4, &mut f);
    let evs = query_array(ctx, 103);
    assert_eq!(evs.len(), 4);
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(
            &e.ev.val[..16],
            &[0xfc, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0xe0, 0]
        );
        assert_eq!(&e.ev.val[16..22], &[0xfc, 0x01, 0, 0, 0x01, i as u8]);
    }
    // Too wide for the format: one more 64-bit field would need 288 bits.
    let mut too = [MrcCtlEvFmtField { width: 32 }; 9];
    let mut a = fmt_attr(
        MRC_CTL_PROFILE_OFFLINE,
        MRC_CTL_EV_FMT_MODE_SRV6,
        MRC_CTL_EV_FMT_OP_MODIFY_FIELDS,
        &mut too,
    );
    let mask =
        MRC_CTL_EV_FMT_PROFILE_STATE | MRC_CTL_EV_FMT_PROFILE_MODE | MRC_CTL_EV_FMT_PROFILE_OP;
    // SAFETY: valid context and attribute struct.
    unsafe {
        assert_eq!(
            mrc_ctl_modify_ev_fmt_profile(ctx, 116, &raw mut a, mask),
            -1
        );
        assert_eq!(errno(), libc::E2BIG);
        // Teardown: the format cannot go OFFLINE while an ONLINE EV profile uses it.
        let mut off = fmt_attr(MRC_CTL_PROFILE_OFFLINE, 0, 0, &mut []);
        assert_eq!(
            mrc_ctl_modify_ev_fmt_profile(ctx, 115, &raw mut off, MRC_CTL_EV_FMT_PROFILE_STATE),
            -1
        );
        assert_eq!(errno(), libc::EBUSY);
        for s in [MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_INIT] {
            let mut b = ev_attr();
            b.profile_state = s;
            assert_eq!(
                mrc_ctl_modify_ev_profile(ctx, 103, &raw mut b, MRC_CTL_EV_PROFILE_STATE),
                0
            );
        }
        for s in [MRC_CTL_PROFILE_OFFLINE, MRC_CTL_PROFILE_INIT] {
            let mut b = fmt_attr(s, 0, 0, &mut []);
            assert_eq!(
                mrc_ctl_modify_ev_fmt_profile(ctx, 115, &raw mut b, MRC_CTL_EV_FMT_PROFILE_STATE),
                0
            );
        }
        let mut q = ev_attr();
        assert_eq!(
            mrc_ctl_query_ev_profile(ctx, 103, &raw mut q, MRC_CTL_EV_PROFILE_STATE),
            0
        );
        assert_eq!(q.profile_state, MRC_CTL_PROFILE_INIT);
        // ONLINE straight from INIT is not a transition.
        let mut b = ev_attr();
        b.profile_state = MRC_CTL_PROFILE_ONLINE;
        assert_eq!(
            mrc_ctl_modify_ev_profile(ctx, 103, &raw mut b, MRC_CTL_EV_PROFILE_STATE),
            -1
        );
        assert_eq!(errno(), libc::EINVAL);
    }
}

fn stev(v: u32) -> MrcCtlEv {
    let mut e = MrcCtlEv::default();
    e.val[..4].copy_from_slice(&v.to_le_bytes());
    e.port = 1;
    e
}

fn replace(ctx: *mut MrcContext, id: u64, cur: MrcCtlEv, new: MrcCtlEv) -> c_int {
    let mut e = MrcCtlEvOpEntry {
        ev: cur,
        ev_new: new,
        ..MrcCtlEvOpEntry::default()
    };
    let mut a = ev_attr();
    a.ev_op = MrcCtlEvOp {
        op: MRC_CTL_EV_OP_REPLACE_EV,
        entries: &raw mut e,
        entry_count: 1,
    };
    // SAFETY: valid context, one live entry.
    unsafe { mrc_ctl_modify_ev_profile(ctx, id, &raw mut a, MRC_CTL_EV_PROFILE_EV_OP) }
}

/// Explicit EVs, STEV: format 16/16; ev_max_count_profile EVs, each unpopulated entry replaced
/// by (i << 16) | i on port 1; ONLINE; values 13–42 denied; then replaced by the values
/// shifted by 128.
#[test]
fn exp_stev_populate_deny_replace() {
    let ctx = context();
    make_fmt(ctx, 213, MRC_CTL_EV_FMT_MODE_STEV, &[16, 16]);
    let count = EV_MAX_COUNT_PROFILE;
    let mut a = ev_attr();
    a.profile_state = MRC_CTL_PROFILE_OFFLINE;
    a.ev_mode = MRC_CTL_EV_MODE_EXP;
    a.ev_fmt_profile_id = 213;
    a.ev_count = count;
    a.ev_min_active = count / 4;
    a.ev_event_mask = (MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD) as c_int;
    let mask = MRC_CTL_EV_PROFILE_STATE
        | MRC_CTL_EV_PROFILE_MODE
        | MRC_CTL_EV_PROFILE_FMT_ID
        | MRC_CTL_EV_PROFILE_COUNT
        | MRC_CTL_EV_PROFILE_MIN_ACTIVE
        | MRC_CTL_EV_PROFILE_EVENT_MASK;
    // SAFETY: valid context and attribute struct.
    unsafe {
        assert_eq!(mrc_ctl_modify_ev_profile(ctx, 201, &raw mut a, mask), 0);
        // Not populated yet: ONLINE is refused.
        let mut b = ev_attr();
        b.profile_state = MRC_CTL_PROFILE_ONLINE;
        assert_eq!(
            mrc_ctl_modify_ev_profile(ctx, 201, &raw mut b, MRC_CTL_EV_PROFILE_STATE),
            -1
        );
        assert_eq!(errno(), libc::EINVAL);
    }
    let unpopulated = MrcCtlEv::default();
    for i in 0..count {
        assert_eq!(
            replace(ctx, 201, unpopulated, stev((i << 16) | i)),
            0,
            "EV {i}"
        );
    }
    // Every unpopulated entry is gone: one more replace finds none.
    assert_eq!(replace(ctx, 201, unpopulated, stev(7)), -1);
    assert_eq!(errno(), libc::ENOENT);
    // SAFETY: valid context and attribute struct.
    unsafe {
        let mut b = ev_attr();
        b.profile_state = MRC_CTL_PROFILE_ONLINE;
        assert_eq!(
            mrc_ctl_modify_ev_profile(ctx, 201, &raw mut b, MRC_CTL_EV_PROFILE_STATE),
            0
        );
    }
    let evs = query_array(ctx, 201);
    assert_eq!(evs.len(), count as usize);
    for (i, e) in evs.iter().enumerate() {
        let i = i as u32;
        assert_eq!(u32_of(&e.ev), (i << 16) | i);
        assert_eq!(e.ev.port, 1);
    }
    for i in 13..=42u32 {
        assert_eq!(
            set_state(ctx, 201, stev((i << 16) | i), MRC_CTL_EV_DENIED),
            0
        );
    }
    let evs = query_array(ctx, 201);
    for (i, e) in evs.iter().enumerate() {
        let want = if (13..=42).contains(&i) {
            MRC_CTL_EV_DENIED
        } else {
            MRC_CTL_EV_GOOD
        };
        assert_eq!(e.state, want, "EV[{i}]");
    }
    // Replace 13..=42 by the value shifted by 128 (device advertises MODIFY_ONLINE).
    assert_ne!(
        _mrc::ctl::device_attr().opt_attr & MRC_CTL_OPT_CAP_EV_PROFILE_MODIFY_ONLINE,
        0
    );
    for i in 13..=42u32 {
        let (o, n) = ((i << 16) | i, ((i + 128) << 16) | (i + 128));
        assert_eq!(replace(ctx, 201, stev(o), stev(n)), 0);
    }
    let evs = query_array(ctx, 201);
    for (i, e) in evs.iter().enumerate() {
        let i = i as u32;
        let v = if (13..=42).contains(&i) { i + 128 } else { i };
        assert_eq!(u32_of(&e.ev), (v << 16) | v, "EV[{i}]");
    }
    // The old values are gone.
    assert_eq!(
        set_state(ctx, 201, stev((13 << 16) | 13), MRC_CTL_EV_DENIED),
        -1
    );
    assert_eq!(errno(), libc::ENOENT);
    // SAFETY: `null` pointers are refused, not dereferenced.
    unsafe {
        assert_eq!(mrc_ctl_query_ev_profile(ctx, 201, null_mut(), 0), -1);
        let _ = null::<u8>();
    }
}

/// Explicit EVs, SRv6 format: 32-bit locator + four 16-bit uSIDs (96 bits).
#[test]
fn exp_srv6_format() {
    let ctx = context();
    make_fmt(ctx, 214, MRC_CTL_EV_FMT_MODE_SRV6, &[32, 16, 16, 16, 16]);
    // An EV profile on it: explicit, two EVs holding SRv6 addresses.
    let mut a = ev_attr();
    a.profile_state = MRC_CTL_PROFILE_OFFLINE;
    a.ev_mode = MRC_CTL_EV_MODE_EXP;
    a.ev_fmt_profile_id = 214;
    a.ev_count = 2;
    let mask = MRC_CTL_EV_PROFILE_STATE
        | MRC_CTL_EV_PROFILE_MODE
        | MRC_CTL_EV_PROFILE_FMT_ID
        | MRC_CTL_EV_PROFILE_COUNT;
    // SAFETY: valid context and attribute struct.
    unsafe {
        assert_eq!(mrc_ctl_modify_ev_profile(ctx, 202, &raw mut a, mask), 0);
    }
    let mut e = MrcCtlEv::default();
    e.val[..16].copy_from_slice(
        &"fc00:0:1:2::"
            .parse::<std::net::Ipv6Addr>()
            .expect("a")
            .octets(),
    );
    e.port = 1;
    assert_eq!(replace(ctx, 202, MrcCtlEv::default(), e), 0);
    e.val[7] = 3;
    assert_eq!(replace(ctx, 202, MrcCtlEv::default(), e), 0);
    let evs = query_array(ctx, 202);
    assert_eq!(evs[0].ev.val[7], 2);
    assert_eq!(evs[1].ev.val[7], 3);
}

/// The header's expansion steps with a non-contiguous mask: EV bits go most significant
/// first into the mask's bits from the top; the other bits keep init_val.
#[test]
fn expansion_steps_noncontiguous_mask() {
    let f = field(8, 0b0101_1010, 0, 7, 0b1000_0101);
    // EV bits 1,1,0 → mask bits 7, 2, 0.
    assert_eq!(_mrc::evgen::expand_field(&f, 0b110), 0b1101_1110);
    assert_eq!(_mrc::evgen::expand_field(&f, 0b001), 0b0101_1011);
    // Field narrower than its format field: zero-filled on the left.
    let v = _mrc::evgen::expand(&[field(4, 0xf, 0, 0, 0)], &[8], &[0]);
    assert_eq!(v[0], 0x0f);
}
