/* What a datastore backend provides to ds.c, and the helpers they share. A
 * backend only moves bytes of a record's area (addressed by record and host,
 * offsets relative to the area) within a deadline; slots, framing and
 * authentication are ds.c's. Internal to datastore/. */
#ifndef FDM_DS_BACKEND_H
#define FDM_DS_BACKEND_H

#include "datastore/ds.h"

struct fdm_ds_slotcache {
	bool known;            /* active/gen learnt from a read or our own write */
	int active;            /* slot readers take now, -1 none */
	uint64_t gen;
};

struct fdm_ds_backend;

struct fdm_ds {
	char url[512];
	struct fdm_rec_auth auth;
	char host[FDM_DS_ID_MAX];
	uint32_t io_timeout_ms;
	uint64_t incarnation;
	const struct fdm_ds_backend *be;
	void *priv;                                 /* the backend's state */
	struct fdm_ds_slotcache cache[FDM_DS_REC_COUNT];   /* our own records */
	bool hb_counter_known;
	uint64_t hb_counter;
	uint64_t poweron_counter;
	struct fdm_ds_stats stats;
};

struct fdm_ds_backend {
	const char *scheme;                         /* "file://" */
	/* Parse what follows the scheme; no I/O. */
	int (*init)(struct fdm_ds *ds, const char *rest, char *err, size_t errlen);
	/* *got: bytes that exist (short at the end of a file, 0 for none); the
	 * rest of buf is zeroed. */
	enum fdm_ds_status (*read)(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				   uint64_t off, void *buf, size_t len, size_t *got,
				   uint64_t deadline, struct fdm_ds_result *res);
	enum fdm_ds_status (*write)(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				    uint64_t off, const void *buf, size_t len,
				    uint64_t deadline, struct fdm_ds_result *res);
	enum fdm_ds_status (*truncate)(struct fdm_ds *ds, enum fdm_ds_rec rec, const char *host,
				       uint64_t len, uint64_t deadline, struct fdm_ds_result *res);
	enum fdm_ds_status (*list_hosts)(struct fdm_ds *ds, uint64_t deadline,
					 struct fdm_ds_hostlist *out, struct fdm_ds_result *res);
	enum fdm_ds_status (*list_clusters)(struct fdm_ds *ds, uint64_t deadline,
					    struct fdm_ds_hostlist *out, struct fdm_ds_result *res);
	void (*disconnect)(struct fdm_ds *ds);
	void (*destroy)(struct fdm_ds *ds);
};

extern const struct fdm_ds_backend fdm_ds_file_backend;
extern const struct fdm_ds_backend fdm_ds_nfs_backend;
extern const struct fdm_ds_backend fdm_ds_iscsi_backend;

/* An empty result: status OK, no damaged slot, no message. */
void fdm_ds_result_clear(struct fdm_ds_result *res);

/* Set res to status with a message "URL: ...". Returns status. */
enum fdm_ds_status fdm_ds_fail(const struct fdm_ds *ds, struct fdm_ds_result *res,
			       enum fdm_ds_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* file and nfs: the file holding rec, and where the record's area starts in it. */
void fdm_ds_file_of(enum fdm_ds_rec rec, const char *host, char *name, size_t len,
		    uint64_t *base);
/* file and nfs: "host-<id>-hb" or "host-<id>-poweron" -> id; false otherwise. */
bool fdm_ds_host_of_file(const char *name, char *id, size_t len);
/* Add id to a list unless present. */
void fdm_ds_list_add(struct fdm_ds_hostlist *l, const char *id);
/* Valid cluster/host id characters (as the config's): safe in a file name. */
bool fdm_ds_valid_id(const char *s);

/* A random nonce (iscsi slot claims). */
uint64_t fdm_ds_random_u64(void);

/* Milliseconds left until deadline (0 if past). */
uint64_t fdm_ds_left(uint64_t deadline);

#endif
