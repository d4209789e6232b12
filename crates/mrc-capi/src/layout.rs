//! The library's own view of the C layouts: `sizeof` of every struct of `mrc.h` and
//! `mrc_ctl.h` (and of the verbs structs it reads or writes) and `offsetof` of every field,
//! exported as [`mrc_capi_layout`] so a C program compiled against the real headers can compare
//! (`tests/c/layout.c`, run by `tests/c_layout.rs`).

use core::ffi::c_char;
use core::mem::{offset_of, size_of};

use crate::types::*;

/// One row: a NUL-terminated name (`"struct"` for a size, `"struct.field.sub"` for an offset)
/// and its value in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Name, NUL-terminated.
    pub name: &'static str,
    /// Size or offset in bytes.
    pub value: usize,
}

macro_rules! size {
    ($n:literal, $t:ty) => {
        Row {
            name: concat!($n, "\0"),
            value: size_of::<$t>(),
        }
    };
}
macro_rules! off {
    ($n:literal, $t:ty, $($f:tt)+) => {
        Row {
            name: concat!($n, "\0"),
            value: offset_of!($t, $($f)+),
        }
    };
}

/// Every row of the table.
pub static ROWS: &[Row] = &[
    size!("mrc_device_attr", MrcDeviceAttr),
    off!(
        "mrc_device_attr.mrc_protocol_version",
        MrcDeviceAttr,
        mrc_protocol_version
    ),
    off!("mrc_device_attr.wimm_attr", MrcDeviceAttr, wimm_attr),
    off!(
        "mrc_device_attr.wimm_attr.max_wimm",
        MrcDeviceAttr,
        wimm_attr.max_wimm
    ),
    off!(
        "mrc_device_attr.wimm_attr.max_wimm_dest",
        MrcDeviceAttr,
        wimm_attr.max_wimm_dest
    ),
    off!("mrc_device_attr.mpr_attr", MrcDeviceAttr, mpr_attr),
    off!(
        "mrc_device_attr.mpr_attr.max_mpr",
        MrcDeviceAttr,
        mpr_attr.max_mpr
    ),
    off!(
        "mrc_device_attr.mpr_attr.mpr_resolution",
        MrcDeviceAttr,
        mpr_attr.mpr_resolution
    ),
    off!("mrc_device_attr.qp_attr", MrcDeviceAttr, qp_attr),
    off!(
        "mrc_device_attr.qp_attr.max_qp_hint",
        MrcDeviceAttr,
        qp_attr.max_qp_hint
    ),
    off!("mrc_device_attr.cap", MrcDeviceAttr, cap),
    size!("mrc_context_attr", MrcContextAttr),
    off!(
        "mrc_context_attr.mrc_api_version_used",
        MrcContextAttr,
        mrc_api_version_used
    ),
    off!(
        "mrc_context_attr.mrc_vendor_api_version_used",
        MrcContextAttr,
        mrc_vendor_api_version_used
    ),
    size!("mrc_qp_hint_attr", MrcQpHintAttr),
    off!(
        "mrc_qp_hint_attr.num_qps_per_peer",
        MrcQpHintAttr,
        num_qps_per_peer
    ),
    off!(
        "mrc_qp_hint_attr.num_send_peers",
        MrcQpHintAttr,
        num_send_peers
    ),
    off!(
        "mrc_qp_hint_attr.num_remote_recv_peers",
        MrcQpHintAttr,
        num_remote_recv_peers
    ),
    off!("mrc_qp_hint_attr.vendor_cfg", MrcQpHintAttr, vendor_cfg),
    size!("mrc_qp_hint_init_attr", MrcQpHintInitAttr),
    off!("mrc_qp_hint_init_attr.attr", MrcQpHintInitAttr, attr),
    size!("mrc_qp_init_attr", MrcQpInitAttr),
    off!("mrc_qp_init_attr.qp_context", MrcQpInitAttr, qp_context),
    off!("mrc_qp_init_attr.send_cq", MrcQpInitAttr, send_cq),
    off!("mrc_qp_init_attr.recv_cq", MrcQpInitAttr, recv_cq),
    off!("mrc_qp_init_attr.cap", MrcQpInitAttr, cap),
    off!("mrc_qp_init_attr.sq_sig_all", MrcQpInitAttr, sq_sig_all),
    off!("mrc_qp_init_attr.pd", MrcQpInitAttr, pd),
    off!(
        "mrc_qp_init_attr.send_ops_flags",
        MrcQpInitAttr,
        send_ops_flags
    ),
    off!(
        "mrc_qp_init_attr.protocol_version",
        MrcQpInitAttr,
        protocol_version
    ),
    size!("mrc_qp_attr", MrcQpAttrC),
    off!("mrc_qp_attr.mpr", MrcQpAttrC, mpr),
    off!("mrc_qp_attr.mpr.mpr", MrcQpAttrC, mpr.mpr),
    off!("mrc_qp_attr.mpr.mpr_dest", MrcQpAttrC, mpr.mpr_dest),
    off!("mrc_qp_attr.wimm", MrcQpAttrC, wimm),
    off!("mrc_qp_attr.wimm.max_wimm", MrcQpAttrC, wimm.max_wimm),
    off!(
        "mrc_qp_attr.wimm.max_wimm_dest",
        MrcQpAttrC,
        wimm.max_wimm_dest
    ),
    off!("mrc_qp_attr.timeout", MrcQpAttrC, timeout),
    off!("mrc_qp_attr.profile", MrcQpAttrC, profile),
    off!(
        "mrc_qp_attr.profile.ev_profile_id",
        MrcQpAttrC,
        profile.ev_profile_id
    ),
    off!(
        "mrc_qp_attr.profile.cc_profile_id",
        MrcQpAttrC,
        profile.cc_profile_id
    ),
    off!("mrc_qp_attr.retry", MrcQpAttrC, retry),
    off!("mrc_qp_attr.retry.linear_cnt", MrcQpAttrC, retry.linear_cnt),
    off!("mrc_qp_attr.retry.exp_cnt", MrcQpAttrC, retry.exp_cnt),
    off!("mrc_qp_attr.qp_hint", MrcQpAttrC, qp_hint),
    off!("mrc_qp_attr.cap", MrcQpAttrC, cap),
    off!("mrc_qp_attr.vendor_cfg", MrcQpAttrC, vendor_cfg),
    size!("mrc_async_event", MrcAsyncEvent),
    off!("mrc_async_event.element", MrcAsyncEvent, element),
    off!("mrc_async_event.element.cq", MrcAsyncEvent, element.cq),
    off!("mrc_async_event.element.qp", MrcAsyncEvent, element.qp),
    off!(
        "mrc_async_event.element.port_num",
        MrcAsyncEvent,
        element.port_num
    ),
    off!("mrc_async_event.event_type", MrcAsyncEvent, event_type),
    size!("mrc_ctl_device_attr", MrcCtlDeviceAttr),
    off!(
        "mrc_ctl_device_attr.mrc_ctl_protocol_version",
        MrcCtlDeviceAttr,
        mrc_ctl_protocol_version
    ),
    off!("mrc_ctl_device_attr.ev", MrcCtlDeviceAttr, ev),
    off!(
        "mrc_ctl_device_attr.ev.ev_max_fmt_profiles",
        MrcCtlDeviceAttr,
        ev.ev_max_fmt_profiles
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_max_profiles",
        MrcCtlDeviceAttr,
        ev.ev_max_profiles
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_max_count",
        MrcCtlDeviceAttr,
        ev.ev_max_count
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_free_count",
        MrcCtlDeviceAttr,
        ev.ev_free_count
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_max_count_profile",
        MrcCtlDeviceAttr,
        ev.ev_max_count_profile
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_count_align",
        MrcCtlDeviceAttr,
        ev.ev_count_align
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_max_width",
        MrcCtlDeviceAttr,
        ev.ev_max_width
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_fmt_mode_mask",
        MrcCtlDeviceAttr,
        ev.ev_fmt_mode_mask
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_mode_mask",
        MrcCtlDeviceAttr,
        ev.ev_mode_mask
    ),
    off!(
        "mrc_ctl_device_attr.ev.ev_op_max_entries",
        MrcCtlDeviceAttr,
        ev.ev_op_max_entries
    ),
    off!("mrc_ctl_device_attr.cc", MrcCtlDeviceAttr, cc),
    off!(
        "mrc_ctl_device_attr.cc.cc_max_profiles",
        MrcCtlDeviceAttr,
        cc.cc_max_profiles
    ),
    off!(
        "mrc_ctl_device_attr.cc.algorithms",
        MrcCtlDeviceAttr,
        cc.algorithms
    ),
    off!(
        "mrc_ctl_device_attr.phy_port_mask",
        MrcCtlDeviceAttr,
        phy_port_mask
    ),
    off!("mrc_ctl_device_attr.opt_attr", MrcCtlDeviceAttr, opt_attr),
    size!("mrc_ctl_port_attr", MrcCtlPortAttr),
    off!(
        "mrc_ctl_port_attr.port_admin_state",
        MrcCtlPortAttr,
        port_admin_state
    ),
    size!("mrc_ctl_ev_fmt_field", MrcCtlEvFmtField),
    off!("mrc_ctl_ev_fmt_field.width", MrcCtlEvFmtField, width),
    size!("mrc_ctl_ev_fmt_profile_attr", MrcCtlEvFmtProfileAttr),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.profile_state",
        MrcCtlEvFmtProfileAttr,
        profile_state
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.cur_profile_state",
        MrcCtlEvFmtProfileAttr,
        cur_profile_state
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.ev_fmt_mode",
        MrcCtlEvFmtProfileAttr,
        ev_fmt_mode
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.ev_fmt_op",
        MrcCtlEvFmtProfileAttr,
        ev_fmt_op
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.ev_fmt_op.op",
        MrcCtlEvFmtProfileAttr,
        ev_fmt_op.op
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.ev_fmt_op.fmt_fields",
        MrcCtlEvFmtProfileAttr,
        ev_fmt_op.fmt_fields
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.ev_fmt_op.fmt_field_count",
        MrcCtlEvFmtProfileAttr,
        ev_fmt_op.fmt_field_count
    ),
    off!(
        "mrc_ctl_ev_fmt_profile_attr.vendor_cfg",
        MrcCtlEvFmtProfileAttr,
        vendor_cfg
    ),
    size!("mrc_ctl_ev", MrcCtlEv),
    off!("mrc_ctl_ev.val", MrcCtlEv, val),
    off!("mrc_ctl_ev.port", MrcCtlEv, port),
    size!("mrc_ctl_ev_field", MrcCtlEvField),
    off!("mrc_ctl_ev_field.width", MrcCtlEvField, width),
    off!("mrc_ctl_ev_field.init_val", MrcCtlEvField, init_val),
    off!("mrc_ctl_ev_field.min_val", MrcCtlEvField, min_val),
    off!("mrc_ctl_ev_field.max_val", MrcCtlEvField, max_val),
    off!("mrc_ctl_ev_field.mask", MrcCtlEvField, mask),
    size!("mrc_ctl_ev_op_entry", MrcCtlEvOpEntry),
    off!("mrc_ctl_ev_op_entry.ev", MrcCtlEvOpEntry, ev),
    off!("mrc_ctl_ev_op_entry.ev_new", MrcCtlEvOpEntry, ev_new),
    off!("mrc_ctl_ev_op_entry.state", MrcCtlEvOpEntry, state),
    off!("mrc_ctl_ev_op_entry.flags", MrcCtlEvOpEntry, flags),
    size!("mrc_ctl_ev_profile_attr", MrcCtlEvProfileAttr),
    off!(
        "mrc_ctl_ev_profile_attr.profile_state",
        MrcCtlEvProfileAttr,
        profile_state
    ),
    off!(
        "mrc_ctl_ev_profile_attr.cur_profile_state",
        MrcCtlEvProfileAttr,
        cur_profile_state
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_mode",
        MrcCtlEvProfileAttr,
        ev_mode
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_fmt_profile_id",
        MrcCtlEvProfileAttr,
        ev_fmt_profile_id
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_count",
        MrcCtlEvProfileAttr,
        ev_count
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_min_active",
        MrcCtlEvProfileAttr,
        ev_min_active
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_event_mask",
        MrcCtlEvProfileAttr,
        ev_event_mask
    ),
    off!("mrc_ctl_ev_profile_attr.ev_op", MrcCtlEvProfileAttr, ev_op),
    off!(
        "mrc_ctl_ev_profile_attr.ev_op.op",
        MrcCtlEvProfileAttr,
        ev_op.op
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_op.entries",
        MrcCtlEvProfileAttr,
        ev_op.entries
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_op.entry_count",
        MrcCtlEvProfileAttr,
        ev_op.entry_count
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_fields_op",
        MrcCtlEvProfileAttr,
        ev_fields_op
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_fields_op.op",
        MrcCtlEvProfileAttr,
        ev_fields_op.op
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_fields_op.fields",
        MrcCtlEvProfileAttr,
        ev_fields_op.fields
    ),
    off!(
        "mrc_ctl_ev_profile_attr.ev_fields_op.field_count",
        MrcCtlEvProfileAttr,
        ev_fields_op.field_count
    ),
    off!(
        "mrc_ctl_ev_profile_attr.vendor_cfg",
        MrcCtlEvProfileAttr,
        vendor_cfg
    ),
    size!("mrc_ctl_cc_profile_attr", MrcCtlCcProfileAttr),
    off!(
        "mrc_ctl_cc_profile_attr.profile_state",
        MrcCtlCcProfileAttr,
        profile_state
    ),
    off!(
        "mrc_ctl_cc_profile_attr.cur_profile_state",
        MrcCtlCcProfileAttr,
        cur_profile_state
    ),
    off!(
        "mrc_ctl_cc_profile_attr.algorithm",
        MrcCtlCcProfileAttr,
        algorithm
    ),
    off!(
        "mrc_ctl_cc_profile_attr.cc_config",
        MrcCtlCcProfileAttr,
        cc_config
    ),
    off!(
        "mrc_ctl_cc_profile_attr.vendor_cfg",
        MrcCtlCcProfileAttr,
        vendor_cfg
    ),
    size!("mrc_ctl_cc_nscc_cfg", MrcCtlCcNsccCfg),
    off!(
        "mrc_ctl_cc_nscc_cfg.disable_qa",
        MrcCtlCcNsccCfg,
        disable_qa
    ),
    off!(
        "mrc_ctl_cc_nscc_cfg.adjust_bytes_threshold",
        MrcCtlCcNsccCfg,
        adjust_bytes_threshold
    ),
    off!(
        "mrc_ctl_cc_nscc_cfg.adjust_period_threshold",
        MrcCtlCcNsccCfg,
        adjust_period_threshold
    ),
    off!("mrc_ctl_cc_nscc_cfg.base_rtt", MrcCtlCcNsccCfg, base_rtt),
    off!("mrc_ctl_cc_nscc_cfg.eta", MrcCtlCcNsccCfg, eta),
    off!("mrc_ctl_cc_nscc_cfg.fi", MrcCtlCcNsccCfg, fi),
    off!("mrc_ctl_cc_nscc_cfg.fi_scale", MrcCtlCcNsccCfg, fi_scale),
    off!("mrc_ctl_cc_nscc_cfg.gamma", MrcCtlCcNsccCfg, gamma),
    off!(
        "mrc_ctl_cc_nscc_cfg.max_md_jump",
        MrcCtlCcNsccCfg,
        max_md_jump
    ),
    off!("mrc_ctl_cc_nscc_cfg.max_cwnd", MrcCtlCcNsccCfg, max_cwnd),
    off!("mrc_ctl_cc_nscc_cfg.qa_gate", MrcCtlCcNsccCfg, qa_gate),
    off!(
        "mrc_ctl_cc_nscc_cfg.qa_threshold",
        MrcCtlCcNsccCfg,
        qa_threshold
    ),
    off!(
        "mrc_ctl_cc_nscc_cfg.target_delay",
        MrcCtlCcNsccCfg,
        target_delay
    ),
    size!("mrc_ctl_ev_event", MrcCtlEvEvent),
    off!("mrc_ctl_ev_event.profile_id", MrcCtlEvEvent, profile_id),
    off!("mrc_ctl_ev_event.ev", MrcCtlEvEvent, ev),
    off!("mrc_ctl_ev_event.drop_count", MrcCtlEvEvent, drop_count),
    off!("mrc_ctl_ev_event.state", MrcCtlEvEvent, state),
    size!("mrc_ctl_ep_req", MrcCtlEpReq),
    off!("mrc_ctl_ep_req.req_id", MrcCtlEpReq, req_id),
    off!("mrc_ctl_ep_req.sgid", MrcCtlEpReq, sgid),
    off!("mrc_ctl_ep_req.dgid", MrcCtlEpReq, dgid),
    off!("mrc_ctl_ep_req.ev_fmt_mode", MrcCtlEpReq, ev_fmt_mode),
    off!("mrc_ctl_ep_req.req_ev", MrcCtlEpReq, req_ev),
    off!("mrc_ctl_ep_req.op", MrcCtlEpReq, op),
    off!(
        "mrc_ctl_ep_req.op.port_status_update",
        MrcCtlEpReq,
        op.port_status_update
    ),
    off!(
        "mrc_ctl_ep_req.op.port_status_update.port_status",
        MrcCtlEpReq,
        op.port_status_update.port_status
    ),
    size!("mrc_ctl_ep_rsp", MrcCtlEpRsp),
    off!("mrc_ctl_ep_rsp.req_id", MrcCtlEpRsp, req_id),
    off!("mrc_ctl_ep_rsp.port", MrcCtlEpRsp, port),
    off!("mrc_ctl_ep_rsp.rtt", MrcCtlEpRsp, rtt),
    off!("mrc_ctl_ep_rsp.adj_svc_time", MrcCtlEpRsp, adj_svc_time),
    size!("ibv_device", IbvDevice),
    off!("ibv_device.node_type", IbvDevice, node_type),
    off!("ibv_device.transport_type", IbvDevice, transport_type),
    off!("ibv_device.name", IbvDevice, name),
    off!("ibv_device.dev_name", IbvDevice, dev_name),
    off!("ibv_device.dev_path", IbvDevice, dev_path),
    off!("ibv_device.ibdev_path", IbvDevice, ibdev_path),
    size!("ibv_context", IbvContext),
    off!("ibv_context.device", IbvContext, device),
    off!("ibv_context.ops", IbvContext, ops),
    off!("ibv_context.cmd_fd", IbvContext, cmd_fd),
    off!("ibv_context.async_fd", IbvContext, async_fd),
    off!("ibv_context.num_comp_vectors", IbvContext, num_comp_vectors),
    off!("ibv_context.mutex", IbvContext, mutex),
    off!("ibv_context.abi_compat", IbvContext, abi_compat),
    size!("ibv_pd", IbvPd),
    off!("ibv_pd.context", IbvPd, context),
    off!("ibv_pd.handle", IbvPd, handle),
    size!("ibv_mr", IbvMr),
    off!("ibv_mr.context", IbvMr, context),
    off!("ibv_mr.pd", IbvMr, pd),
    off!("ibv_mr.addr", IbvMr, addr),
    off!("ibv_mr.length", IbvMr, length),
    off!("ibv_mr.handle", IbvMr, handle),
    off!("ibv_mr.lkey", IbvMr, lkey),
    off!("ibv_mr.rkey", IbvMr, rkey),
    size!("ibv_port_attr", IbvPortAttr),
    off!("ibv_port_attr.state", IbvPortAttr, state),
    off!("ibv_port_attr.max_mtu", IbvPortAttr, max_mtu),
    off!("ibv_port_attr.active_mtu", IbvPortAttr, active_mtu),
    off!("ibv_port_attr.gid_tbl_len", IbvPortAttr, gid_tbl_len),
    off!("ibv_port_attr.port_cap_flags", IbvPortAttr, port_cap_flags),
    off!("ibv_port_attr.max_msg_sz", IbvPortAttr, max_msg_sz),
    off!("ibv_port_attr.pkey_tbl_len", IbvPortAttr, pkey_tbl_len),
    off!("ibv_port_attr.lid", IbvPortAttr, lid),
    off!("ibv_port_attr.active_width", IbvPortAttr, active_width),
    off!("ibv_port_attr.active_speed", IbvPortAttr, active_speed),
    off!("ibv_port_attr.phys_state", IbvPortAttr, phys_state),
    off!("ibv_port_attr.link_layer", IbvPortAttr, link_layer),
    off!("ibv_port_attr.flags", IbvPortAttr, flags),
    off!(
        "ibv_port_attr.port_cap_flags2",
        IbvPortAttr,
        port_cap_flags2
    ),
    size!("ibv_sge", IbvSge),
    off!("ibv_sge.addr", IbvSge, addr),
    off!("ibv_sge.length", IbvSge, length),
    off!("ibv_sge.lkey", IbvSge, lkey),
    size!("ibv_send_wr", IbvSendWr),
    off!("ibv_send_wr.wr_id", IbvSendWr, wr_id),
    off!("ibv_send_wr.next", IbvSendWr, next),
    off!("ibv_send_wr.sg_list", IbvSendWr, sg_list),
    off!("ibv_send_wr.num_sge", IbvSendWr, num_sge),
    off!("ibv_send_wr.opcode", IbvSendWr, opcode),
    off!("ibv_send_wr.send_flags", IbvSendWr, send_flags),
    off!("ibv_send_wr.imm_data", IbvSendWr, imm_data),
    off!("ibv_send_wr.wr.rdma.remote_addr", IbvSendWr, wr_remote_addr),
    off!("ibv_send_wr.wr.rdma.rkey", IbvSendWr, wr_rkey),
    off!("ibv_send_wr.qp_type", IbvSendWr, qp_type),
    size!("ibv_recv_wr", IbvRecvWr),
    off!("ibv_recv_wr.wr_id", IbvRecvWr, wr_id),
    off!("ibv_recv_wr.next", IbvRecvWr, next),
    off!("ibv_recv_wr.sg_list", IbvRecvWr, sg_list),
    off!("ibv_recv_wr.num_sge", IbvRecvWr, num_sge),
    size!("ibv_wc", IbvWc),
    off!("ibv_wc.wr_id", IbvWc, wr_id),
    off!("ibv_wc.status", IbvWc, status),
    off!("ibv_wc.opcode", IbvWc, opcode),
    off!("ibv_wc.vendor_err", IbvWc, vendor_err),
    off!("ibv_wc.byte_len", IbvWc, byte_len),
    off!("ibv_wc.imm_data", IbvWc, imm_data),
    off!("ibv_wc.qp_num", IbvWc, qp_num),
    off!("ibv_wc.src_qp", IbvWc, src_qp),
    off!("ibv_wc.wc_flags", IbvWc, wc_flags),
    off!("ibv_wc.pkey_index", IbvWc, pkey_index),
    off!("ibv_wc.slid", IbvWc, slid),
    off!("ibv_wc.sl", IbvWc, sl),
    off!("ibv_wc.dlid_path_bits", IbvWc, dlid_path_bits),
    size!("ibv_qp_cap", IbvQpCap),
    off!("ibv_qp_cap.max_send_wr", IbvQpCap, max_send_wr),
    off!("ibv_qp_cap.max_recv_wr", IbvQpCap, max_recv_wr),
    off!("ibv_qp_cap.max_send_sge", IbvQpCap, max_send_sge),
    off!("ibv_qp_cap.max_recv_sge", IbvQpCap, max_recv_sge),
    off!("ibv_qp_cap.max_inline_data", IbvQpCap, max_inline_data),
    size!("ibv_global_route", IbvGlobalRoute),
    off!("ibv_global_route.dgid", IbvGlobalRoute, dgid),
    off!("ibv_global_route.flow_label", IbvGlobalRoute, flow_label),
    off!("ibv_global_route.sgid_index", IbvGlobalRoute, sgid_index),
    off!("ibv_global_route.hop_limit", IbvGlobalRoute, hop_limit),
    off!(
        "ibv_global_route.traffic_class",
        IbvGlobalRoute,
        traffic_class
    ),
    size!("ibv_ah_attr", IbvAhAttr),
    off!("ibv_ah_attr.grh", IbvAhAttr, grh),
    off!("ibv_ah_attr.dlid", IbvAhAttr, dlid),
    off!("ibv_ah_attr.sl", IbvAhAttr, sl),
    off!("ibv_ah_attr.src_path_bits", IbvAhAttr, src_path_bits),
    off!("ibv_ah_attr.static_rate", IbvAhAttr, static_rate),
    off!("ibv_ah_attr.is_global", IbvAhAttr, is_global),
    off!("ibv_ah_attr.port_num", IbvAhAttr, port_num),
    size!("ibv_qp_attr", IbvQpAttr),
    off!("ibv_qp_attr.qp_state", IbvQpAttr, qp_state),
    off!("ibv_qp_attr.cur_qp_state", IbvQpAttr, cur_qp_state),
    off!("ibv_qp_attr.path_mtu", IbvQpAttr, path_mtu),
    off!("ibv_qp_attr.path_mig_state", IbvQpAttr, path_mig_state),
    off!("ibv_qp_attr.qkey", IbvQpAttr, qkey),
    off!("ibv_qp_attr.rq_psn", IbvQpAttr, rq_psn),
    off!("ibv_qp_attr.sq_psn", IbvQpAttr, sq_psn),
    off!("ibv_qp_attr.dest_qp_num", IbvQpAttr, dest_qp_num),
    off!("ibv_qp_attr.qp_access_flags", IbvQpAttr, qp_access_flags),
    off!("ibv_qp_attr.cap", IbvQpAttr, cap),
    off!("ibv_qp_attr.ah_attr", IbvQpAttr, ah_attr),
    off!("ibv_qp_attr.alt_ah_attr", IbvQpAttr, alt_ah_attr),
    off!("ibv_qp_attr.pkey_index", IbvQpAttr, pkey_index),
    off!("ibv_qp_attr.alt_pkey_index", IbvQpAttr, alt_pkey_index),
    off!(
        "ibv_qp_attr.en_sqd_async_notify",
        IbvQpAttr,
        en_sqd_async_notify
    ),
    off!("ibv_qp_attr.sq_draining", IbvQpAttr, sq_draining),
    off!("ibv_qp_attr.max_rd_atomic", IbvQpAttr, max_rd_atomic),
    off!(
        "ibv_qp_attr.max_dest_rd_atomic",
        IbvQpAttr,
        max_dest_rd_atomic
    ),
    off!("ibv_qp_attr.min_rnr_timer", IbvQpAttr, min_rnr_timer),
    off!("ibv_qp_attr.port_num", IbvQpAttr, port_num),
    off!("ibv_qp_attr.timeout", IbvQpAttr, timeout),
    off!("ibv_qp_attr.retry_cnt", IbvQpAttr, retry_cnt),
    off!("ibv_qp_attr.rnr_retry", IbvQpAttr, rnr_retry),
    off!("ibv_qp_attr.alt_port_num", IbvQpAttr, alt_port_num),
    off!("ibv_qp_attr.alt_timeout", IbvQpAttr, alt_timeout),
    off!("ibv_qp_attr.rate_limit", IbvQpAttr, rate_limit),
];

/// Row `index` of the layout table: stores its NUL-terminated name in `*name` and its value in
/// `*value` and returns 0; returns -1 past the end or if a pointer is NULL.
///
/// An extension of this library (not in the OCP headers), for the layout test.
///
/// # Safety
/// `name` and `value` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mrc_capi_layout(
    index: usize,
    name: *mut *const c_char,
    value: *mut usize,
) -> i32 {
    let Some(row) = ROWS.get(index) else {
        return -1;
    };
    if name.is_null() || value.is_null() {
        return -1;
    }
    // SAFETY: both pointers are non-NULL and the caller guarantees they are writable.
    unsafe {
        *name = row.name.as_ptr().cast();
        *value = row.value;
    }
    0
}
