/* The QP management walkthrough, step by step: find and open the first device, query it,
 * allocate a PD, create the MRC context, a CQ and a QP, move it RESET -> INIT (EV / CC profile
 * IDs from MRC_QP_EV_PROFILE_ID / MRC_QP_CC_PROFILE_ID) -> RTR -> RTS with the walkthrough's
 * attribute values, query it, destroy everything. Differences from the printed text: its typos
 * are fixed (variable names, a ';' inside an initialiser, the ',' joining the RTR mask), and
 * every step's result is checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>
#include <mrc.h>

#define ERROR 1
#define STEP(cond, what)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "walk_qp: %s failed (errno %d)\n", what, errno); \
			return ERROR;                                          \
		}                                                              \
		printf("walk_qp: %s\n", what);                                 \
	} while (0)

int main(void)
{
	struct ibv_device **dev_list;
	struct ibv_context *ibv_ctx = NULL;
	struct mrc_device_attr mrc_attr;
	int supported;
	struct ibv_pd *pd;
	struct mrc_context_attr mrc_ctx_attr;
	struct mrc_context *mrc_ctx;
	struct mrc_cq *cq;
	int cqe = 128;
	struct mrc_qp *mrc_qp;
	struct mrc_qp_init_attr mrc_qp_init_attr;
	struct ibv_qp_attr ibv_qp_attr;
	int ibv_qp_attr_mask;
	struct mrc_qp_attr mrc_qp_attr;
	int mrc_qp_attr_mask;
	uint64_t ev_profile_id, cc_profile_id;

	dev_list = ibv_get_device_list(NULL);
	STEP(dev_list && dev_list[0], "get device list");
	ibv_ctx = ibv_open_device(dev_list[0]);
	ibv_free_device_list(dev_list);
	STEP(ibv_ctx, "open first device");

	mrc_attr = (struct mrc_device_attr){ 0 };
	STEP(mrc_query_device(ibv_ctx, &mrc_attr, &supported) == 0, "query device");
	STEP(supported, "MRC supported");
	printf("walk_qp: protocol versions 0x%x, max_wimm %u, max_mpr %u, max_qp_hint %u\n",
	       mrc_attr.mrc_protocol_version, mrc_attr.wimm_attr.max_wimm,
	       mrc_attr.mpr_attr.max_mpr, mrc_attr.qp_attr.max_qp_hint);

	pd = ibv_alloc_pd(ibv_ctx);
	STEP(pd, "alloc pd");

	mrc_ctx_attr = (struct mrc_context_attr){
		.mrc_api_version_used = MRC_API_CURRENT_VERSION,
	};
	mrc_ctx = mrc_create_context(ibv_ctx, &mrc_ctx_attr);
	STEP(mrc_ctx, "create context");

	cq = mrc_create_cq(mrc_ctx, cqe, NULL, NULL, 0);
	STEP(cq, "create cq");

	mrc_qp_init_attr = (struct mrc_qp_init_attr){
		.send_cq = cq,
		.recv_cq = cq,
		.sq_sig_all = 1,
		.cap = {
			.max_send_wr = 128,
			.max_recv_wr = 128,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
		.pd = pd,
		.send_ops_flags = (IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM),
	};
	mrc_qp = mrc_create_qp(mrc_ctx, &mrc_qp_init_attr);
	STEP(mrc_qp, "create qp");

	ev_profile_id = strtoul(getenv("MRC_QP_EV_PROFILE_ID"), NULL, 10);
	cc_profile_id = strtoul(getenv("MRC_QP_CC_PROFILE_ID"), NULL, 10);
	ibv_qp_attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_INIT };
	ibv_qp_attr_mask = IBV_QP_STATE;
	mrc_qp_attr = (struct mrc_qp_attr){
		.profile.ev_profile_id = ev_profile_id,
		.profile.cc_profile_id = cc_profile_id,
		.qp_hint = NULL,
	};
	mrc_qp_attr_mask = (MRC_QP_EV_PROFILE_ID | MRC_QP_CC_PROFILE_ID | MRC_QP_HINT);
	STEP(mrc_modify_qp(mrc_qp, &ibv_qp_attr, ibv_qp_attr_mask, &mrc_qp_attr,
			   mrc_qp_attr_mask) == 0,
	     "modify to INIT");

	ibv_qp_attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR };
	ibv_qp_attr_mask = IBV_QP_STATE;
	mrc_qp_attr = (struct mrc_qp_attr){
		.mpr.mpr = 8,
		.mpr.mpr_dest = 8,
		.wimm.max_wimm = 128,
		.wimm.max_wimm_dest = 128,
		.cap = MRC_QP_CAP_DYNAMIC_MPR,
	};
	mrc_qp_attr_mask = (MRC_QP_MPR | MRC_QP_MPR_DEST | MRC_QP_MAX_WIMM | MRC_QP_MAX_WIMM_DEST |
			    MRC_QP_CAP);
	STEP(mrc_modify_qp(mrc_qp, &ibv_qp_attr, ibv_qp_attr_mask, &mrc_qp_attr,
			   mrc_qp_attr_mask) == 0,
	     "modify to RTR");

	ibv_qp_attr = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS };
	ibv_qp_attr_mask = IBV_QP_STATE;
	mrc_qp_attr = (struct mrc_qp_attr){
		.mpr.mpr = 8,
		.wimm.max_wimm = 128,
		.timeout = 8,
		.retry.linear_cnt = 7,
		.retry.exp_cnt = 25,
	};
	mrc_qp_attr_mask = (MRC_QP_MPR | MRC_QP_MAX_WIMM | MRC_QP_TIMEOUT | MRC_QP_RETRY_CNT);
	STEP(mrc_modify_qp(mrc_qp, &ibv_qp_attr, ibv_qp_attr_mask, &mrc_qp_attr,
			   mrc_qp_attr_mask) == 0,
	     "modify to RTS");

	ibv_qp_attr_mask = IBV_QP_STATE;
	mrc_qp_attr_mask = (MRC_QP_MAX_WIMM | MRC_QP_MAX_WIMM_DEST | MRC_QP_MPR | MRC_QP_MPR_DEST |
			    MRC_QP_TIMEOUT | MRC_QP_EV_PROFILE_ID | MRC_QP_CC_PROFILE_ID |
			    MRC_QP_HINT | MRC_QP_RETRY_CNT | MRC_QP_CAP | MRC_QP_VENDOR_CFG);
	STEP(mrc_query_qp(mrc_qp, &ibv_qp_attr, ibv_qp_attr_mask, &mrc_qp_attr, mrc_qp_attr_mask,
			  &mrc_qp_init_attr) == 0,
	     "query qp");
	STEP(ibv_qp_attr.qp_state == IBV_QPS_RTS, "state is RTS");
	STEP(mrc_qp_attr.mpr.mpr == 8 && mrc_qp_attr.mpr.mpr_dest == 8 &&
		     mrc_qp_attr.wimm.max_wimm == 128 && mrc_qp_attr.wimm.max_wimm_dest == 128 &&
		     mrc_qp_attr.timeout == 8 && mrc_qp_attr.retry.linear_cnt == 7 &&
		     mrc_qp_attr.retry.exp_cnt == 25 &&
		     mrc_qp_attr.profile.ev_profile_id == ev_profile_id &&
		     mrc_qp_attr.profile.cc_profile_id == cc_profile_id &&
		     mrc_qp_attr.cap == MRC_QP_CAP_DYNAMIC_MPR && mrc_qp_attr.qp_hint == NULL,
	     "queried attributes are the ones set");
	STEP(mrc_qp_init_attr.send_cq == cq && mrc_qp_init_attr.pd == pd &&
		     mrc_qp_init_attr.cap.max_send_wr == 128 && mrc_qp_init_attr.sq_sig_all == 1,
	     "queried init attributes");

	STEP(mrc_destroy_qp(mrc_qp) == 0, "destroy qp");
	STEP(mrc_destroy_cq(cq) == 0, "destroy cq");
	STEP(mrc_destroy_context(mrc_ctx) == 0, "destroy context");
	STEP(ibv_dealloc_pd(pd) == 0, "dealloc pd");
	STEP(ibv_close_device(ibv_ctx) == 0, "close device");
	printf("walkthrough mrc_qp: ok\n");
	return 0;
}
