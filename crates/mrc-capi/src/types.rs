//! The C types of the OCP MRC API (`mrc.h`, `mrc_ctl.h`) and the few `libibverbs` types the
//! API passes through, as `repr(C)` Rust written from the headers.
//!
//! Field names are the headers' names; anonymous nested structs of the headers get a named Rust
//! type (`MrcDeviceAttr::wimm_attr` is a [`MrcDeviceWimmAttr`]). C enums are `u32` fields, so
//! any value a C caller stores can be read back and checked. `tests/c_layout.rs` compiles a C
//! file against the real headers and compares every struct's `sizeof` and every field's
//! `offsetof` with [`crate::layout`]'s table (`docs/capi.md` §Layout).
#![allow(
    missing_docs,
    reason = "fields mirror the C headers one to one (docs/capi.md)"
)]

use core::ffi::{c_char, c_int, c_uint, c_void};

// ---------------------------------------------------------------------------------------------
// Versions (mrc_api_ver.h, mrc_ctl_api_ver.h)
// ---------------------------------------------------------------------------------------------

/// `MRC_API_VER(major, minor, sub)`.
pub const fn api_ver(major: u32, minor: u32, sub: u32) -> u32 {
    (major << 24) | (minor << 16) | sub
}
/// `MRC_API_CURRENT_VERSION`.
pub const MRC_API_CURRENT_VERSION: u32 = api_ver(1, 0, 1);
/// `MRC_API_LAST_SUPPORTED_VERSION`.
pub const MRC_API_LAST_SUPPORTED_VERSION: u32 = api_ver(0, 0, 0);
/// `MRC_VENDOR_API_CURRENT_VERSION`.
pub const MRC_VENDOR_API_CURRENT_VERSION: u32 = api_ver(1, 0, 0);
/// `MRC_VENDOR_API_LAST_SUPPORTED_VERSION`.
pub const MRC_VENDOR_API_LAST_SUPPORTED_VERSION: u32 = api_ver(0, 0, 0);
/// `MRC_CTL_API_CURRENT_VERSION`.
pub const MRC_CTL_API_CURRENT_VERSION: u32 = api_ver(1, 0, 1);
/// `MRC_CTL_API_LAST_SUPPORTED_VERSION`.
pub const MRC_CTL_API_LAST_SUPPORTED_VERSION: u32 = api_ver(0, 0, 0);
/// `MRC_CTL_VENDOR_API_CURRENT_VERSION`.
pub const MRC_CTL_VENDOR_API_CURRENT_VERSION: u32 = api_ver(1, 0, 0);
/// `MRC_CTL_VENDOR_API_LAST_SUPPORTED_VERSION`.
pub const MRC_CTL_VENDOR_API_LAST_SUPPORTED_VERSION: u32 = api_ver(0, 0, 0);

// ---------------------------------------------------------------------------------------------
// libibverbs (Debian rdma-core 44 <infiniband/verbs.h>)
// ---------------------------------------------------------------------------------------------

pub const IBV_SYSFS_NAME_MAX: usize = 64;
pub const IBV_SYSFS_PATH_MAX: usize = 256;

/// `struct ibv_device`.
#[repr(C)]
pub struct IbvDevice {
    pub _ops: [*mut c_void; 2],
    pub node_type: u32,
    pub transport_type: u32,
    pub name: [c_char; IBV_SYSFS_NAME_MAX],
    pub dev_name: [c_char; IBV_SYSFS_NAME_MAX],
    pub dev_path: [c_char; IBV_SYSFS_PATH_MAX],
    pub ibdev_path: [c_char; IBV_SYSFS_PATH_MAX],
}

/// `struct ibv_context`: `ops` (32 function pointers) stays zero and `abi_compat` NULL, so
/// the header's inline wrappers call the exported functions, never a provider op.
#[repr(C)]
pub struct IbvContext {
    pub device: *mut IbvDevice,
    pub ops: [*mut c_void; 32],
    pub cmd_fd: c_int,
    pub async_fd: c_int,
    pub num_comp_vectors: c_int,
    pub mutex: [u64; 5],
    pub abi_compat: *mut c_void,
}

/// `struct ibv_pd`.
#[repr(C)]
pub struct IbvPd {
    pub context: *mut IbvContext,
    pub handle: u32,
}

/// `struct ibv_mr`.
#[repr(C)]
pub struct IbvMr {
    pub context: *mut IbvContext,
    pub pd: *mut IbvPd,
    pub addr: *mut c_void,
    pub length: usize,
    pub handle: u32,
    pub lkey: u32,
    pub rkey: u32,
}

/// `union ibv_gid` (16 bytes, 8-aligned by its `__be64` view).
#[repr(C, align(8))]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct IbvGid {
    pub raw: [u8; 16],
}

/// `struct ibv_port_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IbvPortAttr {
    pub state: u32,
    pub max_mtu: u32,
    pub active_mtu: u32,
    pub gid_tbl_len: c_int,
    pub port_cap_flags: u32,
    pub max_msg_sz: u32,
    pub bad_pkey_cntr: u32,
    pub qkey_viol_cntr: u32,
    pub pkey_tbl_len: u16,
    pub lid: u16,
    pub sm_lid: u16,
    pub lmc: u8,
    pub max_vl_num: u8,
    pub sm_sl: u8,
    pub subnet_timeout: u8,
    pub init_type_reply: u8,
    pub active_width: u8,
    pub active_speed: u8,
    pub phys_state: u8,
    pub link_layer: u8,
    pub flags: u8,
    pub port_cap_flags2: u16,
}

/// `struct ibv_sge`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct IbvSge {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}

/// `struct ibv_send_wr`; `wr` is the `rdma` member of its union (the only one MRC uses), the
/// other union members are covered by `wr_rest` and `tail`.
#[repr(C)]
pub struct IbvSendWr {
    pub wr_id: u64,
    pub next: *mut Self,
    pub sg_list: *mut IbvSge,
    pub num_sge: c_int,
    pub opcode: u32,
    pub send_flags: c_uint,
    pub imm_data: u32,
    pub wr_remote_addr: u64,
    pub wr_rkey: u32,
    pub wr_rest: [u32; 5],
    pub qp_type: u32,
    pub tail: [u64; 6],
}

/// `struct ibv_recv_wr`.
#[repr(C)]
pub struct IbvRecvWr {
    pub wr_id: u64,
    pub next: *mut Self,
    pub sg_list: *mut IbvSge,
    pub num_sge: c_int,
}

/// `struct ibv_wc`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct IbvWc {
    pub wr_id: u64,
    pub status: u32,
    pub opcode: u32,
    pub vendor_err: u32,
    pub byte_len: u32,
    pub imm_data: u32,
    pub qp_num: u32,
    pub src_qp: u32,
    pub wc_flags: c_uint,
    pub pkey_index: u16,
    pub slid: u16,
    pub sl: u8,
    pub dlid_path_bits: u8,
}

/// `struct ibv_qp_cap`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IbvQpCap {
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline_data: u32,
}

/// `struct ibv_global_route`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IbvGlobalRoute {
    pub dgid: IbvGid,
    pub flow_label: u32,
    pub sgid_index: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
}

/// `struct ibv_ah_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IbvAhAttr {
    pub grh: IbvGlobalRoute,
    pub dlid: u16,
    pub sl: u8,
    pub src_path_bits: u8,
    pub static_rate: u8,
    pub is_global: u8,
    pub port_num: u8,
}

/// `struct ibv_qp_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct IbvQpAttr {
    pub qp_state: u32,
    pub cur_qp_state: u32,
    pub path_mtu: u32,
    pub path_mig_state: u32,
    pub qkey: u32,
    pub rq_psn: u32,
    pub sq_psn: u32,
    pub dest_qp_num: u32,
    pub qp_access_flags: c_uint,
    pub cap: IbvQpCap,
    pub ah_attr: IbvAhAttr,
    pub alt_ah_attr: IbvAhAttr,
    pub pkey_index: u16,
    pub alt_pkey_index: u16,
    pub en_sqd_async_notify: u8,
    pub sq_draining: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
    pub min_rnr_timer: u8,
    pub port_num: u8,
    pub timeout: u8,
    pub retry_cnt: u8,
    pub rnr_retry: u8,
    pub alt_port_num: u8,
    pub alt_timeout: u8,
    pub rate_limit: u32,
}

// verbs enum values used here
pub const IBV_NODE_RNIC: u32 = 4;
pub const IBV_TRANSPORT_IB: u32 = 0;
pub const IBV_PORT_DOWN: u32 = 1;
pub const IBV_PORT_ACTIVE: u32 = 4;
pub const IBV_MTU_4096: u32 = 5;
pub const IBV_LINK_LAYER_ETHERNET: u8 = 2;
pub const IBV_ACCESS_LOCAL_WRITE: c_int = 1;
pub const IBV_ACCESS_REMOTE_WRITE: c_int = 1 << 1;
pub const IBV_ACCESS_REMOTE_READ: c_int = 1 << 2;
pub const IBV_WR_RDMA_WRITE: u32 = 0;
pub const IBV_WR_RDMA_WRITE_WITH_IMM: u32 = 1;
pub const IBV_SEND_SIGNALED: c_uint = 1 << 1;
pub const IBV_SEND_INLINE: c_uint = 1 << 3;
pub const IBV_WC_SUCCESS: u32 = 0;
pub const IBV_WC_LOC_LEN_ERR: u32 = 1;
pub const IBV_WC_LOC_PROT_ERR: u32 = 4;
pub const IBV_WC_WR_FLUSH_ERR: u32 = 5;
pub const IBV_WC_REM_ACCESS_ERR: u32 = 10;
pub const IBV_WC_REM_OP_ERR: u32 = 11;
pub const IBV_WC_RETRY_EXC_ERR: u32 = 12;
pub const IBV_WC_FATAL_ERR: u32 = 19;
pub const IBV_WC_GENERAL_ERR: u32 = 21;
pub const IBV_WC_RDMA_WRITE: u32 = 1;
pub const IBV_WC_RECV_RDMA_WITH_IMM: u32 = 129;
pub const IBV_WC_WITH_IMM: c_uint = 1 << 1;
pub const IBV_QPS_RESET: u32 = 0;
pub const IBV_QPS_INIT: u32 = 1;
pub const IBV_QPS_RTR: u32 = 2;
pub const IBV_QPS_RTS: u32 = 3;
pub const IBV_QPS_SQD: u32 = 4;
pub const IBV_QPS_SQE: u32 = 5;
pub const IBV_QPS_ERR: u32 = 6;
pub const IBV_QP_STATE: c_int = 1 << 0;
pub const IBV_QP_CUR_STATE: c_int = 1 << 1;
pub const IBV_QP_AV: c_int = 1 << 7;
pub const IBV_QP_PATH_MTU: c_int = 1 << 8;
pub const IBV_QP_DEST_QPN: c_int = 1 << 20;
pub const IBV_QP_CAP: c_int = 1 << 19;
pub const IBV_EVENT_CQ_ERR: u32 = 0;
pub const IBV_EVENT_QP_FATAL: u32 = 1;
pub const IBV_EVENT_QP_ACCESS_ERR: u32 = 3;
pub const IBV_EVENT_COMM_EST: u32 = 4;
pub const IBV_EVENT_PORT_ACTIVE: u32 = 9;
pub const IBV_EVENT_PORT_ERR: u32 = 10;
pub const IBV_QP_EX_WITH_RDMA_WRITE: u64 = 1 << 0;
pub const IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM: u64 = 1 << 1;

// ---------------------------------------------------------------------------------------------
// mrc.h
// ---------------------------------------------------------------------------------------------

pub const MRC_MAX_VENDOR_CFG_SIZE: usize = 128;
pub const MRC_PROTOCOL_VERSION_0: u32 = 0;
pub const MRC_PROTOCOL_VERSION_1: u32 = 1;
pub const MRC_DEVICE_CAP_TRIM_NACK: u32 = 1 << 0;
pub const MRC_DEVICE_CAP_DYNAMIC_MPR: u32 = 1 << 1;
pub const MRC_DEVICE_CAP_SVC_TIME: u32 = 1 << 2;

pub const MRC_QP_HINT_NUM_QPS_PER_PEER: c_int = 1 << 0;
pub const MRC_QP_HINT_NUM_SEND_PEERS: c_int = 1 << 1;
pub const MRC_QP_HINT_NUM_REMOTE_RECV_PEERS: c_int = 1 << 2;
pub const MRC_QP_HINT_VENDOR_CFG: c_int = 1 << 31;

pub const MRC_QP_MAX_WIMM: c_int = 1 << 0;
pub const MRC_QP_MAX_WIMM_DEST: c_int = 1 << 1;
pub const MRC_QP_MPR: c_int = 1 << 2;
pub const MRC_QP_MPR_DEST: c_int = 1 << 3;
pub const MRC_QP_TIMEOUT: c_int = 1 << 4;
pub const MRC_QP_EV_PROFILE_ID: c_int = 1 << 5;
pub const MRC_QP_CC_PROFILE_ID: c_int = 1 << 6;
pub const MRC_QP_HINT: c_int = 1 << 7;
pub const MRC_QP_RETRY_CNT: c_int = 1 << 8;
pub const MRC_QP_CAP: c_int = 1 << 9;
pub const MRC_QP_VENDOR_CFG: c_int = 1 << 31;

/// `mrc_device_attr.wimm_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcDeviceWimmAttr {
    pub max_wimm: u16,
    pub max_wimm_dest: u16,
}
/// `mrc_device_attr.mpr_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcDeviceMprAttr {
    pub max_mpr: u8,
    pub mpr_resolution: u8,
}
/// `mrc_device_attr.qp_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcDeviceQpAttr {
    pub max_qp_hint: u32,
}
/// `struct mrc_device_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcDeviceAttr {
    pub mrc_protocol_version: u32,
    pub wimm_attr: MrcDeviceWimmAttr,
    pub mpr_attr: MrcDeviceMprAttr,
    pub qp_attr: MrcDeviceQpAttr,
    pub cap: u32,
}

/// `struct mrc_context_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcContextAttr {
    pub mrc_api_version_used: u32,
    pub mrc_vendor_api_version_used: u32,
}

/// `struct mrc_qp_hint_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcQpHintAttr {
    pub num_qps_per_peer: c_int,
    pub num_send_peers: c_int,
    pub num_remote_recv_peers: c_int,
    pub vendor_cfg: [u8; MRC_MAX_VENDOR_CFG_SIZE],
}
impl Default for MrcQpHintAttr {
    fn default() -> Self {
        Self {
            num_qps_per_peer: 0,
            num_send_peers: 0,
            num_remote_recv_peers: 0,
            vendor_cfg: [0; MRC_MAX_VENDOR_CFG_SIZE],
        }
    }
}

/// `struct mrc_qp_hint_init_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MrcQpHintInitAttr {
    pub attr: MrcQpHintAttr,
}

/// Opaque `struct mrc_context`.
#[repr(C)]
pub struct MrcContext {
    _private: [u8; 0],
}
/// Opaque `struct mrc_cq`.
#[repr(C)]
pub struct MrcCq {
    _private: [u8; 0],
}
/// Opaque `struct mrc_qp`.
#[repr(C)]
pub struct MrcQp {
    _private: [u8; 0],
}
/// Opaque `struct mrc_qp_hint`.
#[repr(C)]
pub struct MrcQpHint {
    _private: [u8; 0],
}
/// Opaque `struct mrc_comp_channel`.
#[repr(C)]
pub struct MrcCompChannel {
    _private: [u8; 0],
}

/// `struct mrc_qp_init_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcQpInitAttr {
    pub qp_context: *mut c_void,
    pub send_cq: *mut MrcCq,
    pub recv_cq: *mut MrcCq,
    pub cap: IbvQpCap,
    pub sq_sig_all: c_int,
    pub pd: *mut IbvPd,
    pub send_ops_flags: u64,
    pub protocol_version: u32,
}

/// `mrc_qp_attr.mpr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcQpAttrMpr {
    pub mpr: u8,
    pub mpr_dest: u8,
}
/// `mrc_qp_attr.wimm`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcQpAttrWimm {
    pub max_wimm: u16,
    pub max_wimm_dest: u16,
}
/// `mrc_qp_attr.profile`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcQpAttrProfile {
    pub ev_profile_id: u64,
    pub cc_profile_id: u64,
}
/// `mrc_qp_attr.retry`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcQpAttrRetry {
    pub linear_cnt: u8,
    pub exp_cnt: u8,
}
/// `struct mrc_qp_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcQpAttrC {
    pub mpr: MrcQpAttrMpr,
    pub wimm: MrcQpAttrWimm,
    pub timeout: u8,
    pub profile: MrcQpAttrProfile,
    pub retry: MrcQpAttrRetry,
    pub qp_hint: *mut MrcQpHint,
    pub cap: u32,
    pub vendor_cfg: [u8; MRC_MAX_VENDOR_CFG_SIZE],
}

/// `mrc_async_event.element` (a union: the CQ, the QP or a port number).
#[repr(C)]
#[derive(Clone, Copy)]
pub union MrcAsyncElement {
    pub cq: *mut MrcCq,
    pub qp: *mut MrcQp,
    pub port_num: c_int,
}
/// `struct mrc_async_event`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MrcAsyncEvent {
    pub element: MrcAsyncElement,
    pub event_type: u32,
}

// ---------------------------------------------------------------------------------------------
// mrc_ctl.h
// ---------------------------------------------------------------------------------------------

pub const MRC_CTL_MAX_VENDOR_CFG_SIZE: usize = 128;
pub const MRC_CTL_EV_MAX_BYTES: usize = 32;

pub const MRC_CTL_PROFILE_INIT: u32 = 0;
pub const MRC_CTL_PROFILE_OFFLINE: u32 = 1;
pub const MRC_CTL_PROFILE_ONLINE: u32 = 2;

pub const MRC_CTL_OPT_CAP_EV_PROFILE_MODIFY_ONLINE: u32 = 1 << 0;
pub const MRC_CTL_OPT_CAP_CC_PROFILE_MODIFY_ONLINE: u32 = 1 << 1;
pub const MRC_CTL_OPT_CAP_EV_EVENT: u32 = 1 << 2;
pub const MRC_CTL_OPT_CAP_EV_EXPLICIT_RANGE: u32 = 1 << 3;
pub const MRC_CTL_OPT_CAP_EV_EVENT_PRECISE_DROP_CNT: u32 = 1 << 4;
pub const MRC_CTL_OPT_CAP_EP_OP_EV_PROBE: u32 = 1 << 5;

pub const MRC_CTL_PORT_ADMIN_DISABLED: u32 = 0;
pub const MRC_CTL_PORT_ADMIN_ENABLED: u32 = 1;
pub const MRC_CTL_PORT_ADMIN_STATE: c_int = 1 << 0;

pub const MRC_CTL_EV_FMT_MODE_STEV: u32 = 1 << 0;
pub const MRC_CTL_EV_FMT_MODE_SRV6: u32 = 1 << 1;
pub const MRC_CTL_EV_FMT_MODE_UDP: u32 = 1 << 2;
pub const MRC_CTL_EV_FMT_OP_MODIFY_FIELDS: u32 = 0;
pub const MRC_CTL_EV_FMT_OP_QUERY_FIELDS: u32 = 1;
pub const MRC_CTL_EV_FMT_PROFILE_STATE: c_int = 1 << 0;
pub const MRC_CTL_EV_FMT_PROFILE_CUR_STATE: c_int = 1 << 1;
pub const MRC_CTL_EV_FMT_PROFILE_MODE: c_int = 1 << 2;
pub const MRC_CTL_EV_FMT_PROFILE_OP: c_int = 1 << 3;
pub const MRC_CTL_EV_FMT_VENDOR_CFG: c_int = 1 << 31;

pub const MRC_CTL_EV_GOOD: u32 = 1 << 0;
pub const MRC_CTL_EV_ASSUMED_BAD: u32 = 1 << 1;
pub const MRC_CTL_EV_DENIED: u32 = 1 << 2;
pub const MRC_CTL_EV_UNKNOWN: u32 = 1 << 31;

pub const MRC_CTL_EV_MODE_AUTO: u32 = 1 << 0;
pub const MRC_CTL_EV_MODE_EXP: u32 = 1 << 1;
pub const MRC_CTL_EV_MODE_GEN: u32 = 1 << 2;

pub const MRC_CTL_EV_OP_REPLACE_EV: u32 = 0;
pub const MRC_CTL_EV_OP_MODIFY_EV_STATE: u32 = 1;
pub const MRC_CTL_EV_OP_QUERY_EV_STATE: u32 = 2;
pub const MRC_CTL_EV_OP_QUERY_EV_ARRAY: u32 = 3;
pub const MRC_CTL_EV_FIELDS_OP_MODIFY_FIELDS: u32 = 0;
pub const MRC_CTL_EV_FIELDS_OP_QUERY_FIELDS: u32 = 1;

pub const MRC_CTL_EV_PROFILE_STATE: c_int = 1 << 0;
pub const MRC_CTL_EV_PROFILE_CUR_STATE: c_int = 1 << 1;
pub const MRC_CTL_EV_PROFILE_MODE: c_int = 1 << 2;
pub const MRC_CTL_EV_PROFILE_FMT_ID: c_int = 1 << 3;
pub const MRC_CTL_EV_PROFILE_COUNT: c_int = 1 << 4;
pub const MRC_CTL_EV_PROFILE_MIN_ACTIVE: c_int = 1 << 5;
pub const MRC_CTL_EV_PROFILE_EVENT_MASK: c_int = 1 << 6;
pub const MRC_CTL_EV_PROFILE_EV_OP: c_int = 1 << 7;
pub const MRC_CTL_EV_PROFILE_EV_FIELDS_OP: c_int = 1 << 8;
pub const MRC_CTL_EV_PROFILE_VENDOR_CFG: c_int = 1 << 31;
pub const MRC_CTL_EV_OP_F_ALL_COPIES: u32 = 1 << 0;

pub const MRC_CTL_CC_PROFILE_STATE: c_int = 1 << 0;
pub const MRC_CTL_CC_PROFILE_CUR_STATE: c_int = 1 << 1;
pub const MRC_CTL_CC_PROFILE_ALGORITHM: c_int = 1 << 2;
pub const MRC_CTL_CC_PROFILE_CONFIG: c_int = 1 << 3;
pub const MRC_CTL_CC_PROFILE_VENDOR_CFG: c_int = 1 << 31;

pub const MRC_CTL_EP_OP_EV_PROBE: u32 = 0;
pub const MRC_CTL_EP_OP_PORT_STATUS_UPDATE: u32 = 1;

/// `mrc_ctl_device_attr.ev`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlDeviceEvAttr {
    pub ev_max_fmt_profiles: u32,
    pub ev_max_profiles: u32,
    pub ev_max_count: u32,
    pub ev_free_count: u32,
    pub ev_max_count_profile: u32,
    pub ev_count_align: u32,
    pub ev_max_width: u32,
    pub ev_fmt_mode_mask: u32,
    pub ev_mode_mask: u32,
    pub ev_op_max_entries: u32,
}
/// `mrc_ctl_device_attr.cc`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlDeviceCcAttr {
    pub cc_max_profiles: u32,
    pub algorithms: *mut *const c_char,
}
/// `struct mrc_ctl_device_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlDeviceAttr {
    pub mrc_ctl_protocol_version: u32,
    pub ev: MrcCtlDeviceEvAttr,
    pub cc: MrcCtlDeviceCcAttr,
    pub phy_port_mask: u32,
    pub opt_attr: u32,
}

/// `struct mrc_ctl_port_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlPortAttr {
    pub port_admin_state: u32,
}

/// `struct mrc_ctl_ev_fmt_field`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct MrcCtlEvFmtField {
    pub width: u8,
}

/// `mrc_ctl_ev_fmt_profile_attr.ev_fmt_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlEvFmtOp {
    pub op: u32,
    pub fmt_fields: *mut MrcCtlEvFmtField,
    pub fmt_field_count: c_int,
}
/// `struct mrc_ctl_ev_fmt_profile_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlEvFmtProfileAttr {
    pub profile_state: u32,
    pub cur_profile_state: u32,
    pub ev_fmt_mode: u32,
    pub ev_fmt_op: MrcCtlEvFmtOp,
    pub vendor_cfg: [u8; MRC_CTL_MAX_VENDOR_CFG_SIZE],
}

/// `struct mrc_ctl_ev`: 32 value bytes and a 1-based port.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
pub struct MrcCtlEv {
    pub val: [u8; MRC_CTL_EV_MAX_BYTES],
    pub port: u8,
}

/// `struct mrc_ctl_ev_field`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct MrcCtlEvField {
    pub width: u32,
    pub init_val: u32,
    pub min_val: u32,
    pub max_val: u32,
    pub mask: u32,
}

/// `struct mrc_ctl_ev_op_entry`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlEvOpEntry {
    pub ev: MrcCtlEv,
    pub ev_new: MrcCtlEv,
    pub state: u32,
    pub flags: u32,
}

/// `mrc_ctl_ev_profile_attr.ev_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlEvOp {
    pub op: u32,
    pub entries: *mut MrcCtlEvOpEntry,
    pub entry_count: c_int,
}
/// `mrc_ctl_ev_profile_attr.ev_fields_op`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlEvFieldsOp {
    pub op: u32,
    pub fields: *mut MrcCtlEvField,
    pub field_count: c_int,
}
/// `struct mrc_ctl_ev_profile_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlEvProfileAttr {
    pub profile_state: u32,
    pub cur_profile_state: u32,
    pub ev_mode: u32,
    pub ev_fmt_profile_id: u64,
    pub ev_count: u32,
    pub ev_min_active: u32,
    pub ev_event_mask: c_int,
    pub ev_op: MrcCtlEvOp,
    pub ev_fields_op: MrcCtlEvFieldsOp,
    pub vendor_cfg: [u8; MRC_CTL_MAX_VENDOR_CFG_SIZE],
}

/// `struct mrc_ctl_cc_profile_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MrcCtlCcProfileAttr {
    pub profile_state: u32,
    pub cur_profile_state: u32,
    pub algorithm: *const c_char,
    pub cc_config: *const c_void,
    pub vendor_cfg: [u8; MRC_CTL_MAX_VENDOR_CFG_SIZE],
}

/// `struct mrc_ctl_cc_nscc_cfg`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlCcNsccCfg {
    pub disable_qa: u8,
    pub adjust_bytes_threshold: u32,
    pub adjust_period_threshold: u32,
    pub base_rtt: u32,
    pub eta: f32,
    pub fi: f32,
    pub fi_scale: f32,
    pub gamma: f32,
    pub max_md_jump: f32,
    pub max_cwnd: u32,
    pub qa_gate: u8,
    pub qa_threshold: u32,
    pub target_delay: u32,
}

/// `struct mrc_ctl_ev_event` (API 1.0.1 layout, with `state`).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlEvEvent {
    pub profile_id: u64,
    pub ev: MrcCtlEv,
    pub drop_count: u32,
    pub state: u32,
}

/// `mrc_ctl_ep_req.op.port_status_update`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlEpPortStatusUpdate {
    pub port_status: u32,
}
/// `mrc_ctl_ep_req.op` (a union with one member).
#[repr(C)]
#[derive(Clone, Copy)]
pub union MrcCtlEpReqOp {
    pub port_status_update: MrcCtlEpPortStatusUpdate,
}
/// `struct mrc_ctl_ep_req`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MrcCtlEpReq {
    pub req_id: u16,
    pub sgid: IbvGid,
    pub dgid: IbvGid,
    pub ev_fmt_mode: u32,
    pub req_ev: MrcCtlEv,
    pub op: MrcCtlEpReqOp,
}

/// `struct mrc_ctl_ep_rsp`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct MrcCtlEpRsp {
    pub req_id: u16,
    pub port: u8,
    pub rtt: c_uint,
    pub adj_svc_time: u8,
}
