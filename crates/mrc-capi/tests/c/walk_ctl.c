/* The controller walkthroughs, with the headers' field names (docs/capi.md, walkthrough
 * errata):
 *   walk_ctl gen     generated EV profiles: STEV 8/4/4 (query fields and EV array, deny
 *                    T0 = 180..255), SRv6 locator + uSIDs, SRv6+SRH format; teardown
 *   walk_ctl exp     explicit EV profiles: STEV 16/16 populated with (i << 16) | i, ONLINE,
 *                    deny 13..42, replace 13..42 by +128, query; SRv6 and SRv6+SRH formats
 *   walk_ctl events  EV event CQ, event mask on a profile, state changes, drop counts
 *   walk_ctl probes [DEV [RESPONDER [partial]]]  EV probes on 8 EVs (RTT each), a timeout, an
 *                    unknown EV; `partial`: some paths may be down, print the ids answered
 * Each prints what the walkthrough prints (a sample) and "walkthrough <name>: ok". */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>
#include <mrc.h>
#include <mrc_ctl.h>

#define ERROR 1
#define CHK(cond, what)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "walk_ctl: %s failed (errno %d) at line %d\n", what, \
				errno, __LINE__);                              \
			exit(ERROR);                                           \
		}                                                              \
	} while (0)

static struct mrc_ctl_device_attr mrc_ctl_attr;

static struct mrc_context *open_ctx(struct ibv_context **ibv_ctx)
{
	struct ibv_device **dev_list = ibv_get_device_list(NULL);
	struct mrc_context_attr mrc_ctx_attr;
	struct mrc_context *mrc_ctx;

	CHK(dev_list && dev_list[0], "device list");
	*ibv_ctx = ibv_open_device(dev_list[0]);
	ibv_free_device_list(dev_list);
	CHK(*ibv_ctx, "open device");
	CHK(mrc_ctl_query_device(*ibv_ctx, &mrc_ctl_attr) == 0, "ctl query device");
	mrc_ctx_attr = (struct mrc_context_attr){ .mrc_api_version_used = MRC_API_CURRENT_VERSION };
	mrc_ctx = mrc_create_context(*ibv_ctx, &mrc_ctx_attr);
	CHK(mrc_ctx, "create context");
	return mrc_ctx;
}

static void close_ctx(struct mrc_context *mrc_ctx, struct ibv_context *ibv_ctx)
{
	CHK(mrc_destroy_context(mrc_ctx) == 0, "destroy context");
	CHK(ibv_close_device(ibv_ctx) == 0, "close device");
}

static void fmt_profile(struct mrc_context *mrc_ctx, uint64_t id, enum mrc_ctl_ev_fmt_mode mode,
			const uint8_t *widths, int n)
{
	struct mrc_ctl_ev_fmt_field fmt_fields[16];
	struct mrc_ctl_ev_fmt_profile_attr a;

	for (int i = 0; i < n; i++)
		fmt_fields[i].width = widths[i];
	a = (struct mrc_ctl_ev_fmt_profile_attr){
		.profile_state = MRC_CTL_PROFILE_OFFLINE,
		.ev_fmt_mode = mode,
		.ev_fmt_op.op = MRC_CTL_EV_FMT_OP_MODIFY_FIELDS,
		.ev_fmt_op.fmt_fields = fmt_fields,
		.ev_fmt_op.fmt_field_count = n,
	};
	CHK(mrc_ctl_modify_ev_fmt_profile(mrc_ctx, id, &a,
					  MRC_CTL_EV_FMT_PROFILE_STATE | MRC_CTL_EV_FMT_PROFILE_MODE |
						  MRC_CTL_EV_FMT_PROFILE_OP) == 0,
	    "format INIT -> OFFLINE");
	a = (struct mrc_ctl_ev_fmt_profile_attr){ .profile_state = MRC_CTL_PROFILE_ONLINE };
	CHK(mrc_ctl_modify_ev_fmt_profile(mrc_ctx, id, &a, MRC_CTL_EV_FMT_PROFILE_STATE) == 0,
	    "format OFFLINE -> ONLINE");
}

static void set_state(struct mrc_context *c, uint64_t id, int kind, uint32_t s)
{
	struct mrc_ctl_ev_fmt_profile_attr f = { .profile_state = s };
	struct mrc_ctl_ev_profile_attr e = { .profile_state = s };
	if (kind)
		CHK(mrc_ctl_modify_ev_profile(c, id, &e, MRC_CTL_EV_PROFILE_STATE) == 0, "ev state");
	else
		CHK(mrc_ctl_modify_ev_fmt_profile(c, id, &f, MRC_CTL_EV_FMT_PROFILE_STATE) == 0,
		    "fmt state");
}

static void teardown(struct mrc_context *c, const uint64_t *evp, int ne, const uint64_t *fmt,
		     int nf)
{
	for (int i = 0; i < ne; i++)
		set_state(c, evp[i], 1, MRC_CTL_PROFILE_OFFLINE);
	for (int i = 0; i < ne; i++)
		set_state(c, evp[i], 1, MRC_CTL_PROFILE_INIT);
	for (int i = 0; i < nf; i++)
		set_state(c, fmt[i], 0, MRC_CTL_PROFILE_OFFLINE);
	for (int i = 0; i < nf; i++)
		set_state(c, fmt[i], 0, MRC_CTL_PROFILE_INIT);
}

static void gen_profile(struct mrc_context *c, uint64_t id, uint64_t fmt, uint32_t ev_count,
			struct mrc_ctl_ev_field *f, int n)
{
	struct mrc_ctl_ev_profile_attr a = {
		.profile_state = MRC_CTL_PROFILE_OFFLINE,
		.ev_mode = MRC_CTL_EV_MODE_GEN,
		.ev_fmt_profile_id = fmt,
		.ev_count = ev_count,
		.ev_min_active = ev_count / 4,
		.ev_event_mask = (MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD),
		.ev_fields_op.op = MRC_CTL_EV_FIELDS_OP_MODIFY_FIELDS,
		.ev_fields_op.fields = f,
		.ev_fields_op.field_count = n,
	};
	CHK(mrc_ctl_modify_ev_profile(c, id, &a,
				      MRC_CTL_EV_PROFILE_STATE | MRC_CTL_EV_PROFILE_MODE |
					      MRC_CTL_EV_PROFILE_FMT_ID | MRC_CTL_EV_PROFILE_COUNT |
					      MRC_CTL_EV_PROFILE_MIN_ACTIVE |
					      MRC_CTL_EV_PROFILE_EVENT_MASK |
					      MRC_CTL_EV_PROFILE_EV_FIELDS_OP) == 0,
	    "EV profile INIT -> OFFLINE");
	set_state(c, id, 1, MRC_CTL_PROFILE_ONLINE);
}

static struct mrc_ctl_ev_op_entry *query_array(struct mrc_context *c, uint64_t id, uint32_t *n)
{
	struct mrc_ctl_ev_profile_attr a;
	CHK(mrc_ctl_query_ev_profile(c, id, &a, MRC_CTL_EV_PROFILE_COUNT) == 0, "query count");
	struct mrc_ctl_ev_op_entry *ev_array = calloc(a.ev_count, sizeof(*ev_array));
	CHK(ev_array, "calloc");
	a = (struct mrc_ctl_ev_profile_attr){
		.ev_op.op = MRC_CTL_EV_OP_QUERY_EV_ARRAY,
		.ev_op.entries = ev_array,
		.ev_op.entry_count = a.ev_count,
	};
	CHK(mrc_ctl_query_ev_profile(c, id, &a, MRC_CTL_EV_PROFILE_EV_OP) == 0, "query array");
	*n = a.ev_op.entry_count;
	return ev_array;
}

static int modify_one(struct mrc_context *c, uint64_t id, enum mrc_ctl_ev_op op,
		      struct mrc_ctl_ev ev, struct mrc_ctl_ev ev_new, uint32_t state)
{
	struct mrc_ctl_ev_op_entry e = { .ev = ev, .ev_new = ev_new, .state = state };
	struct mrc_ctl_ev_profile_attr a = {
		.ev_op.op = op,
		.ev_op.entries = &e,
		.ev_op.entry_count = 1,
	};
	return mrc_ctl_modify_ev_profile(c, id, &a, MRC_CTL_EV_PROFILE_EV_OP);
}

static int walk_gen(void)
{
	struct ibv_context *ibv_ctx;
	struct mrc_context *c = open_ctx(&ibv_ctx);
	CHK(mrc_ctl_attr.ev.ev_mode_mask & MRC_CTL_EV_MODE_GEN, "GEN mode supported");

	/* STEV: 8/4/4. */
	const uint8_t stev[] = { 8, 4, 4 };
	fmt_profile(c, 13, MRC_CTL_EV_FMT_MODE_STEV, stev, 3);
	struct mrc_ctl_ev_field ev_fields[3];
	memset(ev_fields, 0, sizeof(ev_fields));
	ev_fields[0] = (struct mrc_ctl_ev_field){ .width = 8, .max_val = 255, .mask = 0xff };
	ev_fields[1] = (struct mrc_ctl_ev_field){ .width = 4, .max_val = 15, .mask = 0x0f };
	ev_fields[2] = (struct mrc_ctl_ev_field){ .width = 4, .max_val = 15, .mask = 0x0f };
	uint32_t ev_count = (ev_fields[0].max_val + 1) * (ev_fields[1].max_val + 1) *
			    (ev_fields[2].max_val + 1);
	if (ev_count > mrc_ctl_attr.ev.ev_max_count_profile)
		ev_count = mrc_ctl_attr.ev.ev_max_count_profile;
	if (ev_count % mrc_ctl_attr.ev.ev_count_align != 0)
		ev_count -= (ev_count % mrc_ctl_attr.ev.ev_count_align);
	gen_profile(c, 1, 13, ev_count, ev_fields, 3);

	struct mrc_ctl_ev_profile_attr a;
	CHK(mrc_ctl_query_ev_profile(c, 1, &a,
				     MRC_CTL_EV_PROFILE_STATE | MRC_CTL_EV_PROFILE_MODE |
					     MRC_CTL_EV_PROFILE_FMT_ID | MRC_CTL_EV_PROFILE_COUNT) ==
		    0,
	    "query profile");
	CHK(a.ev_mode == MRC_CTL_EV_MODE_GEN && a.ev_count == 65536, "mode and count");
	int query_field_count = 10;
	struct mrc_ctl_ev_field *query_fields = calloc(query_field_count, sizeof(*query_fields));
	a = (struct mrc_ctl_ev_profile_attr){
		.ev_fields_op.op = MRC_CTL_EV_FIELDS_OP_QUERY_FIELDS,
		.ev_fields_op.fields = query_fields,
		.ev_fields_op.field_count = query_field_count,
	};
	CHK(mrc_ctl_query_ev_profile(c, 1, &a, MRC_CTL_EV_PROFILE_EV_FIELDS_OP) == 0,
	    "query fields");
	printf("EV Generation Fields:\n");
	for (int i = 0; i < a.ev_fields_op.field_count; i++)
		printf("Field[%d]: width=%u, init=%u, min=%u, max=%u, mask=0x%x\n", i,
		       query_fields[i].width, query_fields[i].init_val, query_fields[i].min_val,
		       query_fields[i].max_val, query_fields[i].mask);
	CHK(a.ev_fields_op.field_count == 3 && memcmp(query_fields, ev_fields, sizeof(ev_fields)) == 0,
	    "fields round trip");
	free(query_fields);

	uint32_t n, i, val, denied = 0;
	struct mrc_ctl_ev_op_entry *ev_array = query_array(c, 1, &n);
	printf("Generated EVs (first 3 and last):\n");
	for (i = 0; i < n; i++) {
		memcpy(&val, ev_array[i].ev.val, sizeof(uint32_t));
		if (i < 3 || i == n - 1)
			printf("EV[%u]: value = 0x%08x, port = %u\n", i, val, ev_array[i].ev.port);
		CHK((val & 0xff) == i >> 8 && ((val >> 8) & 0xff) == (i & 0xff), "EV value");
	}
	for (i = 0; i < n; i++) {
		memcpy(&val, ev_array[i].ev.val, sizeof(uint32_t));
		if ((val & 0xff) >= 180 && (val & 0xff) <= 255) {
			CHK(modify_one(c, 1, MRC_CTL_EV_OP_MODIFY_EV_STATE, ev_array[i].ev,
				       ev_array[i].ev, MRC_CTL_EV_DENIED) == 0,
			    "deny");
			denied++;
		}
	}
	free(ev_array);
	ev_array = query_array(c, 1, &n);
	for (i = 0; i < n; i++)
		CHK(ev_array[i].state == ((i >> 8) >= 180 ? MRC_CTL_EV_DENIED : MRC_CTL_EV_GOOD),
		    "denied states");
	free(ev_array);
	printf("denied %u EVs\n", denied);
	CHK(denied == 76 * 256, "denied count");

	/* SRv6: 32-bit locator + four 16-bit uSIDs. */
	const uint8_t srv6[] = { 32, 16, 16, 16, 16 };
	fmt_profile(c, 14, MRC_CTL_EV_FMT_MODE_SRV6, srv6, 5);
	struct mrc_ctl_ev_field ev_fields_srv6[5];
	memset(ev_fields_srv6, 0, sizeof(ev_fields_srv6));
	ev_fields_srv6[0] = (struct mrc_ctl_ev_field){ .width = 32, .init_val = 0xdeadcafe };
	for (i = 1; i < 5; i++)
		ev_fields_srv6[i] = (struct mrc_ctl_ev_field){
			.width = 16, .init_val = 0x100 * i, .max_val = 255, .mask = 0xff
		};
	gen_profile(c, 2, 14, mrc_ctl_attr.ev.ev_max_count_profile, ev_fields_srv6, 5);
	ev_array = query_array(c, 2, &n);
	const uint8_t *v = ev_array[n - 1].ev.val;
	printf("SRv6 EV[%u]: %02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x::\n", n - 1,
	       v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11]);
	CHK(v[0] == 0xde && v[3] == 0xfe && v[4] == 1 && v[6] == 2 && v[8] == 3 && v[9] == 0xff &&
		    v[10] == 4 && v[11] == 0xff,
	    "SRv6 EV value");
	free(ev_array);

	/* SRv6 + SRH format: 224 bits. */
	const uint8_t srh[] = { 32, 16, 16, 16, 16, 16, 16, 32, 16, 16, 16, 16 };
	fmt_profile(c, 15, MRC_CTL_EV_FMT_MODE_SRV6, srh, 12);

	const uint64_t evp[] = { 1, 2 }, fmts[] = { 13, 14, 15 };
	teardown(c, evp, 2, fmts, 3);
	close_ctx(c, ibv_ctx);
	printf("walkthrough mrc_ctl_gen_ev: ok\n");
	return 0;
}

static struct mrc_ctl_ev stev_ev(uint32_t v)
{
	struct mrc_ctl_ev e;
	memset(&e, 0, sizeof(e));
	memcpy(e.val, &v, sizeof(uint32_t));
	e.port = 1;
	return e;
}

static int walk_exp(void)
{
	struct ibv_context *ibv_ctx;
	struct mrc_context *c = open_ctx(&ibv_ctx);
	CHK(mrc_ctl_attr.ev.ev_mode_mask & MRC_CTL_EV_MODE_EXP, "EXP mode supported");
	const uint8_t stev[] = { 16, 16 };
	fmt_profile(c, 13, MRC_CTL_EV_FMT_MODE_STEV, stev, 2);

	uint32_t ev_count = mrc_ctl_attr.ev.ev_max_count_profile, i, n;
	if (ev_count % mrc_ctl_attr.ev.ev_count_align != 0)
		ev_count -= (ev_count % mrc_ctl_attr.ev.ev_count_align);
	struct mrc_ctl_ev_profile_attr a = {
		.profile_state = MRC_CTL_PROFILE_OFFLINE,
		.ev_mode = MRC_CTL_EV_MODE_EXP,
		.ev_fmt_profile_id = 13,
		.ev_count = ev_count,
		.ev_min_active = ev_count / 4,
		.ev_event_mask = (MRC_CTL_EV_GOOD | MRC_CTL_EV_ASSUMED_BAD),
	};
	CHK(mrc_ctl_modify_ev_profile(c, 1, &a,
				      MRC_CTL_EV_PROFILE_STATE | MRC_CTL_EV_PROFILE_MODE |
					      MRC_CTL_EV_PROFILE_FMT_ID | MRC_CTL_EV_PROFILE_COUNT |
					      MRC_CTL_EV_PROFILE_MIN_ACTIVE |
					      MRC_CTL_EV_PROFILE_EVENT_MASK) == 0,
	    "EV profile INIT -> OFFLINE");
	for (i = 0; i < ev_count; i++)
		CHK(modify_one(c, 1, MRC_CTL_EV_OP_REPLACE_EV, MRC_CTL_EV_UNPOPULATED,
			       stev_ev((i << 16) | i), MRC_CTL_EV_GOOD) == 0,
		    "populate");
	set_state(c, 1, 1, MRC_CTL_PROFILE_ONLINE);
	for (i = 13; i <= 42; i++)
		CHK(modify_one(c, 1, MRC_CTL_EV_OP_MODIFY_EV_STATE, stev_ev((i << 16) | i),
			       stev_ev(0), MRC_CTL_EV_DENIED) == 0,
		    "deny");
	CHK(mrc_ctl_attr.opt_attr & MRC_CTL_OPT_CAP_EV_PROFILE_MODIFY_ONLINE, "MODIFY_ONLINE");
	for (i = 13; i <= 42; i++)
		CHK(modify_one(c, 1, MRC_CTL_EV_OP_REPLACE_EV, stev_ev((i << 16) | i),
			       stev_ev(((i + 128) << 16) | (i + 128)), MRC_CTL_EV_GOOD) == 0,
		    "replace");
	a = (struct mrc_ctl_ev_profile_attr){ 0 };
	CHK(mrc_ctl_query_ev_profile(c, 1, &a,
				     MRC_CTL_EV_PROFILE_STATE | MRC_CTL_EV_PROFILE_MODE |
					     MRC_CTL_EV_PROFILE_FMT_ID | MRC_CTL_EV_PROFILE_COUNT |
					     MRC_CTL_EV_PROFILE_MIN_ACTIVE |
					     MRC_CTL_EV_PROFILE_EVENT_MASK) == 0,
	    "query");
	CHK(a.ev_mode == MRC_CTL_EV_MODE_EXP && a.ev_count == ev_count &&
		    a.ev_min_active == ev_count / 4 && a.profile_state == MRC_CTL_PROFILE_ONLINE,
	    "queried attributes");
	struct mrc_ctl_ev_op_entry *ev_array = query_array(c, 1, &n);
	for (i = 0; i < n; i++) {
		uint32_t val, k = (i >= 13 && i <= 42) ? i + 128 : i;
		memcpy(&val, ev_array[i].ev.val, sizeof(uint32_t));
		if (i < 2 || (i >= 13 && i <= 14))
			printf("EV[%u]: value = %u, port = %u\n", i, val, ev_array[i].ev.port);
		CHK(val == ((k << 16) | k) && ev_array[i].ev.port == 1, "EV array value");
	}
	free(ev_array);

	const uint8_t srv6[] = { 32, 16, 16, 16, 16 };
	fmt_profile(c, 14, MRC_CTL_EV_FMT_MODE_SRV6, srv6, 5);
	const uint8_t srh[] = { 32, 16, 16, 16, 16, 16, 16, 32, 16, 16, 16, 16 };
	fmt_profile(c, 15, MRC_CTL_EV_FMT_MODE_SRV6, srh, 12);
	const uint64_t evp[] = { 1 }, fmts[] = { 13, 14, 15 };
	teardown(c, evp, 1, fmts, 3);
	close_ctx(c, ibv_ctx);
	printf("walkthrough mrc_ctl_exp_ev: ok\n");
	return 0;
}

static int walk_events(void)
{
	struct ibv_context *ibv_ctx;
	struct mrc_context *c = open_ctx(&ibv_ctx);
	CHK(mrc_ctl_attr.opt_attr & MRC_CTL_OPT_CAP_EV_EVENT, "EV events supported");
	/* An EV profile to watch (the walkthrough assumes one exists): generated, 16 EVs. */
	const uint8_t stev[] = { 16, 16 };
	fmt_profile(c, 23, MRC_CTL_EV_FMT_MODE_STEV, stev, 2);
	struct mrc_ctl_ev_field f[2] = { { .width = 16, .init_val = 0x77 },
					 { .width = 16, .max_val = 15, .mask = 0xf } };
	gen_profile(c, 13, 23, 16, f, 2);

	struct mrc_cq *ev_cq = mrc_ctl_create_ev_event_cq(c, 4, NULL, NULL, 0);
	CHK(ev_cq, "create EV event CQ");
	struct mrc_ctl_ev_profile_attr a = { .ev_event_mask = (MRC_CTL_EV_GOOD |
								 MRC_CTL_EV_ASSUMED_BAD) };
	CHK(mrc_ctl_modify_ev_profile(c, 13, &a, MRC_CTL_EV_PROFILE_EVENT_MASK) == 0,
	    "register event mask");

	uint32_t n;
	struct mrc_ctl_ev_op_entry *evs = query_array(c, 13, &n);
	/* Six EVs become ASSUMED_BAD: the CQ holds four, two are dropped; then one becomes
	 * GOOD again, and its event reports the two dropped before it. DENIED is not in the mask. */
	for (int i = 0; i < 6; i++)
		CHK(modify_one(c, 13, MRC_CTL_EV_OP_MODIFY_EV_STATE, evs[i].ev, evs[i].ev,
			       MRC_CTL_EV_ASSUMED_BAD) == 0,
		    "mark bad");
	CHK(modify_one(c, 13, MRC_CTL_EV_OP_MODIFY_EV_STATE, evs[9].ev, evs[9].ev,
		       MRC_CTL_EV_DENIED) == 0,
	    "deny (not reported)");
	struct mrc_ctl_ev_event events[4];
	int total = 0, num_events, rounds = 0;
	uint32_t drops = 0;
	while (rounds < 2) {
		num_events = mrc_ctl_poll_ev_event(ev_cq, 4, events);
		CHK(num_events >= 0, "poll EV events");
		if (num_events == 0) {
			if (rounds++ == 0)
				CHK(modify_one(c, 13, MRC_CTL_EV_OP_MODIFY_EV_STATE, evs[0].ev,
					       evs[0].ev, MRC_CTL_EV_GOOD) == 0,
				    "mark good");
			continue;
		}
		for (int i = 0; i < num_events; i++) {
			uint32_t ev_val;
			memcpy(&ev_val, events[i].ev.val, sizeof(uint32_t));
			printf("EV Event:\n");
			printf("  profile_id:  %llu\n", (unsigned long long)events[i].profile_id);
			printf("  ev_value:    0x%08x\n", ev_val);
			printf("  ev_port:     %u\n", events[i].ev.port);
			printf("  drop_count:  %u\n", events[i].drop_count);
			printf("  state:       0x%x\n", events[i].state);
			CHK(events[i].profile_id == 13, "profile id");
			CHK(memcmp(&events[i].ev, &evs[total < 4 ? total : 0].ev,
				   sizeof(struct mrc_ctl_ev)) == 0,
			    "event EV");
			CHK(events[i].state ==
				    (total < 4 ? MRC_CTL_EV_ASSUMED_BAD : MRC_CTL_EV_GOOD),
			    "event state");
			drops += events[i].drop_count;
			total++;
		}
	}
	CHK(total == 5 && drops == 2, "4 + 1 events, 2 dropped");
	CHK(mrc_ctl_attr.opt_attr & MRC_CTL_OPT_CAP_EV_EVENT_PRECISE_DROP_CNT, "precise drops");
	free(evs);
	CHK(mrc_destroy_cq(ev_cq) == 0, "destroy EV CQ");
	const uint64_t evp[] = { 13 }, fmts[] = { 23 };
	teardown(c, evp, 1, fmts, 1);
	close_ctx(c, ibv_ctx);
	printf("walkthrough mrc_ctl_ev_events: ok\n");
	return 0;
}

static struct mrc_context *open_named(const char *name, struct ibv_context **ibv_ctx)
{
	int num = 0, i;
	struct ibv_device **dev_list = ibv_get_device_list(&num);
	struct mrc_context_attr a = { .mrc_api_version_used = MRC_API_CURRENT_VERSION };
	struct mrc_context *c;

	CHK(dev_list, "device list");
	for (i = 0; i < num; i++)
		if (strcmp(ibv_get_device_name(dev_list[i]), name) == 0)
			break;
	CHK(i < num, "device not found");
	*ibv_ctx = ibv_open_device(dev_list[i]);
	ibv_free_device_list(dev_list);
	CHK(*ibv_ctx, "open device");
	CHK(mrc_ctl_query_device(*ibv_ctx, &mrc_ctl_attr) == 0, "ctl query device");
	c = mrc_create_context(*ibv_ctx, &a);
	CHK(c, "create context");
	return c;
}

/* EV probes from DEV to RESPONDER (a second context of this process; default: DEV itself,
 * which on mrclo is where a loopback probe goes). The probed EVs are the 8 entries of a
 * generated profile: entry i names the device's EV i (docs/capi.md). */
static int walk_probes(const char *dev, const char *responder, int partial)
{
	struct ibv_context *ibv_ctx, *ibv_rsp = NULL;
	struct mrc_context *c = open_named(dev, &ibv_ctx), *rc_ctx = NULL;
	union ibv_gid sgid, dgid;

	CHK(mrc_ctl_attr.opt_attr & MRC_CTL_OPT_CAP_EP_OP_EV_PROBE, "EV probes supported");
	CHK(ibv_query_gid(ibv_ctx, 1, 0, &sgid) == 0, "sgid");
	dgid = sgid;
	if (responder) {
		rc_ctx = open_named(responder, &ibv_rsp);
		CHK(ibv_query_gid(ibv_rsp, 1, 0, &dgid) == 0, "dgid");
	}
	const uint8_t stev[] = { 16, 16 };
	fmt_profile(c, 33, MRC_CTL_EV_FMT_MODE_STEV, stev, 2);
	struct mrc_ctl_ev_field f[2] = { { .width = 16, .init_val = 0x5 },
					 { .width = 16, .max_val = 7, .mask = 0x7 } };
	gen_profile(c, 31, 33, 8, f, 2);
	uint32_t n;
	struct mrc_ctl_ev_op_entry *evs = query_array(c, 31, &n);
	CHK(n == 8, "8 EVs");

	struct mrc_ctl_ep_req ep_reqs[8];
	struct mrc_ctl_ep_rsp ep_rsps[8];
	int i, num_rsps;
	memset(ep_reqs, 0, sizeof(ep_reqs));
	memset(ep_rsps, 0, sizeof(ep_rsps));
	for (i = 0; i < 8; i++) {
		ep_reqs[i].req_id = 100 + i;
		ep_reqs[i].sgid = sgid;
		ep_reqs[i].dgid = dgid;
		ep_reqs[i].ev_fmt_mode = MRC_CTL_EV_FMT_MODE_STEV;
		ep_reqs[i].req_ev = evs[i].ev;
	}
	errno = 0;
	int brc = mrc_ctl_ep_batch_send_wait(c, 0, MRC_CTL_EP_OP_EV_PROBE, ep_reqs, 8,
					     partial ? 300000000 : 2000000000, ep_rsps, &num_rsps);
	if (partial) {
		/* Some paths may be down: a timeout is expected, the answers name the live EVs. */
		CHK(brc == 0 || (brc == -1 && errno == ETIMEDOUT), "probe batch");
		printf("answered ids:");
		for (i = 0; i < num_rsps; i++)
			printf(" %u", ep_rsps[i].req_id);
		printf("\n");
		CHK(num_rsps >= 1, "at least one answer");
		free(evs);
		const uint64_t evp1[] = { 31 }, fmts1[] = { 33 };
		teardown(c, evp1, 1, fmts1, 1);
		if (rc_ctx)
			close_ctx(rc_ctx, ibv_rsp);
		close_ctx(c, ibv_ctx);
		return 0;
	}
	CHK(brc == 0, "probe batch");
	int seen = 0;
	for (i = 0; i < num_rsps; i++) {
		printf("Probe Response:\n");
		printf("  req_id:       %u\n", ep_rsps[i].req_id);
		printf("  port:         %u\n", ep_rsps[i].port);
		printf("  rtt:          %u ns\n", ep_rsps[i].rtt);
		printf("  adj_svc_time: %d\n", ep_rsps[i].adj_svc_time);
		CHK(ep_rsps[i].req_id >= 100 && ep_rsps[i].req_id < 108, "req id");
		CHK(ep_rsps[i].rtt > 0 && ep_rsps[i].port == 1, "rtt and port");
		seen |= 1 << (ep_rsps[i].req_id - 100);
	}
	CHK(num_rsps == 8 && seen == 0xff, "every probe answered once");
	printf("probes answered: %d of 8\n", num_rsps);

	/* Nobody at the destination: ETIMEDOUT, no responses. */
	inet_pton(AF_INET6, "fd99::99", &ep_reqs[0].dgid);
	errno = 0;
	CHK(mrc_ctl_ep_batch_send_wait(c, 0, MRC_CTL_EP_OP_EV_PROBE, ep_reqs, 1, 20000000, ep_rsps,
				       &num_rsps) == -1 &&
		    errno == ETIMEDOUT && num_rsps == 0,
	    "ETIMEDOUT");
	printf("probe to fd99::99: timed out, %d responses\n", num_rsps);
	/* An EV no profile holds and the device does not route: EINVAL. */
	ep_reqs[0].dgid = dgid;
	memset(&ep_reqs[0].req_ev, 0, sizeof(ep_reqs[0].req_ev));
	ep_reqs[0].req_ev.val[0] = 0x78;
	ep_reqs[0].req_ev.val[3] = 0x12;
	ep_reqs[0].req_ev.port = 1;
	errno = 0;
	CHK(mrc_ctl_ep_batch_send_wait(c, 0, MRC_CTL_EP_OP_EV_PROBE, ep_reqs, 1, 1000000, ep_rsps,
				       &num_rsps) == -1 &&
		    errno == EINVAL,
	    "unknown EV: EINVAL");
	free(evs);
	const uint64_t evp[] = { 31 }, fmts[] = { 33 };
	teardown(c, evp, 1, fmts, 1);
	if (rc_ctx)
		close_ctx(rc_ctx, ibv_rsp);
	close_ctx(c, ibv_ctx);
	printf("walkthrough mrc_ctl_ev_probes: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "";
	if (strcmp(w, "gen") == 0)
		return walk_gen();
	if (strcmp(w, "exp") == 0)
		return walk_exp();
	if (strcmp(w, "events") == 0)
		return walk_events();
	if (strcmp(w, "probes") == 0)
		return walk_probes(argc > 2 ? argv[2] : "mrclo", argc > 3 ? argv[3] : NULL,
				   argc > 4 && strcmp(argv[4], "partial") == 0);
	fprintf(stderr, "usage: walk_ctl gen|exp|events|probes [DEV [RESPONDER_DEV]]\n");
	return 2;
}
