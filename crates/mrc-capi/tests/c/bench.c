/* Bandwidth benchmark over an MRC QP.
 *   bench server [DEV]                       prints "PORT <n>", serves one client
 *   bench client PORT [DEV] [write|imm] [SIZE] [TOTAL] [DEPTH]
 * The client keeps DEPTH writes of SIZE bytes in flight until TOTAL bytes are written into the
 * server's buffer (ring of 64 MiB). Mode `write`: RDMA Writes, the last one with an immediate;
 * mode `imm`: every write is a Write-with-Immediate and the server takes each completion.
 * Both sides print "bench: <mode> <size> B x <n>: <Gbit/s> Gbit/s". Defaults: write, 1 MiB,
 * 1 GiB, depth 16. */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#define RING (64u << 20)

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

struct params {
	uint32_t imm_mode;
	uint32_t size;
	uint64_t total;
	uint32_t depth;
};

static void post_recvs(struct node *n, int k)
{
	for (int i = 0; i < k; i++) {
		struct ibv_recv_wr wr = { .wr_id = 5 }, *bad;
		CHECK(mrc_post_recv(n->qp, &wr, &bad) == 0, "post recv: %s", strerror(errno));
	}
}

static int server(const char *dev)
{
	struct node n;
	struct peer_info me, peer;
	struct params p;
	int port, lfd, fd;
	char c = 'R';

	node_open(&n, dev, RING, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	lfd = oob_listen(&port);
	printf("PORT %d\n", port);
	fflush(stdout);
	fd = oob_accept(lfd);
	me = node_info(&n);
	oob_send(fd, &me, sizeof(me));
	oob_recv(fd, &peer, sizeof(peer));
	oob_recv(fd, &p, sizeof(p));
	node_connect(&n, &peer);
	post_recvs(&n, 256);
	oob_send(fd, &c, 1);
	uint64_t count = (p.total + p.size - 1) / p.size, want = p.imm_mode ? count : 1, got = 0;
	double t0 = now_s();
	while (got < want) {
		struct ibv_wc wc[32];
		int k = poll_or_block(&n, 32, wc);
		for (int i = 0; i < k; i++) {
			CHECK(wc[i].status == IBV_WC_SUCCESS, "%s", ibv_wc_status_str(wc[i].status));
			CHECK(wc[i].opcode == IBV_WC_RECV_RDMA_WITH_IMM, "opcode");
			if (p.imm_mode)
				CHECK(ntohl(wc[i].imm_data) == got, "imm %u want %lu", ntohl(wc[i].imm_data),
				      (unsigned long)got);
			got++;
		}
		if (k > 0)
			post_recvs(&n, k);
		CHECK(now_s() - t0 < 300, "timeout");
	}
	double dt = now_s() - t0;
	printf("bench server: %s %u B x %lu: %.3f Gbit/s\n", p.imm_mode ? "imm" : "write", p.size,
	       (unsigned long)count, count * (double)p.size * 8 / dt / 1e9);
	oob_send(fd, &c, 1);
	node_close(&n);
	return 0;
}

static int client(int port, const char *dev, struct params p)
{
	struct node n;
	struct peer_info me, peer;
	char c;
	int fd;

	node_open(&n, dev, RING, IBV_ACCESS_LOCAL_WRITE);
	fill_pattern(n.buf, RING, 1);
	fd = oob_connect(port);
	oob_recv(fd, &peer, sizeof(peer));
	me = node_info(&n);
	oob_send(fd, &me, sizeof(me));
	oob_send(fd, &p, sizeof(p));
	node_connect(&n, &peer);
	oob_recv(fd, &c, 1);
	uint64_t count = (p.total + p.size - 1) / p.size, posted = 0, done = 0;
	double t0 = now_s();
	while (done < count) {
		while (posted < count && posted - done < p.depth) {
			uint64_t off = (posted * p.size) % (RING - p.size + 1);
			struct ibv_sge sge = { .addr = (uintptr_t)n.buf + off, .length = p.size,
					       .lkey = n.mr->lkey };
			int imm = p.imm_mode || posted == count - 1;
			struct ibv_send_wr wr = {
				.wr_id = posted,
				.sg_list = &sge,
				.num_sge = 1,
				.opcode = imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE,
				.send_flags = IBV_SEND_SIGNALED,
				.imm_data = htonl((uint32_t)posted),
				.wr.rdma = { .remote_addr = peer.addr + off, .rkey = peer.rkey },
			}, *bad;
			CHECK(mrc_post_send(n.qp, &wr, &bad) == 0, "post: %s", strerror(errno));
			posted++;
		}
		struct ibv_wc wc[32];
		int k = poll_or_block(&n, 32, wc);
		for (int i = 0; i < k; i++) {
			CHECK(wc[i].status == IBV_WC_SUCCESS, "%s", ibv_wc_status_str(wc[i].status));
			CHECK(wc[i].wr_id == done, "completion order");
			done++;
		}
		CHECK(now_s() - t0 < 300, "timeout");
	}
	double dt = now_s() - t0;
	oob_recv(fd, &c, 1);
	printf("bench client: %s %u B x %lu: %.3f Gbit/s\n", p.imm_mode ? "imm" : "write", p.size,
	       (unsigned long)count, count * (double)p.size * 8 / dt / 1e9);
	node_close(&n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "server") == 0)
		return server(argc >= 3 ? argv[2] : "mrclo");
	if (argc >= 3 && strcmp(argv[1], "client") == 0) {
		struct params p = { .imm_mode = 0, .size = 1 << 20, .total = 1ull << 30, .depth = 16 };
		if (argc >= 5)
			p.imm_mode = strcmp(argv[4], "imm") == 0;
		if (argc >= 6)
			p.size = strtoul(argv[5], NULL, 10);
		if (argc >= 7)
			p.total = strtoull(argv[6], NULL, 10);
		if (argc >= 8)
			p.depth = strtoul(argv[7], NULL, 10);
		CHECK(p.size >= 1 && p.size <= RING && p.depth >= 1 && p.depth <= 256, "params");
		return client(atoi(argv[2]), argc >= 4 ? argv[3] : "mrclo", p);
	}
	fprintf(stderr, "usage: bench server [DEV] | bench client PORT [DEV] [write|imm] [SIZE] "
			"[TOTAL] [DEPTH]\n");
	return 2;
}
