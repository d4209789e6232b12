/* Helpers shared by the C test programs (see common.h). */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	return v ? strtoull(v, NULL, 10) : def;
}

void node_open(struct node *n, const char *name, size_t len, int access)
{
	struct ibv_device **list;
	struct mrc_device_attr attr = { 0 };
	struct mrc_context_attr cattr = { .mrc_api_version_used = MRC_API_CURRENT_VERSION };
	struct mrc_qp_init_attr qattr;
	int num = 0, i, supported = 0;

	memset(n, 0, sizeof(*n));
	list = ibv_get_device_list(&num);
	CHECK(list && num > 0, "no devices");
	for (i = 0; i < num; i++)
		if (strcmp(ibv_get_device_name(list[i]), name) == 0)
			break;
	CHECK(i < num, "device %s not found", name);
	n->ibv = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	CHECK(n->ibv, "open %s", name);
	CHECK(mrc_query_device(n->ibv, &attr, &supported) == 0 && supported, "query device");
	CHECK(attr.mrc_protocol_version & MRC_PROTOCOL_VERSION_1, "protocol version");
	struct ibv_port_attr pattr;
	CHECK(ibv_query_port(n->ibv, 1, &pattr) == 0, "query port");
	CHECK(pattr.state == IBV_PORT_ACTIVE, "port state %d", pattr.state);
	CHECK(ibv_query_gid(n->ibv, 1, 0, &n->gid) == 0, "query gid");
	n->pd = ibv_alloc_pd(n->ibv);
	CHECK(n->pd, "alloc pd");
	n->ctx = mrc_create_context(n->ibv, &cattr);
	CHECK(n->ctx, "create context: %s", strerror(errno));
	CHECK(mrc_create_comp_channel(n->ctx, &n->chan) == 0, "create channel");
	n->cq = mrc_create_cq(n->ctx, 4096, n, n->chan, 0);
	CHECK(n->cq, "create cq");
	CHECK(mrc_req_notify_cq(n->cq, 0) == 0, "req notify");
	qattr = (struct mrc_qp_init_attr){
		.qp_context = n,
		.send_cq = n->cq,
		.recv_cq = n->cq,
		.sq_sig_all = 0,
		.cap = { .max_send_wr = 256, .max_recv_wr = 256, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.pd = n->pd,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM,
	};
	n->qp = mrc_create_qp(n->ctx, &qattr);
	CHECK(n->qp, "create qp: %s", strerror(errno));
	CHECK(mrc_get_qpn(n->qp, &n->qpn) == 0, "qpn");
	n->len = len;
	n->buf = aligned_alloc(4096, (len + 4095) / 4096 * 4096);
	CHECK(n->buf, "alloc %zu", len);
	memset(n->buf, 0, len);
	n->mr = ibv_reg_mr(n->pd, n->buf, len, access);
	CHECK(n->mr, "reg mr: %s", strerror(errno));
	CHECK(n->mr->addr == n->buf && n->mr->length == len, "mr bounds");
}

struct peer_info node_info(const struct node *n)
{
	struct peer_info p;
	memset(&p, 0, sizeof(p));
	memcpy(p.gid, n->gid.raw, 16);
	p.qpn = n->qpn;
	p.addr = (uintptr_t)n->buf;
	p.rkey = n->mr->rkey;
	p.len = n->len;
	return p;
}

void node_connect(struct node *n, const struct peer_info *peer)
{
	struct ibv_qp_attr va;
	struct mrc_qp_attr ma;
	int vm, mm;

	va = (struct ibv_qp_attr){ .qp_state = IBV_QPS_INIT };
	ma = (struct mrc_qp_attr){
		.profile.ev_profile_id = env_u64("MRC_QP_EV_PROFILE_ID", 1),
		.profile.cc_profile_id = env_u64("MRC_QP_CC_PROFILE_ID", 1),
		.qp_hint = NULL,
	};
	mm = MRC_QP_EV_PROFILE_ID | MRC_QP_CC_PROFILE_ID | MRC_QP_HINT;
	CHECK(mrc_modify_qp(n->qp, &va, IBV_QP_STATE, &ma, mm) == 0, "INIT: %s", strerror(errno));

	va = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR, .dest_qp_num = peer->qpn,
				   .path_mtu = IBV_MTU_4096 };
	memcpy(va.ah_attr.grh.dgid.raw, peer->gid, 16);
	va.ah_attr.is_global = 1;
	va.ah_attr.port_num = 1;
	vm = IBV_QP_STATE | IBV_QP_AV | IBV_QP_DEST_QPN | IBV_QP_PATH_MTU;
	ma = (struct mrc_qp_attr){
		.mpr.mpr = 8,
		.mpr.mpr_dest = 8,
		.wimm.max_wimm = 128,
		.wimm.max_wimm_dest = 128,
		.cap = 0,
	};
	mm = MRC_QP_MPR | MRC_QP_MPR_DEST | MRC_QP_MAX_WIMM | MRC_QP_MAX_WIMM_DEST | MRC_QP_CAP;
	CHECK(mrc_modify_qp(n->qp, &va, vm, &ma, mm) == 0, "RTR: %s", strerror(errno));

	va = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS };
	ma = (struct mrc_qp_attr){
		.mpr.mpr = 8,
		.wimm.max_wimm = 128,
		.timeout = 14,
		.retry.linear_cnt = 7,
		.retry.exp_cnt = 25,
	};
	mm = MRC_QP_MPR | MRC_QP_MAX_WIMM | MRC_QP_TIMEOUT | MRC_QP_RETRY_CNT;
	CHECK(mrc_modify_qp(n->qp, &va, IBV_QP_STATE, &ma, mm) == 0, "RTS: %s", strerror(errno));

	struct ibv_qp_attr qa;
	struct mrc_qp_attr qm;
	struct mrc_qp_init_attr qi;
	CHECK(mrc_query_qp(n->qp, &qa, IBV_QP_STATE, &qm, MRC_QP_MPR | MRC_QP_TIMEOUT, &qi) == 0,
	      "query qp");
	CHECK(qa.qp_state == IBV_QPS_RTS && qm.timeout == 14 && qm.mpr.mpr == 8 &&
		      qi.send_cq == n->cq && qa.dest_qp_num == peer->qpn,
	      "query qp values");
}

void node_close(struct node *n)
{
	CHECK(mrc_destroy_qp(n->qp) == 0, "destroy qp");
	CHECK(mrc_destroy_cq(n->cq) == 0, "destroy cq");
	CHECK(mrc_destroy_comp_channel(n->chan) == 0, "destroy channel");
	CHECK(mrc_destroy_context(n->ctx) == 0, "destroy context");
	CHECK(ibv_dereg_mr(n->mr) == 0, "dereg mr");
	CHECK(ibv_dealloc_pd(n->pd) == 0, "dealloc pd");
	CHECK(ibv_close_device(n->ibv) == 0, "close device");
	free(n->buf);
}

int poll_or_block(struct node *n, int max, struct ibv_wc *wc)
{
	int got = mrc_poll_cq(n->cq, max, wc);
	CHECK(got >= 0, "poll cq");
	if (got > 0)
		return got;
	/* Arm, then poll again: a completion that came before the arming raises no event. */
	CHECK(mrc_req_notify_cq(n->cq, 0) == 0, "arm cq");
	got = mrc_poll_cq(n->cq, max, wc);
	CHECK(got >= 0, "poll cq");
	if (got > 0)
		return got;
	int fd;
	CHECK(mrc_get_comp_channel_fd(n->chan, &fd) == 0, "channel fd");
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 100) == 1) {
		struct mrc_cq *ev_cq;
		void *ev_ctx;
		CHECK(mrc_get_cq_event(n->chan, &ev_cq, &ev_ctx) == 0, "get cq event");
		CHECK(ev_cq == n->cq && ev_ctx == n, "cq event names our CQ");
		mrc_ack_cq_events(ev_cq, 1);
	}
	got = mrc_poll_cq(n->cq, max, wc);
	CHECK(got >= 0, "poll cq");
	return got;
}

int wait_wc(struct node *n, struct ibv_wc *wc, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited += 100)
		if (poll_or_block(n, 1, wc) == 1)
			return 1;
	return 0;
}

int oob_listen(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "socket");
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
	CHECK(listen(fd, 1) == 0, "listen");
	CHECK(getsockname(fd, (struct sockaddr *)&a, &l) == 0, "getsockname");
	*port = ntohs(a.sin_port);
	return fd;
}

int oob_accept(int lfd)
{
	int fd = accept(lfd, NULL, NULL);
	CHECK(fd >= 0, "accept");
	return fd;
}

int oob_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0, "socket");
	CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect %d", port);
	return fd;
}

void oob_send(int fd, const void *p, size_t n)
{
	CHECK(write(fd, p, n) == (ssize_t)n, "oob send");
}

void oob_recv(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		CHECK(r > 0, "oob recv");
		got += r;
	}
}

static uint32_t xs(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(xs(&s) >> 11);
}

size_t check_pattern(const uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(xs(&s) >> 11))
			return i;
	return n;
}
