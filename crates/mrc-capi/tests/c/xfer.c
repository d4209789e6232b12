/* Verified transfer over an MRC QP: `xfer server [DEV]` prints "PORT <n>" and waits for one
 * client; `xfer client PORT [DEV]` writes a test pattern of each size in SIZES into the
 * server's buffer: the first half with RDMA Write, the rest with RDMA Write-with-Immediate
 * (imm = size index). The server takes the Write-with-Immediate completion (via the completion
 * channel fd), checks every byte, and answers over TCP; both exit 0 only if all sizes verify. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

static const size_t SIZES[] = { 1,	  2,	   3,	      4095,	4096,	  4097,
				8191,	  8192,	   8193,      65549,	1 << 20,  (16 << 20) + 5,
				64 << 20 };
#define NSIZES (sizeof(SIZES) / sizeof(SIZES[0]))
#define MAXLEN (64u << 20)

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void post_recv(struct node *n, uint64_t id)
{
	struct ibv_sge sge = { .addr = (uintptr_t)n->buf, .length = 0, .lkey = n->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 }, *bad;
	CHECK(mrc_post_recv(n->qp, &wr, &bad) == 0, "post recv: %s", strerror(errno));
}

static int server(const char *dev)
{
	struct node n;
	struct peer_info me, peer;
	int port, lfd, fd;
	size_t i;

	node_open(&n, dev, MAXLEN, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	lfd = oob_listen(&port);
	printf("PORT %d\n", port);
	fflush(stdout);
	fd = oob_accept(lfd);
	me = node_info(&n);
	oob_send(fd, &me, sizeof(me));
	oob_recv(fd, &peer, sizeof(peer));
	node_connect(&n, &peer);
	for (i = 0; i < 4; i++)
		post_recv(&n, 1000 + i);
	oob_send(fd, "R", 1);
	for (i = 0; i < NSIZES; i++) {
		struct ibv_wc wc;
		char ok;
		CHECK(wait_wc(&n, &wc, 60000), "size %zu: no completion", SIZES[i]);
		CHECK(wc.status == IBV_WC_SUCCESS, "size %zu: %s", SIZES[i],
		      ibv_wc_status_str(wc.status));
		CHECK(wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM && (wc.wc_flags & IBV_WC_WITH_IMM),
		      "opcode %d", wc.opcode);
		CHECK(ntohl(wc.imm_data) == i, "imm %u, want %zu", ntohl(wc.imm_data), i);
		CHECK(wc.qp_num == n.qpn && wc.wr_id == 1000 + (i % 4), "wc ids");
		size_t bad = check_pattern(n.buf, SIZES[i], (uint32_t)i);
		CHECK(bad == SIZES[i], "size %zu: byte %zu differs", SIZES[i], bad);
		post_recv(&n, 1000 + (i % 4));
		ok = 'V';
		oob_send(fd, &ok, 1);
	}
	printf("server: verified %zu sizes\n", NSIZES);
	node_close(&n);
	return 0;
}

static int client(int port, const char *dev)
{
	struct node n;
	struct peer_info me, peer;
	double t0, bytes = 0;
	char c;
	int fd;
	size_t i;

	node_open(&n, dev, MAXLEN, IBV_ACCESS_LOCAL_WRITE);
	fd = oob_connect(port);
	oob_recv(fd, &peer, sizeof(peer));
	me = node_info(&n);
	oob_send(fd, &me, sizeof(me));
	node_connect(&n, &peer);
	oob_recv(fd, &c, 1);
	CHECK(peer.len >= MAXLEN, "server buffer");
	t0 = now_s();
	for (i = 0; i < NSIZES; i++) {
		size_t len = SIZES[i], first = len / 2;
		struct ibv_sge sge[2] = {
			{ .addr = (uintptr_t)n.buf, .length = first, .lkey = n.mr->lkey },
			{ .addr = (uintptr_t)n.buf + first, .length = len - first,
			  .lkey = n.mr->lkey },
		};
		struct ibv_send_wr w2 = {
			.wr_id = 2 * i + 1,
			.sg_list = &sge[1],
			.num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
			.send_flags = IBV_SEND_SIGNALED,
			.imm_data = htonl(i),
			.wr.rdma = { .remote_addr = peer.addr + first, .rkey = peer.rkey },
		};
		struct ibv_send_wr w1 = {
			.wr_id = 2 * i,
			.next = &w2,
			.sg_list = &sge[0],
			.num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.wr.rdma = { .remote_addr = peer.addr, .rkey = peer.rkey },
		};
		struct ibv_send_wr *bad;
		struct ibv_wc wc;
		int want = first ? 2 : 1;

		fill_pattern(n.buf, len, (uint32_t)i);
		CHECK(mrc_post_send(n.qp, first ? &w1 : &w2, &bad) == 0, "post send: %s",
		      strerror(errno));
		for (int k = 0; k < want; k++) {
			CHECK(wait_wc(&n, &wc, 60000), "size %zu: no send completion", len);
			CHECK(wc.status == IBV_WC_SUCCESS, "size %zu: %s", len,
			      ibv_wc_status_str(wc.status));
			CHECK(wc.opcode == IBV_WC_RDMA_WRITE, "opcode");
			CHECK(wc.wr_id == (uint64_t)(2 * i + (want == 2 ? k : 1)), "wr_id order");
		}
		oob_recv(fd, &c, 1);
		CHECK(c == 'V', "server verdict");
		bytes += len;
	}
	double dt = now_s() - t0;
	printf("client: verified %zu sizes, %.0f bytes in %.3f s (%.1f MB/s)\n", NSIZES, bytes,
	       dt, bytes / dt / 1e6);
	node_close(&n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return server(argc >= 3 ? argv[2] : "mrclo");
	if (argc >= 3 && strcmp(argv[1], "client") == 0)
		return client(atoi(argv[2]), argc >= 4 ? argv[3] : "mrclo");
	fprintf(stderr, "usage: xfer server [DEV] | xfer client PORT [DEV]\n");
	return 2;
}
