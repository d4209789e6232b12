//! The software verbs device: the `ibv_*` calls an MRC program makes, for machines without RDMA
//! hardware (`docs/capi.md` §Software verbs).
//!
//! A program compiled against Debian's `<infiniband/verbs.h>` and linked with `-l_mrc
//! -libverbs` (in that order, or with `LD_PRELOAD=lib_mrc.so`) binds these definitions: the
//! dynamic linker takes the first definition in load order, and an unversioned definition
//! satisfies the program's versioned (`IBVERBS_1.1`) reference. The `struct ibv_context` we hand
//! out has `abi_compat = NULL`, so the header's inline wrappers (`ibv_query_port`,
//! `ibv_reg_mr`) call the exported functions below rather than provider ops.
//!
//! Devices: `mrclo` (loopback, GID `::1`) and `mrcnic<N>` for each NIC of the running namespace
//! fabric (`MRC_FABRIC_PREFIX`, default `mrc`; GID = the NIC's address).

use core::ffi::{c_char, c_int, c_uint, c_void};
use std::net::Ipv6Addr;

use crate::state::{self, Device, Mr, State};
use crate::types::*;
use crate::{fail_code, guard, set_errno};

/// Namespace prefix of the fabric whose NICs become devices (`MRC_FABRIC_PREFIX`, default
/// `mrc`, as `mrc fabric up`).
fn fabric_prefix() -> String {
    std::env::var("MRC_FABRIC_PREFIX").unwrap_or_else(|_| "mrc".into())
}

/// The NICs of the running fabric: (N, namespace `<prefix>-nic<N>`), by N.
fn fabric_nics() -> Vec<(u32, String)> {
    let head = format!("{}-nic", fabric_prefix());
    let mut v: Vec<(u32, String)> = std::fs::read_dir("/var/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix(&head)?.parse().ok()?;
            Some((n, name))
        })
        .collect();
    v.sort();
    v
}

/// The EVs a NIC namespace routes: its policy rules `fwmark 1000 + EV` (EV < 2048).
fn netns_evs(ns: &str) -> Vec<u32> {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-n", ns, "-6", "rule", "show"])
        .output()
    else {
        return Vec::new();
    };
    let mut evs: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let hex = l.split("fwmark ").nth(1)?.split_whitespace().next()?;
            let m = u32::from_str_radix(hex.trim_start_matches("0x"), 16).ok()?;
            let ev = m.checked_sub(mrc_net::fabric::MARK_BASE)?;
            (ev < 2048).then_some(ev)
        })
        .collect();
    evs.sort_unstable();
    evs.dedup();
    evs
}

/// Fills the device list: `mrclo` first, then every NIC of the running fabric not yet listed
/// (devices are never removed: their `ibv_device` pointers stay valid).
fn ensure_devices(st: &mut State) {
    if st.devices.is_empty() {
        let evs = (0..crate::engine::LOOPBACK_EVS).collect();
        st.devices
            .push(make_device("mrclo", Ipv6Addr::LOCALHOST, None, evs));
    }
    for (n, ns) in fabric_nics() {
        let name = format!("mrcnic{n}");
        if st.devices.iter().any(|d| d.name == name) {
            continue;
        }
        let evs = netns_evs(&ns);
        if evs.is_empty() {
            continue;
        }
        let addr = mrc_fabric::usid::nic_addr(n);
        st.devices.push(make_device(&name, addr, Some(ns), evs));
    }
}

fn make_device(name: &str, addr: Ipv6Addr, netns: Option<String>, evs: Vec<u32>) -> Device {
    let mut d = IbvDevice {
        _ops: [core::ptr::null_mut(); 2],
        node_type: IBV_NODE_RNIC,
        transport_type: IBV_TRANSPORT_IB,
        name: [0; IBV_SYSFS_NAME_MAX],
        dev_name: [0; IBV_SYSFS_NAME_MAX],
        dev_path: [0; IBV_SYSFS_PATH_MAX],
        ibdev_path: [0; IBV_SYSFS_PATH_MAX],
    };
    let put = |dst: &mut [c_char], s: &str| {
        let n = dst.len() - 1;
        for (d, b) in dst.iter_mut().zip(s.bytes().take(n)) {
            *d = b as c_char;
        }
    };
    put(&mut d.name, name);
    put(&mut d.dev_name, &format!("uverbs-{name}"));
    put(&mut d.dev_path, &format!("/nonexistent/mrc/{name}"));
    put(&mut d.ibdev_path, &format!("/nonexistent/mrc/{name}"));
    Device {
        name: name.to_string(),
        addr,
        ibv: Box::into_raw(Box::new(d)),
        netns,
        evs,
    }
}

/// Index of the device an `ibv_context*` was opened on.
pub(crate) fn ctx_device(st: &State, ctx: *mut IbvContext) -> Option<usize> {
    st.ibv_ctxs.get(&(ctx as usize)).copied()
}

/// Device names, for tests: `mrclo` first.
pub fn device_names() -> Vec<String> {
    let mut st = state::lock();
    ensure_devices(&mut st);
    st.devices.iter().map(|d| d.name.clone()).collect()
}

/// `ibv_get_device_list`: a NULL-terminated array of the software devices.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_get_device_list(num_devices: *mut c_int) -> *mut *mut IbvDevice {
    guard(core::ptr::null_mut(), || {
        let mut st = state::lock();
        ensure_devices(&mut st);
        let mut v: Vec<*mut IbvDevice> = st.devices.iter().map(|d| d.ibv).collect();
        let n = v.len();
        v.push(core::ptr::null_mut());
        if !num_devices.is_null() {
            // SAFETY: non-NULL; the caller passes a writable int.
            unsafe { *num_devices = n as c_int };
        }
        // The list is freed by ibv_free_device_list, which needs its length: it is the
        // NULL-terminated length, so a boxed slice can be rebuilt from it.
        Box::into_raw(v.into_boxed_slice()).cast()
    })
}

/// `ibv_free_device_list`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_free_device_list(list: *mut *mut IbvDevice) {
    guard((), || {
        if list.is_null() {
            return;
        }
        let mut n = 0;
        // SAFETY: `list` came from ibv_get_device_list: NULL-terminated, allocated as a boxed
        // slice of exactly n + 1 pointers.
        unsafe {
            while !(*list.add(n)).is_null() {
                n += 1;
            }
            drop(Box::from_raw(core::ptr::slice_from_raw_parts_mut(
                list,
                n + 1,
            )));
        }
    });
}

/// `ibv_get_device_name`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_get_device_name(device: *mut IbvDevice) -> *const c_char {
    guard(core::ptr::null(), || {
        let st = state::lock();
        match st.devices.iter().find(|d| d.ibv == device) {
            // SAFETY: `d.ibv` is one of our leaked devices, valid forever.
            Some(d) => unsafe { (*d.ibv).name.as_ptr() },
            None => {
                set_errno(libc::EINVAL);
                core::ptr::null()
            }
        }
    })
}

/// `ibv_open_device`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_open_device(device: *mut IbvDevice) -> *mut IbvContext {
    guard(core::ptr::null_mut(), || {
        let mut st = state::lock();
        let Some(dev) = st.devices.iter().position(|d| d.ibv == device) else {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        };
        let ctx = Box::into_raw(Box::new(IbvContext {
            device,
            ops: [core::ptr::null_mut(); 32],
            cmd_fd: -1,
            async_fd: -1,
            num_comp_vectors: 1,
            mutex: [0; 5],
            abi_compat: core::ptr::null_mut(),
        }));
        st.ibv_ctxs.insert(ctx as usize, dev);
        ctx
    })
}

/// `ibv_close_device`: EBUSY while MRC contexts or PDs of it exist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_close_device(context: *mut IbvContext) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = context as usize;
        if !st.ibv_ctxs.contains_key(&key) {
            return fail_code(libc::EINVAL);
        }
        if st.ctxs.values().any(|c| c.ibv_ctx == key) || st.pds.values().any(|&c| c == key) {
            return fail_code(libc::EBUSY);
        }
        st.ibv_ctxs.remove(&key);
        // SAFETY: allocated by ibv_open_device with Box and just unregistered: freed once.
        drop(unsafe { Box::from_raw(context) });
        0
    })
}

/// `ibv_query_port` (the exported symbol the header's inline wrapper calls with a zeroed
/// `struct ibv_port_attr`): port 1 only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_query_port(
    context: *mut IbvContext,
    port_num: u8,
    port_attr: *mut IbvPortAttr,
) -> c_int {
    guard(libc::EIO, || {
        let st = state::lock();
        if ctx_device(&st, context).is_none() || port_attr.is_null() || port_num != 1 {
            return fail_code(libc::EINVAL);
        }
        let up = st.ctl.port_enabled(port_num);
        // SAFETY: non-NULL; the caller passes a port attribute struct. Only the fields of the
        // old (compat) layout are written, field by field.
        unsafe {
            let p = port_attr;
            (*p).state = if up { IBV_PORT_ACTIVE } else { IBV_PORT_DOWN };
            (*p).max_mtu = IBV_MTU_4096;
            (*p).active_mtu = IBV_MTU_4096;
            (*p).gid_tbl_len = 4;
            (*p).port_cap_flags = 0;
            (*p).max_msg_sz = u32::MAX;
            (*p).pkey_tbl_len = 1;
            (*p).lid = 0;
            (*p).active_width = 1;
            (*p).active_speed = 1;
            (*p).phys_state = if up { 5 } else { 3 };
            (*p).link_layer = IBV_LINK_LAYER_ETHERNET;
        }
        0
    })
}

/// `ibv_query_gid`: indexes 0–3 are the device's IPv6 address.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_query_gid(
    context: *mut IbvContext,
    port_num: u8,
    index: c_int,
    gid: *mut IbvGid,
) -> c_int {
    guard(-1, || {
        let st = state::lock();
        let Some(dev) = ctx_device(&st, context) else {
            set_errno(libc::EINVAL);
            return -1;
        };
        if gid.is_null() || port_num != 1 || !(0..4).contains(&index) {
            set_errno(libc::EINVAL);
            return -1;
        }
        let Some(d) = st.devices.get(dev) else {
            set_errno(libc::EINVAL);
            return -1;
        };
        // SAFETY: non-NULL; the caller passes a writable union ibv_gid.
        unsafe {
            (*gid).raw = d.addr.octets();
        }
        0
    })
}

/// `ibv_alloc_pd`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_alloc_pd(context: *mut IbvContext) -> *mut IbvPd {
    guard(core::ptr::null_mut(), || {
        let mut st = state::lock();
        if ctx_device(&st, context).is_none() {
            set_errno(libc::EINVAL);
            return core::ptr::null_mut();
        }
        let handle = st.pds.len() as u32 + 1;
        let pd = Box::into_raw(Box::new(IbvPd { context, handle }));
        st.pds.insert(pd as usize, context as usize);
        pd
    })
}

/// `ibv_dealloc_pd`: EBUSY while MRs or QPs use it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_dealloc_pd(pd: *mut IbvPd) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let key = pd as usize;
        if !st.pds.contains_key(&key) {
            return fail_code(libc::EINVAL);
        }
        if st.mrs.values().any(|m| m.pd == key) || st.qps.values().any(|q| q.pd == key) {
            return fail_code(libc::EBUSY);
        }
        st.pds.remove(&key);
        // SAFETY: allocated by ibv_alloc_pd and just unregistered: freed once.
        drop(unsafe { Box::from_raw(pd) });
        0
    })
}

fn reg_mr(pd: *mut IbvPd, addr: *mut c_void, length: usize, access: c_int) -> *mut IbvMr {
    let mut st = state::lock();
    let Some(&ctx) = st.pds.get(&(pd as usize)) else {
        set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    };
    let a = addr as u64;
    if (addr.is_null() && length > 0) || a.checked_add(length as u64).is_none() {
        set_errno(libc::EINVAL);
        return core::ptr::null_mut();
    }
    if access & !(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ) != 0 {
        set_errno(libc::EOPNOTSUPP);
        return core::ptr::null_mut();
    }
    if st.next_key == 0 {
        // Keys start at an unpredictable point (an off-path sender should not guess them).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        st.next_key = (t ^ std::process::id().wrapping_mul(0x9E37_79B9)) & 0x00FF_FF00 | 0x100;
    }
    let lkey = st.next_key;
    st.next_key = st.next_key.wrapping_add(2).max(0x100);
    let rkey = lkey | 1;
    let mr = Box::into_raw(Box::new(IbvMr {
        context: ctx as *mut IbvContext,
        pd,
        addr,
        length,
        handle: lkey >> 1,
        lkey,
        rkey,
    }));
    let m = Mr {
        pd: pd as usize,
        addr: a,
        len: length as u64,
        access,
        lkey,
        rkey,
    };
    st.mrs.insert(mr as usize, m);
    crate::engine::mr_added(&mut st, &m);
    mr
}

/// `ibv_reg_mr`: registers `[addr, addr + length)`; `lkey` (local) and `rkey` (remote, only
/// usable by peers if `IBV_ACCESS_REMOTE_WRITE`) differ.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_reg_mr(
    pd: *mut IbvPd,
    addr: *mut c_void,
    length: usize,
    access: c_int,
) -> *mut IbvMr {
    guard(core::ptr::null_mut(), || reg_mr(pd, addr, length, access))
}

/// `ibv_reg_mr_iova2` (what the header's `ibv_reg_mr` wrapper calls when `access` is not a
/// compile-time constant): only `iova == addr` is supported (EOPNOTSUPP otherwise).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_reg_mr_iova2(
    pd: *mut IbvPd,
    addr: *mut c_void,
    length: usize,
    iova: u64,
    access: c_uint,
) -> *mut IbvMr {
    guard(core::ptr::null_mut(), || {
        if iova != addr as u64 {
            set_errno(libc::EOPNOTSUPP);
            return core::ptr::null_mut();
        }
        reg_mr(pd, addr, length, access as c_int)
    })
}

/// `ibv_dereg_mr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ibv_dereg_mr(mr: *mut IbvMr) -> c_int {
    guard(libc::EIO, || {
        let mut st = state::lock();
        let Some(m) = st.mrs.remove(&(mr as usize)) else {
            return fail_code(libc::EINVAL);
        };
        crate::engine::mr_removed(&mut st, &m);
        // SAFETY: allocated by reg_mr and just unregistered: freed once.
        drop(unsafe { Box::from_raw(mr) });
        0
    })
}

/// `ibv_wc_status_str`.
#[unsafe(no_mangle)]
pub extern "C" fn ibv_wc_status_str(status: u32) -> *const c_char {
    const S: [&str; 23] = [
        "success\0",
        "local length error\0",
        "local QP operation error\0",
        "local EE context operation error\0",
        "local protection error\0",
        "Work Request Flushed Error\0",
        "memory management operation error\0",
        "bad response error\0",
        "local access error\0",
        "remote invalid request error\0",
        "remote access error\0",
        "remote operation error\0",
        "transport retry counter exceeded\0",
        "RNR retry counter exceeded\0",
        "local RDD violation error\0",
        "remote invalid RD request\0",
        "aborted error\0",
        "invalid EE context number\0",
        "invalid EE context state\0",
        "fatal error\0",
        "response timeout error\0",
        "general error\0",
        "TM error\0",
    ];
    S.get(status as usize)
        .map_or(c"unknown".as_ptr(), |s| s.as_ptr().cast())
}
