/* Port async events: `portev DEV N`. Opens DEV (a fabric NIC), prints "ready", then prints
 * each of the next N async events ("async port <num> err|active") as mrc_get_async_event
 * returns them. A lane of the NIC losing carrier is IBV_EVENT_PORT_ERR on port plane + 1;
 * its carrier back, IBV_EVENT_PORT_ACTIVE. */
#include "common.h"

#include <errno.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct node n;
	CHECK(argc == 3, "usage: portev DEV N");
	node_open(&n, argv[1], 4096, IBV_ACCESS_LOCAL_WRITE);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < atoi(argv[2]); i++) {
		struct mrc_async_event ev;
		CHECK(mrc_get_async_event(n.ctx, &ev) == 0, "get async event: %s", strerror(errno));
		if (ev.event_type == IBV_EVENT_PORT_ERR || ev.event_type == IBV_EVENT_PORT_ACTIVE)
			printf("async port %d %s\n", ev.element.port_num,
			       ev.event_type == IBV_EVENT_PORT_ERR ? "err" : "active");
		else
			printf("async event %d\n", ev.event_type);
		fflush(stdout);
		mrc_ack_async_event(&ev);
	}
	node_close(&n);
	return 0;
}
