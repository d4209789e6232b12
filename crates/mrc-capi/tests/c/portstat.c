/* Port status update: `portstat DEV_A DEV_B [MASK]`. One process, two QPs: A (on DEV_A)
 * receives, B (on DEV_B) sends. Phase 1: B writes 32 MiB to A. Then A's controller tells B's
 * endpoint which of A's ports are up (mrc_ctl_ep_batch_send_wait, MRC_CTL_EP_OP_PORT_STATUS_UPDATE,
 * MASK: bit N = port N, default port 1 only); phase 2: B writes 32 MiB again. Between phases the
 * program prints a line and waits for a line on stdin (so a test can read switch counters). */
#include "common.h"

#include <errno.h>
#include <string.h>
#include <mrc_ctl.h>

#define LEN (32u << 20)

static void phase(struct node *a, struct node *b, uint32_t seed)
{
	uint64_t posted = 0, done = 0, count = LEN / (1 << 20);
	fill_pattern(b->buf, LEN, seed);
	while (done < count) {
		while (posted < count && posted - done < 8) {
			uint64_t off = posted << 20;
			struct ibv_sge sge = { .addr = (uintptr_t)b->buf + off, .length = 1 << 20,
					       .lkey = b->mr->lkey };
			struct ibv_send_wr wr = {
				.wr_id = posted,
				.sg_list = &sge,
				.num_sge = 1,
				.opcode = IBV_WR_RDMA_WRITE,
				.send_flags = IBV_SEND_SIGNALED,
				.wr.rdma = { .remote_addr = (uintptr_t)a->buf + off, .rkey = a->mr->rkey },
			}, *bad;
			CHECK(mrc_post_send(b->qp, &wr, &bad) == 0, "post: %s", strerror(errno));
			posted++;
		}
		struct ibv_wc wc;
		CHECK(wait_wc(b, &wc, 60000), "completion");
		CHECK(wc.status == IBV_WC_SUCCESS, "%s", ibv_wc_status_str(wc.status));
		done++;
	}
	CHECK(check_pattern(a->buf, LEN, seed) == LEN, "data verified");
}

static void wait_line(void)
{
	char line[16];
	fflush(stdout);
	CHECK(fgets(line, sizeof(line), stdin) != NULL, "stdin");
}

int main(int argc, char **argv)
{
	struct node a, b;
	CHECK(argc >= 3, "usage: portstat DEV_A DEV_B [MASK]");
	uint32_t mask = argc >= 4 ? strtoul(argv[3], NULL, 0) : 1u << 1;

	node_open(&a, argv[1], LEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	node_open(&b, argv[2], LEN, IBV_ACCESS_LOCAL_WRITE);
	struct peer_info ia = node_info(&a), ib = node_info(&b);
	node_connect(&a, &ib);
	node_connect(&b, &ia);

	phase(&a, &b, 1);
	printf("phase1 done\n");
	wait_line();

	struct mrc_ctl_ep_req req;
	struct mrc_ctl_ep_rsp rsp;
	int nrsp = -1;
	memset(&req, 0, sizeof(req));
	req.req_id = 7;
	req.sgid = a.gid;
	req.dgid = b.gid;
	req.ev_fmt_mode = MRC_CTL_EV_FMT_MODE_STEV;
	req.req_ev.port = 1; /* EV 0 (STEV value 0) */
	req.op.port_status_update.port_status = mask;
	CHECK(mrc_ctl_ep_batch_send_wait(a.ctx, 0, MRC_CTL_EP_OP_PORT_STATUS_UPDATE, &req, 1,
					 1000000000, &rsp, &nrsp) == 0,
	      "port status update: %s", strerror(errno));
	CHECK(nrsp == 1 && rsp.req_id == 7 && rsp.rtt > 0, "answered");
	printf("port status 0x%x sent, answered in %u ns\n", mask, rsp.rtt);

	phase(&a, &b, 2);
	printf("phase2 done\n");
	wait_line();
	node_close(&b);
	node_close(&a);
	printf("portstat: ok\n");
	return 0;
}
