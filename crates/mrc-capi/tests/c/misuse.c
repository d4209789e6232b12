/* API misuse must give the documented error codes (docs/capi.md §Errors), never a crash:
 * NULL and foreign pointers, double destroy, objects still in use, bad work requests, and
 * posting to a QP in ERROR (set by the application, and reached through a remote access error
 * with its async event). Prints "misuse: N checks passed". */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <mrc_ctl.h>

static int checks;

#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		CHECK(cond, __VA_ARGS__);                                      \
		checks++;                                                      \
	} while (0)

/* A call returning -1 with errno e. */
#define FAILS(call, e)                                                         \
	do {                                                                   \
		errno = 0;                                                     \
		int rc_ = (call);                                              \
		EXPECT(rc_ == -1 && errno == (e), "%s: rc %d errno %d, want -1/%d", \
		       #call, rc_, errno, (e));                                \
	} while (0)

/* A call returning the errno value e ("errors like ibv_*()"). */
#define FAILS_CODE(call, e)                                                    \
	do {                                                                   \
		errno = 0;                                                     \
		int rc_ = (call);                                              \
		EXPECT(rc_ == (e) && errno == (e), "%s: rc %d errno %d, want %d", \
		       #call, rc_, errno, (e));                                \
	} while (0)

/* A call returning NULL with errno e. */
#define NULL_WITH(call, e)                                                     \
	do {                                                                   \
		errno = 0;                                                     \
		void *p_ = (void *)(call);                                     \
		EXPECT(p_ == NULL && errno == (e), "%s: %p errno %d, want NULL/%d", \
		       #call, p_, errno, (e));                                 \
	} while (0)

static struct ibv_send_wr write_wr(struct node *n, struct ibv_sge *sge, uint64_t raddr,
				   uint32_t rkey)
{
	*sge = (struct ibv_sge){ .addr = (uintptr_t)n->buf, .length = 64, .lkey = n->mr->lkey };
	return (struct ibv_send_wr){ .wr_id = 7,
				     .sg_list = sge,
				     .num_sge = 1,
				     .opcode = IBV_WR_RDMA_WRITE,
				     .send_flags = IBV_SEND_SIGNALED,
				     .wr.rdma = { .remote_addr = raddr, .rkey = rkey } };
}

int main(void)
{
	struct node a, b;
	struct ibv_wc wc;
	struct ibv_sge sge;
	struct ibv_send_wr wr, *bad_wr;
	struct ibv_recv_wr rwr, *bad_rwr;
	struct mrc_cq *foreign_cq = (struct mrc_cq *)(uintptr_t)0x1234;
	int fd;
	uint32_t qpn;

	/* NULL and foreign pointers. */
	mrc_query_version(NULL, NULL, NULL, NULL);
	mrc_ctl_query_version(NULL, NULL, NULL, NULL);
	NULL_WITH(mrc_create_context(NULL, NULL), EINVAL);
	FAILS(mrc_destroy_context(NULL), EINVAL);
	FAILS(mrc_query_device(NULL, NULL, NULL), EINVAL);
	NULL_WITH(mrc_create_cq(NULL, 16, NULL, NULL, 0), EINVAL);
	FAILS(mrc_poll_cq(NULL, 1, &wc), EINVAL);
	FAILS(mrc_poll_cq(foreign_cq, 1, &wc), EINVAL);
	FAILS_CODE(mrc_destroy_cq(foreign_cq), EINVAL);
	FAILS_CODE(mrc_destroy_qp(NULL), EINVAL);
	FAILS(mrc_get_qpn(NULL, &qpn), EINVAL);
	FAILS(mrc_get_comp_channel_fd(NULL, &fd), EINVAL);
	FAILS_CODE(mrc_post_send(NULL, NULL, &bad_wr), EINVAL);
	FAILS(mrc_post_recv(NULL, NULL, &bad_rwr), EINVAL);
	FAILS_CODE(mrc_req_notify_cq(NULL, 0), EINVAL);
	mrc_ack_cq_events(NULL, 1);
	mrc_ack_cq_events(foreign_cq, 1);
	FAILS(mrc_ctl_poll_ev_event(NULL, 1, NULL) == -EINVAL ? -1 : 0, EINVAL);
	NULL_WITH(ibv_reg_mr(NULL, &wc, sizeof(wc), IBV_ACCESS_LOCAL_WRITE), EINVAL);
	FAILS_CODE(ibv_dealloc_pd(NULL), EINVAL);
	FAILS_CODE(ibv_dereg_mr(NULL), EINVAL);

	node_open(&a, "mrclo", 1 << 16, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	node_open(&b, "mrclo", 1 << 16, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);

	/* Argument checks on live objects. */
	FAILS(mrc_get_qpn(a.qp, NULL), EINVAL);
	FAILS(mrc_poll_cq(a.cq, -1, &wc), EINVAL);
	NULL_WITH(mrc_create_cq(a.ctx, 0, NULL, NULL, 0), EINVAL);
	NULL_WITH(mrc_create_cq(a.ctx, 16, NULL, NULL, 5), EINVAL);
	NULL_WITH(mrc_create_cq(a.ctx, 16, NULL, b.chan, 0), EINVAL); /* other context's channel */
	FAILS(mrc_ctl_query_ev_profile(a.ctx, 1, NULL, 0), EINVAL);
	{
		/* An operation array that is NULL but claims entries. */
		struct mrc_ctl_ev_profile_attr pa = { .ev_op.op = MRC_CTL_EV_OP_REPLACE_EV,
						       .ev_op.entries = NULL,
						       .ev_op.entry_count = 5 };
		FAILS(mrc_ctl_modify_ev_profile(a.ctx, 77, &pa, MRC_CTL_EV_PROFILE_EV_OP), EINVAL);
		struct mrc_ctl_ev_fmt_profile_attr fa = {
			.ev_fmt_op.op = MRC_CTL_EV_FMT_OP_MODIFY_FIELDS,
			.ev_fmt_op.fmt_fields = NULL,
			.ev_fmt_op.fmt_field_count = 3,
		};
		FAILS(mrc_ctl_modify_ev_fmt_profile(a.ctx, 77, &fa, MRC_CTL_EV_FMT_PROFILE_OP),
		      EINVAL);
		/* Both EV operations at once. */
		FAILS(mrc_ctl_modify_ev_profile(a.ctx, 77, &pa,
						MRC_CTL_EV_PROFILE_EV_OP |
							MRC_CTL_EV_PROFILE_EV_FIELDS_OP),
		      EINVAL);
	}
	{
		/* Endpoint requests: a zero source GID is not the device's, an unknown operation
		 * (EINVAL). */
		struct mrc_ctl_ep_req req;
		struct mrc_ctl_ep_rsp rsp;
		int nrsp = -1;
		memset(&req, 0, sizeof(req));
		req.ev_fmt_mode = MRC_CTL_EV_FMT_MODE_STEV;
		req.req_ev.port = 1;
		FAILS(mrc_ctl_ep_batch_send_wait(a.ctx, 0, MRC_CTL_EP_OP_EV_PROBE, &req, 1, 1000,
						 &rsp, &nrsp),
		      EINVAL);
		EXPECT(nrsp == 0, "no responses");
		FAILS(mrc_ctl_ep_batch_send_wait(a.ctx, 0, MRC_CTL_EP_OP_PORT_STATUS_UPDATE, &req, 1,
						 1000, &rsp, &nrsp),
		      EINVAL);
		FAILS(mrc_ctl_ep_batch_send_wait(a.ctx, 0, (enum mrc_ctl_ep_op_type)9, &req, 1, 1000,
						 &rsp, &nrsp),
		      EINVAL);
		FAILS(mrc_ctl_ep_batch_send_wait(a.ctx, 0, MRC_CTL_EP_OP_EV_PROBE, NULL, 1, 1000,
						 &rsp, &nrsp),
		      EINVAL);
	}

	/* Port administrative state: disabled shows as IBV_PORT_DOWN; bad values are EINVAL. */
	{
		struct mrc_ctl_port_attr pa = { .port_admin_state = MRC_CTL_PORT_ADMIN_DISABLED };
		struct ibv_port_attr st;
		EXPECT(mrc_ctl_modify_port(a.ctx, 1, &pa, MRC_CTL_PORT_ADMIN_STATE) == 0, "disable");
		EXPECT(ibv_query_port(a.ibv, 1, &st) == 0 && st.state == IBV_PORT_DOWN, "port down");
		pa.port_admin_state = 7;
		FAILS(mrc_ctl_modify_port(a.ctx, 1, &pa, MRC_CTL_PORT_ADMIN_STATE), EINVAL);
		FAILS(mrc_ctl_modify_port(a.ctx, 2, &pa, MRC_CTL_PORT_ADMIN_STATE), EINVAL);
		pa.port_admin_state = MRC_CTL_PORT_ADMIN_ENABLED;
		EXPECT(mrc_ctl_modify_port(a.ctx, 1, &pa, MRC_CTL_PORT_ADMIN_STATE) == 0, "enable");
		pa.port_admin_state = 9;
		EXPECT(mrc_ctl_query_port(a.ctx, 1, &pa, MRC_CTL_PORT_ADMIN_STATE) == 0 &&
			       pa.port_admin_state == MRC_CTL_PORT_ADMIN_ENABLED,
		       "query enabled");
		EXPECT(ibv_query_port(a.ibv, 1, &st) == 0 && st.state == IBV_PORT_ACTIVE, "port up");
	}

	/* Posting before RTS. */
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	FAILS_CODE(mrc_post_send(a.qp, &wr, &bad_wr), EINVAL);
	EXPECT(bad_wr == &wr, "bad_wr names the refused WR");
	rwr = (struct ibv_recv_wr){ .wr_id = 1 };
	FAILS(mrc_post_recv(a.qp, &rwr, &bad_rwr), EINVAL); /* RESET */
	{
		/* RESET -> RTS is no transition; IBV_QP_TIMEOUT is not an MRC attribute. */
		struct ibv_qp_attr va = { .qp_state = IBV_QPS_RTS };
		FAILS_CODE(mrc_modify_qp(a.qp, &va, IBV_QP_STATE, NULL, 0), EINVAL);
		va.qp_state = IBV_QPS_INIT;
		FAILS_CODE(mrc_modify_qp(a.qp, &va, IBV_QP_STATE | IBV_QP_TIMEOUT, NULL, 0), EINVAL);
		FAILS_CODE(mrc_modify_qp(a.qp, NULL, IBV_QP_STATE, NULL, 0), EINVAL);
	}

	struct peer_info ia = node_info(&a), ib = node_info(&b);
	node_connect(&a, &ib);
	node_connect(&b, &ia);

	/* Bad work requests on an RTS QP. */
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	wr.opcode = IBV_WR_SEND;
	FAILS_CODE(mrc_post_send(a.qp, &wr, &bad_wr), EINVAL);
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	wr.num_sge = 2;
	FAILS_CODE(mrc_post_send(a.qp, &wr, &bad_wr), EINVAL);
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	sge.lkey ^= 0x55;
	FAILS_CODE(mrc_post_send(a.qp, &wr, &bad_wr), EINVAL);
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	sge.length = (1 << 16) + 1; /* beyond the MR */
	FAILS_CODE(mrc_post_send(a.qp, &wr, &bad_wr), EINVAL);

	/* A good write works. */
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	memset(a.buf, 0x5a, 64);
	EXPECT(mrc_post_send(a.qp, &wr, &bad_wr) == 0, "good write");
	EXPECT(wait_wc(&a, &wc, 10000) && wc.status == IBV_WC_SUCCESS, "good write completes");
	EXPECT(b.buf[0] == 0x5a && b.buf[63] == 0x5a, "data placed");

	/* A zero-length Write-with-Immediate (no SGE) completes on both sides. */
	{
		rwr = (struct ibv_recv_wr){ .wr_id = 55 };
		EXPECT(mrc_post_recv(b.qp, &rwr, &bad_rwr) == 0, "post recv on b");
		wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
		wr.num_sge = 0;
		wr.sg_list = NULL;
		wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
		wr.imm_data = htonl(0xabcd);
		EXPECT(mrc_post_send(a.qp, &wr, &bad_wr) == 0, "zero-length write-imm");
		EXPECT(wait_wc(&a, &wc, 10000) && wc.status == IBV_WC_SUCCESS && wc.wr_id == 7,
		       "zero-length send completion");
		EXPECT(wait_wc(&b, &wc, 10000) && wc.status == IBV_WC_SUCCESS && wc.wr_id == 55 &&
			       wc.byte_len == 0 && ntohl(wc.imm_data) == 0xabcd,
		       "zero-length receive completion");
	}

	/* CQ overrun: a CQ of one entry gets two completions; the second is lost and the
	 * context gets IBV_EVENT_CQ_ERR naming the CQ. */
	{
		struct mrc_cq *small = mrc_create_cq(a.ctx, 1, NULL, NULL, 0);
		EXPECT(small != NULL, "small cq");
		struct mrc_qp_init_attr qi = {
			.send_cq = small, .recv_cq = small, .pd = a.pd,
			.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1,
				 .max_recv_sge = 1 },
		};
		struct mrc_qp *q2 = mrc_create_qp(a.ctx, &qi);
		EXPECT(q2 != NULL, "second qp");
		/* q2 talks to itself (its own QPN), writing into a's buffer. */
		struct node tmp = a;
		tmp.qp = q2;
		tmp.cq = small;
		CHECK(mrc_get_qpn(q2, &tmp.qpn) == 0, "qpn");
		struct peer_info self = node_info(&tmp);
		node_connect(&tmp, &self);
		struct ibv_send_wr w2[2];
		struct ibv_sge s2[2];
		w2[0] = write_wr(&a, &s2[0], (uintptr_t)a.buf + 1024, a.mr->rkey);
		w2[1] = write_wr(&a, &s2[1], (uintptr_t)a.buf + 2048, a.mr->rkey);
		w2[0].next = &w2[1];
		EXPECT(mrc_post_send(q2, &w2[0], &bad_wr) == 0, "two writes");
		struct mrc_async_event ev;
		EXPECT(mrc_get_async_event(a.ctx, &ev) == 0, "async event");
		EXPECT(ev.event_type == IBV_EVENT_CQ_ERR && ev.element.cq == small,
		       "CQ_ERR event %d", ev.event_type);
		mrc_ack_async_event(&ev);
		EXPECT(mrc_poll_cq(small, 4, &wc) == 1, "one completion kept");
		EXPECT(mrc_destroy_qp(q2) == 0 && mrc_destroy_cq(small) == 0, "destroy");
	}

	/* A remote access error (rkey not ours): the WR fails with REM_ACCESS_ERR, the QP goes to
	 * ERROR with an async event, and posting to it is refused. */
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey ^ 0x100);
	EXPECT(mrc_post_send(a.qp, &wr, &bad_wr) == 0, "post (remote key wrong)");
	EXPECT(wait_wc(&a, &wc, 20000), "error completion");
	EXPECT(wc.status == IBV_WC_REM_ACCESS_ERR, "status %s", ibv_wc_status_str(wc.status));
	{
		struct mrc_async_event ev;
		EXPECT(mrc_get_async_event(a.ctx, &ev) == 0, "async event");
		EXPECT(ev.event_type == IBV_EVENT_QP_ACCESS_ERR && ev.element.qp == a.qp,
		       "async event %d", ev.event_type);
		mrc_ack_async_event(&ev);
		struct ibv_qp_attr qa;
		EXPECT(mrc_query_qp(a.qp, &qa, IBV_QP_STATE, NULL, 0, NULL) == 0 &&
			       qa.qp_state == IBV_QPS_ERR,
		       "QP in ERROR");
	}
	wr = write_wr(&a, &sge, (uintptr_t)b.buf, b.mr->rkey);
	FAILS_CODE(mrc_post_send(a.qp, &wr, &bad_wr), EINVAL);
	EXPECT(bad_wr == &wr, "bad_wr on ERROR QP");
	/* Receives posted to an ERROR QP complete flushed. */
	rwr = (struct ibv_recv_wr){ .wr_id = 99 };
	EXPECT(mrc_post_recv(a.qp, &rwr, &bad_rwr) == 0, "post recv in ERROR");
	EXPECT(mrc_poll_cq(a.cq, 1, &wc) == 1 && wc.wr_id == 99 &&
		       wc.status == IBV_WC_WR_FLUSH_ERR,
	       "flushed receive");

	/* The application moves b to ERROR itself. */
	{
		struct ibv_qp_attr va = { .qp_state = IBV_QPS_ERR };
		EXPECT(mrc_modify_qp(b.qp, &va, IBV_QP_STATE, NULL, 0) == 0, "to ERROR");
		wr = write_wr(&b, &sge, (uintptr_t)a.buf, a.mr->rkey);
		FAILS_CODE(mrc_post_send(b.qp, &wr, &bad_wr), EINVAL);
		/* CUR_STATE must match. */
		va = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RESET, .cur_qp_state = IBV_QPS_RTS };
		FAILS_CODE(mrc_modify_qp(b.qp, &va, IBV_QP_STATE | IBV_QP_CUR_STATE, NULL, 0), EINVAL);
	}

	/* Objects in use. */
	FAILS_CODE(mrc_destroy_cq(a.cq), EBUSY);
	FAILS(mrc_destroy_context(a.ctx), EBUSY);
	FAILS_CODE(ibv_dealloc_pd(a.pd), EBUSY);
	FAILS_CODE(mrc_destroy_comp_channel(a.chan), EBUSY);
	{
		struct mrc_qp_hint_init_attr hi;
		memset(&hi, 0, sizeof(hi));
		hi.attr.num_qps_per_peer = 2;
		struct mrc_qp_hint *h = mrc_create_qp_hint(a.ctx, &hi);
		EXPECT(h != NULL, "hint");
		struct mrc_qp_hint_attr ha;
		memset(&ha, 0, sizeof(ha));
		EXPECT(mrc_query_qp_hint(h, &ha, MRC_QP_HINT_NUM_QPS_PER_PEER) == 0 &&
			       ha.num_qps_per_peer == 2,
		       "query hint");
		ha.num_send_peers = -3;
		FAILS(mrc_modify_qp_hint(h, &ha, MRC_QP_HINT_NUM_SEND_PEERS), EINVAL);
		EXPECT(mrc_destroy_qp_hint(h) == 0, "destroy hint");
		FAILS(mrc_destroy_qp_hint(h), EINVAL);
	}

	/* Double destroy. */
	struct mrc_cq *spare = mrc_create_cq(a.ctx, 8, NULL, NULL, 0);
	EXPECT(spare != NULL, "spare cq");
	EXPECT(mrc_destroy_cq(spare) == 0, "destroy spare");
	FAILS_CODE(mrc_destroy_cq(spare), EINVAL);
	FAILS(mrc_poll_cq(spare, 1, &wc), EINVAL);
	struct mrc_qp *qa = a.qp;
	EXPECT(mrc_destroy_qp(qa) == 0, "destroy qp");
	FAILS_CODE(mrc_destroy_qp(qa), EINVAL);
	FAILS_CODE(mrc_post_send(qa, &wr, &bad_wr), EINVAL);
	EXPECT(mrc_destroy_cq(a.cq) == 0, "destroy cq");
	FAILS_CODE(mrc_destroy_cq(a.cq), EINVAL);
	EXPECT(mrc_destroy_comp_channel(a.chan) == 0, "destroy channel");
	FAILS_CODE(mrc_destroy_comp_channel(a.chan), EINVAL);
	struct mrc_context *ca = a.ctx;
	EXPECT(mrc_destroy_context(ca) == 0, "destroy context");
	FAILS(mrc_destroy_context(ca), EINVAL);
	NULL_WITH(mrc_create_cq(ca, 8, NULL, NULL, 0), EINVAL);
	struct ibv_mr *mr = a.mr;
	EXPECT(ibv_dereg_mr(mr) == 0, "dereg");
	FAILS_CODE(ibv_dereg_mr(mr), EINVAL);
	EXPECT(ibv_dealloc_pd(a.pd) == 0, "dealloc pd");
	FAILS_CODE(ibv_dealloc_pd(a.pd), EINVAL);
	EXPECT(ibv_close_device(a.ibv) == 0, "close");
	FAILS_CODE(ibv_close_device(a.ibv), EINVAL);
	free(a.buf);

	node_close(&b);
	printf("misuse: %d checks passed\n", checks);
	return 0;
}
