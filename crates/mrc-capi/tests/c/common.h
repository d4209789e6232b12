/* Helpers shared by the C test programs: the QP walkthrough's setup steps and an out-of-band
 * TCP exchange of GID, QPN, buffer address and rkey. */
#ifndef MRC_TEST_COMMON_H
#define MRC_TEST_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <infiniband/verbs.h>
#include <mrc.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__,        \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

struct peer_info {
	uint8_t gid[16];
	uint32_t qpn;
	uint64_t addr;
	uint32_t rkey;
	uint64_t len;
};

struct node {
	struct ibv_context *ibv;
	struct ibv_pd *pd;
	struct mrc_context *ctx;
	struct mrc_comp_channel *chan;
	struct mrc_cq *cq;
	struct mrc_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf;
	size_t len;
	union ibv_gid gid;
	uint32_t qpn;
};

/* Opens device `name`, creates PD, context, channel, CQ and QP (RESET), registers `len`
 * bytes with `access`. */
void node_open(struct node *n, const char *name, size_t len, int access);
/* RESET -> INIT -> RTR (towards `peer`) -> RTS, as the QP walkthrough. */
void node_connect(struct node *n, const struct peer_info *peer);
/* Destroys everything in the walkthrough's order. */
void node_close(struct node *n);
struct peer_info node_info(const struct node *n);

/* TCP: the server listens on an ephemeral port (printed as "PORT <n>") and accepts one client. */
int oob_listen(int *port);
int oob_accept(int lfd);
int oob_connect(int port);
void oob_send(int fd, const void *p, size_t n);
void oob_recv(int fd, void *p, size_t n);

/* Deterministic test pattern. */
void fill_pattern(uint8_t *p, size_t n, uint32_t seed);
size_t check_pattern(const uint8_t *p, size_t n, uint32_t seed); /* first bad index or n */

/* Up to max completions of the node's CQ; if there are none, sleeps on the completion channel
   (at most 100 ms) instead of spinning, so the library's progress thread keeps its core. */
int poll_or_block(struct node *n, int max, struct ibv_wc *wc);
/* Waits (poll_or_block, at most timeout_ms) for one completion of the node's CQ. */
int wait_wc(struct node *n, struct ibv_wc *wc, int timeout_ms);

#endif
