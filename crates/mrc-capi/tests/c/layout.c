/* Layout test: compiled against the OCP MRC headers (-I <their directory>) and linked with
 * lib_mrc.so. For every struct of mrc.h and mrc_ctl.h (and the verbs structs the library reads
 * or writes) compares sizeof and offsetof of every field with the library's own table
 * (mrc_capi_layout). Prints one line per mismatch; exit status 0 only if all match and every
 * row of the library's table was checked. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <mrc.h>
#include <mrc_ctl.h>

int mrc_capi_layout(size_t index, const char **name, size_t *value);

struct row { const char *name; size_t value; };
#define S(t) { #t, sizeof(struct t) }
#define F(t, f) { #t "." #f, offsetof(struct t, f) }

static const struct row rows[] = {
    S(mrc_device_attr),
    F(mrc_device_attr, mrc_protocol_version),
    F(mrc_device_attr, wimm_attr),
    F(mrc_device_attr, wimm_attr.max_wimm),
    F(mrc_device_attr, wimm_attr.max_wimm_dest),
    F(mrc_device_attr, mpr_attr),
    F(mrc_device_attr, mpr_attr.max_mpr),
    F(mrc_device_attr, mpr_attr.mpr_resolution),
    F(mrc_device_attr, qp_attr),
    F(mrc_device_attr, qp_attr.max_qp_hint),
    F(mrc_device_attr, cap),
    S(mrc_context_attr),
    F(mrc_context_attr, mrc_api_version_used),
    F(mrc_context_attr, mrc_vendor_api_version_used),
    S(mrc_qp_hint_attr),
    F(mrc_qp_hint_attr, num_qps_per_peer),
    F(mrc_qp_hint_attr, num_send_peers),
    F(mrc_qp_hint_attr, num_remote_recv_peers),
    F(mrc_qp_hint_attr, vendor_cfg),
    S(mrc_qp_hint_init_attr),
    F(mrc_qp_hint_init_attr, attr),
    S(mrc_qp_init_attr),
    F(mrc_qp_init_attr, qp_context),
    F(mrc_qp_init_attr, send_cq),
    F(mrc_qp_init_attr, recv_cq),
    F(mrc_qp_init_attr, cap),
    F(mrc_qp_init_attr, sq_sig_all),
    F(mrc_qp_init_attr, pd),
    F(mrc_qp_init_attr, send_ops_flags),
    F(mrc_qp_init_attr, protocol_version),
    S(mrc_qp_attr),
    F(mrc_qp_attr, mpr),
    F(mrc_qp_attr, mpr.mpr),
    F(mrc_qp_attr, mpr.mpr_dest),
    F(mrc_qp_attr, wimm),
    F(mrc_qp_attr, wimm.max_wimm),
    F(mrc_qp_attr, wimm.max_wimm_dest),
    F(mrc_qp_attr, timeout),
    F(mrc_qp_attr, profile),
    F(mrc_qp_attr, profile.ev_profile_id),
    F(mrc_qp_attr, profile.cc_profile_id),
    F(mrc_qp_attr, retry),
    F(mrc_qp_attr, retry.linear_cnt),
    F(mrc_qp_attr, retry.exp_cnt),
    F(mrc_qp_attr, qp_hint),
    F(mrc_qp_attr, cap),
    F(mrc_qp_attr, vendor_cfg),
    S(mrc_async_event),
    F(mrc_async_event, element),
    F(mrc_async_event, element.cq),
    F(mrc_async_event, element.qp),
    F(mrc_async_event, element.port_num),
    F(mrc_async_event, event_type),
    S(mrc_ctl_device_attr),
    F(mrc_ctl_device_attr, mrc_ctl_protocol_version),
    F(mrc_ctl_device_attr, ev),
    F(mrc_ctl_device_attr, ev.ev_max_fmt_profiles),
    F(mrc_ctl_device_attr, ev.ev_max_profiles),
    F(mrc_ctl_device_attr, ev.ev_max_count),
    F(mrc_ctl_device_attr, ev.ev_free_count),
    F(mrc_ctl_device_attr, ev.ev_max_count_profile),
    F(mrc_ctl_device_attr, ev.ev_count_align),
    F(mrc_ctl_device_attr, ev.ev_max_width),
    F(mrc_ctl_device_attr, ev.ev_fmt_mode_mask),
    F(mrc_ctl_device_attr, ev.ev_mode_mask),
    F(mrc_ctl_device_attr, ev.ev_op_max_entries),
    F(mrc_ctl_device_attr, cc),
    F(mrc_ctl_device_attr, cc.cc_max_profiles),
    F(mrc_ctl_device_attr, cc.algorithms),
    F(mrc_ctl_device_attr, phy_port_mask),
    F(mrc_ctl_device_attr, opt_attr),
    S(mrc_ctl_port_attr),
    F(mrc_ctl_port_attr, port_admin_state),
    S(mrc_ctl_ev_fmt_field),
    F(mrc_ctl_ev_fmt_field, width),
    S(mrc_ctl_ev_fmt_profile_attr),
    F(mrc_ctl_ev_fmt_profile_attr, profile_state),
    F(mrc_ctl_ev_fmt_profile_attr, cur_profile_state),
    F(mrc_ctl_ev_fmt_profile_attr, ev_fmt_mode),
    F(mrc_ctl_ev_fmt_profile_attr, ev_fmt_op),
    F(mrc_ctl_ev_fmt_profile_attr, ev_fmt_op.op),
    F(mrc_ctl_ev_fmt_profile_attr, ev_fmt_op.fmt_fields),
    F(mrc_ctl_ev_fmt_profile_attr, ev_fmt_op.fmt_field_count),
    F(mrc_ctl_ev_fmt_profile_attr, vendor_cfg),
    S(mrc_ctl_ev),
    F(mrc_ctl_ev, val),
    F(mrc_ctl_ev, port),
    S(mrc_ctl_ev_field),
    F(mrc_ctl_ev_field, width),
    F(mrc_ctl_ev_field, init_val),
    F(mrc_ctl_ev_field, min_val),
    F(mrc_ctl_ev_field, max_val),
    F(mrc_ctl_ev_field, mask),
    S(mrc_ctl_ev_op_entry),
    F(mrc_ctl_ev_op_entry, ev),
    F(mrc_ctl_ev_op_entry, ev_new),
    F(mrc_ctl_ev_op_entry, state),
    F(mrc_ctl_ev_op_entry, flags),
    S(mrc_ctl_ev_profile_attr),
    F(mrc_ctl_ev_profile_attr, profile_state),
    F(mrc_ctl_ev_profile_attr, cur_profile_state),
    F(mrc_ctl_ev_profile_attr, ev_mode),
    F(mrc_ctl_ev_profile_attr, ev_fmt_profile_id),
    F(mrc_ctl_ev_profile_attr, ev_count),
    F(mrc_ctl_ev_profile_attr, ev_min_active),
    F(mrc_ctl_ev_profile_attr, ev_event_mask),
    F(mrc_ctl_ev_profile_attr, ev_op),
    F(mrc_ctl_ev_profile_attr, ev_op.op),
    F(mrc_ctl_ev_profile_attr, ev_op.entries),
    F(mrc_ctl_ev_profile_attr, ev_op.entry_count),
    F(mrc_ctl_ev_profile_attr, ev_fields_op),
    F(mrc_ctl_ev_profile_attr, ev_fields_op.op),
    F(mrc_ctl_ev_profile_attr, ev_fields_op.fields),
    F(mrc_ctl_ev_profile_attr, ev_fields_op.field_count),
    F(mrc_ctl_ev_profile_attr, vendor_cfg),
    S(mrc_ctl_cc_profile_attr),
    F(mrc_ctl_cc_profile_attr, profile_state),
    F(mrc_ctl_cc_profile_attr, cur_profile_state),
    F(mrc_ctl_cc_profile_attr, algorithm),
    F(mrc_ctl_cc_profile_attr, cc_config),
    F(mrc_ctl_cc_profile_attr, vendor_cfg),
    S(mrc_ctl_cc_nscc_cfg),
    F(mrc_ctl_cc_nscc_cfg, disable_qa),
    F(mrc_ctl_cc_nscc_cfg, adjust_bytes_threshold),
    F(mrc_ctl_cc_nscc_cfg, adjust_period_threshold),
    F(mrc_ctl_cc_nscc_cfg, base_rtt),
    F(mrc_ctl_cc_nscc_cfg, eta),
    F(mrc_ctl_cc_nscc_cfg, fi),
    F(mrc_ctl_cc_nscc_cfg, fi_scale),
    F(mrc_ctl_cc_nscc_cfg, gamma),
    F(mrc_ctl_cc_nscc_cfg, max_md_jump),
    F(mrc_ctl_cc_nscc_cfg, max_cwnd),
    F(mrc_ctl_cc_nscc_cfg, qa_gate),
    F(mrc_ctl_cc_nscc_cfg, qa_threshold),
    F(mrc_ctl_cc_nscc_cfg, target_delay),
    S(mrc_ctl_ev_event),
    F(mrc_ctl_ev_event, profile_id),
    F(mrc_ctl_ev_event, ev),
    F(mrc_ctl_ev_event, drop_count),
    F(mrc_ctl_ev_event, state),
    S(mrc_ctl_ep_req),
    F(mrc_ctl_ep_req, req_id),
    F(mrc_ctl_ep_req, sgid),
    F(mrc_ctl_ep_req, dgid),
    F(mrc_ctl_ep_req, ev_fmt_mode),
    F(mrc_ctl_ep_req, req_ev),
    F(mrc_ctl_ep_req, op),
    F(mrc_ctl_ep_req, op.port_status_update),
    F(mrc_ctl_ep_req, op.port_status_update.port_status),
    S(mrc_ctl_ep_rsp),
    F(mrc_ctl_ep_rsp, req_id),
    F(mrc_ctl_ep_rsp, port),
    F(mrc_ctl_ep_rsp, rtt),
    F(mrc_ctl_ep_rsp, adj_svc_time),
    S(ibv_device),
    F(ibv_device, node_type),
    F(ibv_device, transport_type),
    F(ibv_device, name),
    F(ibv_device, dev_name),
    F(ibv_device, dev_path),
    F(ibv_device, ibdev_path),
    S(ibv_context),
    F(ibv_context, device),
    F(ibv_context, ops),
    F(ibv_context, cmd_fd),
    F(ibv_context, async_fd),
    F(ibv_context, num_comp_vectors),
    F(ibv_context, mutex),
    F(ibv_context, abi_compat),
    S(ibv_pd),
    F(ibv_pd, context),
    F(ibv_pd, handle),
    S(ibv_mr),
    F(ibv_mr, context),
    F(ibv_mr, pd),
    F(ibv_mr, addr),
    F(ibv_mr, length),
    F(ibv_mr, handle),
    F(ibv_mr, lkey),
    F(ibv_mr, rkey),
    S(ibv_port_attr),
    F(ibv_port_attr, state),
    F(ibv_port_attr, max_mtu),
    F(ibv_port_attr, active_mtu),
    F(ibv_port_attr, gid_tbl_len),
    F(ibv_port_attr, port_cap_flags),
    F(ibv_port_attr, max_msg_sz),
    F(ibv_port_attr, pkey_tbl_len),
    F(ibv_port_attr, lid),
    F(ibv_port_attr, active_width),
    F(ibv_port_attr, active_speed),
    F(ibv_port_attr, phys_state),
    F(ibv_port_attr, link_layer),
    F(ibv_port_attr, flags),
    F(ibv_port_attr, port_cap_flags2),
    S(ibv_sge),
    F(ibv_sge, addr),
    F(ibv_sge, length),
    F(ibv_sge, lkey),
    S(ibv_send_wr),
    F(ibv_send_wr, wr_id),
    F(ibv_send_wr, next),
    F(ibv_send_wr, sg_list),
    F(ibv_send_wr, num_sge),
    F(ibv_send_wr, opcode),
    F(ibv_send_wr, send_flags),
    F(ibv_send_wr, imm_data),
    F(ibv_send_wr, wr.rdma.remote_addr),
    F(ibv_send_wr, wr.rdma.rkey),
    F(ibv_send_wr, qp_type),
    S(ibv_recv_wr),
    F(ibv_recv_wr, wr_id),
    F(ibv_recv_wr, next),
    F(ibv_recv_wr, sg_list),
    F(ibv_recv_wr, num_sge),
    S(ibv_wc),
    F(ibv_wc, wr_id),
    F(ibv_wc, status),
    F(ibv_wc, opcode),
    F(ibv_wc, vendor_err),
    F(ibv_wc, byte_len),
    F(ibv_wc, imm_data),
    F(ibv_wc, qp_num),
    F(ibv_wc, src_qp),
    F(ibv_wc, wc_flags),
    F(ibv_wc, pkey_index),
    F(ibv_wc, slid),
    F(ibv_wc, sl),
    F(ibv_wc, dlid_path_bits),
    S(ibv_qp_cap),
    F(ibv_qp_cap, max_send_wr),
    F(ibv_qp_cap, max_recv_wr),
    F(ibv_qp_cap, max_send_sge),
    F(ibv_qp_cap, max_recv_sge),
    F(ibv_qp_cap, max_inline_data),
    S(ibv_global_route),
    F(ibv_global_route, dgid),
    F(ibv_global_route, flow_label),
    F(ibv_global_route, sgid_index),
    F(ibv_global_route, hop_limit),
    F(ibv_global_route, traffic_class),
    S(ibv_ah_attr),
    F(ibv_ah_attr, grh),
    F(ibv_ah_attr, dlid),
    F(ibv_ah_attr, sl),
    F(ibv_ah_attr, src_path_bits),
    F(ibv_ah_attr, static_rate),
    F(ibv_ah_attr, is_global),
    F(ibv_ah_attr, port_num),
    S(ibv_qp_attr),
    F(ibv_qp_attr, qp_state),
    F(ibv_qp_attr, cur_qp_state),
    F(ibv_qp_attr, path_mtu),
    F(ibv_qp_attr, path_mig_state),
    F(ibv_qp_attr, qkey),
    F(ibv_qp_attr, rq_psn),
    F(ibv_qp_attr, sq_psn),
    F(ibv_qp_attr, dest_qp_num),
    F(ibv_qp_attr, qp_access_flags),
    F(ibv_qp_attr, cap),
    F(ibv_qp_attr, ah_attr),
    F(ibv_qp_attr, alt_ah_attr),
    F(ibv_qp_attr, pkey_index),
    F(ibv_qp_attr, alt_pkey_index),
    F(ibv_qp_attr, en_sqd_async_notify),
    F(ibv_qp_attr, sq_draining),
    F(ibv_qp_attr, max_rd_atomic),
    F(ibv_qp_attr, max_dest_rd_atomic),
    F(ibv_qp_attr, min_rnr_timer),
    F(ibv_qp_attr, port_num),
    F(ibv_qp_attr, timeout),
    F(ibv_qp_attr, retry_cnt),
    F(ibv_qp_attr, rnr_retry),
    F(ibv_qp_attr, alt_port_num),
    F(ibv_qp_attr, alt_timeout),
    F(ibv_qp_attr, rate_limit),
};

int main(void)
{
	size_t n = sizeof(rows) / sizeof(rows[0]), i, lib_rows = 0, checked = 0;
	int bad = 0;
	const char *name;
	size_t value;

	while (mrc_capi_layout(lib_rows, &name, &value) == 0)
		lib_rows++;
	for (i = 0; i < n; i++) {
		size_t j;
		int found = 0;
		for (j = 0; j < lib_rows; j++) {
			mrc_capi_layout(j, &name, &value);
			if (strcmp(name, rows[i].name) == 0) {
				found = 1;
				break;
			}
		}
		if (!found) {
			printf("MISSING %s (header %zu)\n", rows[i].name, rows[i].value);
			bad = 1;
		} else if (value != rows[i].value) {
			printf("MISMATCH %s: header %zu, library %zu\n", rows[i].name,
			       rows[i].value, value);
			bad = 1;
		} else {
			checked++;
		}
	}
	if (lib_rows != n) {
		printf("ROWS header %zu, library %zu\n", n, lib_rows);
		bad = 1;
	}
	printf("layout: %zu of %zu rows match\n", checked, n);

	/* Versions: the library reports the headers' values. */
	uint32_t v[4] = { 1, 1, 1, 1 };
	mrc_query_version(&v[0], &v[1], &v[2], &v[3]);
	if (v[0] != MRC_API_CURRENT_VERSION || v[1] != MRC_API_LAST_SUPPORTED_VERSION ||
	    v[2] != MRC_VENDOR_API_CURRENT_VERSION || v[3] != MRC_VENDOR_API_LAST_SUPPORTED_VERSION) {
		printf("VERSION mrc_query_version %08x %08x %08x %08x\n", v[0], v[1], v[2], v[3]);
		bad = 1;
	}
	mrc_ctl_query_version(&v[0], &v[1], &v[2], &v[3]);
	if (v[0] != MRC_CTL_API_CURRENT_VERSION || v[1] != MRC_CTL_API_LAST_SUPPORTED_VERSION ||
	    v[2] != MRC_CTL_VENDOR_API_CURRENT_VERSION ||
	    v[3] != MRC_CTL_VENDOR_API_LAST_SUPPORTED_VERSION) {
		printf("VERSION mrc_ctl_query_version %08x %08x %08x %08x\n", v[0], v[1], v[2], v[3]);
		bad = 1;
	}
	if (!bad)
		printf("versions: mrc %08x, ctl %08x as the headers\n", MRC_API_CURRENT_VERSION,
		       MRC_CTL_API_CURRENT_VERSION);
	return bad;
}
