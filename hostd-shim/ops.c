/* libvirt calls behind each shim operation (ops.h). Runs on pool threads only:
 * each job takes its own reference on the connection, so a reconnect under it
 * is harmless, and libvirt's last error is per thread. */
#include "hostd-shim/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libvirt/virterror.h>

#include "lib/util.h"

struct shim_job *shim_job_new(enum shim_op op, struct shim_client *client, uint64_t req_id)
{
	struct shim_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->pj.mail.kind = SHIM_JOB_MAIL;
	job->op = op;
	job->client = client;
	job->req_id = req_id;
	job->started_ms = fdm_now_boottime_ms();
	return job;
}

void shim_job_free(struct shim_job *job)
{
	if (job == NULL)
		return;
	free(job->xml);
	free(job->doms);
	free(job);
}

/* Classify libvirt's last error on conn into a result code and message. The
 * error is copied first: any libvirt call (virConnectIsAlive too) resets it. */
static void fail(struct shim_job *job, virConnectPtr conn, const char *what)
{
	virErrorPtr e = virGetLastError();
	int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;

	char *nl;

	snprintf(job->message, sizeof(job->message), "%s: %s", what,
		 e && e->message ? e->message : "unknown libvirt error");
	/* One line: libvirt's XML errors come with a caret diagram. */
	while ((nl = strchr(job->message, '\n')) != NULL)
		*nl = ' ';
	if (code == VIR_ERR_NO_CONNECT || code == VIR_ERR_RPC || virConnectIsAlive(conn) != 1)
		job->result = FDM__RESULT_CODE__RESULT_DISCONNECTED;
	else if (code == VIR_ERR_NO_DOMAIN)
		job->result = FDM__RESULT_CODE__RESULT_NOT_FOUND;
	else if (code == VIR_ERR_OPERATION_INVALID)
		job->result = FDM__RESULT_CODE__RESULT_INVALID_STATE;
	else
		job->result = FDM__RESULT_CODE__RESULT_ERROR;
}

/* The domain as the request named it, for messages. */
static const char *job_name(const struct shim_job *job)
{
	return job->ref.name[0] != '\0' ? job->ref.name : job->ref.uuid;
}

static void ok(struct shim_job *job, const char *fmt, const char *arg)
{
	job->result = FDM__RESULT_CODE__RESULT_OK;
	snprintf(job->message, sizeof(job->message), fmt, arg);
}

static virDomainPtr lookup(struct shim_job *job, virConnectPtr conn)
{
	virDomainPtr dom;

	if (job->ref.uuid[0] != '\0')
		dom = virDomainLookupByUUIDString(conn, job->ref.uuid);
	else
		dom = virDomainLookupByName(conn, job->ref.name);
	if (dom == NULL)
		fail(job, conn, job_name(job));
	return dom;
}

static void fill(struct shim_job *job, virDomainPtr dom)
{
	job->has_dom = shim_dom_fill(dom, &job->dom);
}

static bool is_active(virDomainPtr dom)
{
	return virDomainIsActive(dom) == 1;
}

static void op_list(struct shim_job *job, virConnectPtr conn)
{
	job->n_doms = shim_dom_list(conn, &job->doms);
	if (job->n_doms < 0) {
		job->n_doms = 0;
		fail(job, conn, "list domains");
		return;
	}
	job->result = FDM__RESULT_CODE__RESULT_OK;
	snprintf(job->message, sizeof(job->message), "%d domains", job->n_doms);
}

static void op_define(struct shim_job *job, virConnectPtr conn)
{
	virDomainPtr dom = virDomainDefineXML(conn, job->xml);

	if (dom == NULL) {
		fail(job, conn, "define");
		return;
	}
	fill(job, dom);
	virDomainFree(dom);
	if (!job->has_dom) {
		fail(job, conn, "define");
		return;
	}
	ok(job, "%s defined", job->dom.name);
}

static void op_start(struct shim_job *job, virConnectPtr conn)
{
	virDomainPtr dom = lookup(job, conn);

	if (dom == NULL)
		return;
	/* Drivers differ in the error they give (test: internal error): say it here. */
	if (is_active(dom)) {
		job->result = FDM__RESULT_CODE__RESULT_INVALID_STATE;
		snprintf(job->message, sizeof(job->message), "%s: already running", job->ref.name);
	} else if (virDomainCreate(dom) < 0)
		fail(job, conn, job->ref.name);
	else
		ok(job, "%s started", job->ref.name);
	fill(job, dom);
	virDomainFree(dom);
}

/* Destroy, for power-off, the shutdown timeout and fences. A domain already off
 * is not an error for the shim's own power-offs: the goal is reached. */
static void destroy(struct shim_job *job, virConnectPtr conn, bool off_is_ok)
{
	virDomainPtr dom = lookup(job, conn);

	if (dom == NULL)
		return;
	job->was_running = is_active(dom);
	if (!job->was_running && off_is_ok)
		ok(job, "%s was not running", job_name(job));
	else if (virDomainDestroy(dom) < 0)
		fail(job, conn, job_name(job));
	else
		ok(job, "%s powered off", job_name(job));
	fill(job, dom);
	virDomainFree(dom);
}

static void op_shutdown(struct shim_job *job, virConnectPtr conn)
{
	virDomainPtr dom = lookup(job, conn);

	if (dom == NULL)
		return;
	if (!is_active(dom)) {
		job->result = FDM__RESULT_CODE__RESULT_INVALID_STATE;
		snprintf(job->message, sizeof(job->message), "%s: not running", job_name(job));
		fill(job, dom);
	} else if (virDomainShutdown(dom) < 0) {
		fail(job, conn, "shutdown");
		fill(job, dom);
	} else {
		fill(job, dom);
		/* Some drivers (test://) stop the domain within the call. */
		ok(job, job->has_dom && job->dom.state == FDM__DOMAIN_STATE__DOMAIN_SHUTOFF ?
			"%s: guest shut down" : "%s: guest asked to shut down",
		   job->has_dom ? job->dom.name : job->ref.name);
	}
	virDomainFree(dom);
}

static void op_undefine(struct shim_job *job, virConnectPtr conn)
{
	virDomainPtr dom = lookup(job, conn);

	if (dom == NULL)
		return;
	fill(job, dom);
	if (virDomainUndefine(dom) < 0)
		fail(job, conn, "undefine");
	else
		ok(job, "%s undefined", job->dom.name);
	virDomainFree(dom);
}

/* The persistent definition, as define + start on another host needs it.
 * SECURE adds what a define needs and a read-only connection may not see
 * (graphics passwords): asked for, and done without when libvirt refuses. */
static void op_get_xml(struct shim_job *job, virConnectPtr conn)
{
	virDomainPtr dom = lookup(job, conn);
	bool secure = true;

	if (dom == NULL)
		return;
	job->xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
	if (job->xml == NULL && virGetLastErrorCode() == VIR_ERR_OPERATION_DENIED) {
		secure = false;
		job->xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	}
	if (job->xml == NULL)
		fail(job, conn, job_name(job));
	else
		ok(job, secure ? "%s: persistent definition" :
		   "%s: persistent definition, without secrets (read-only connection)",
		   job_name(job));
	fill(job, dom);
	virDomainFree(dom);
}

/* Memory of the running domains, each at its maximum (it may balloon up to
 * that). -1 when libvirt cannot list them. */
static int running_memory(virConnectPtr conn, uint64_t *kib)
{
	virDomainPtr *doms = NULL;
	virDomainInfo info;
	int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE), i;

	*kib = 0;
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		/* One that stopped between list and info uses no memory. */
		if (virDomainGetInfo(doms[i], &info) == 0)
			*kib += info.maxMem;
		virDomainFree(doms[i]);
	}
	free(doms);
	return n;
}

/* Free for placement: total less what the running domains may use (see
 * HostResources in proto/fdm.proto); the kernel's own figure beside it. */
static void op_resources(struct shim_job *job, virConnectPtr conn)
{
	virNodeInfo info;
	unsigned long long free_bytes;
	int n;

	if (virNodeGetInfo(conn, &info) < 0) {
		fail(job, conn, "node info");
		return;
	}
	if ((n = running_memory(conn, &job->running_kib)) < 0) {
		fail(job, conn, "list running domains");
		return;
	}
	free_bytes = virNodeGetFreeMemory(conn);   /* 0 on error, as libvirt defines */
	job->running_domains = (uint32_t)n;
	job->total_kib = info.memory;
	job->free_kib = info.memory > job->running_kib ? info.memory - job->running_kib : 0;
	job->host_free_kib = free_bytes / 1024;
	job->cpus = info.cpus;
	ok(job, "%s", "host resources");
}

void shim_ops_run(struct shim_pool_job *pj, void *ctx)
{
	struct shim_job *job = (struct shim_job *)pj;
	virConnectPtr conn = shim_virt_get(ctx);

	if (conn == NULL) {
		job->result = FDM__RESULT_CODE__RESULT_DISCONNECTED;
		snprintf(job->message, sizeof(job->message), "libvirt is not connected");
		return;
	}
	switch (job->op) {
	case SHIM_OP_LIST: op_list(job, conn); break;
	case SHIM_OP_DEFINE: op_define(job, conn); break;
	case SHIM_OP_START: op_start(job, conn); break;
	case SHIM_OP_DESTROY: destroy(job, conn, false); break;
	case SHIM_OP_SHUTDOWN: op_shutdown(job, conn); break;
	case SHIM_OP_SHUTDOWN_FORCE: destroy(job, conn, true); break;
	case SHIM_OP_UNDEFINE: op_undefine(job, conn); break;
	case SHIM_OP_RESOURCES: op_resources(job, conn); break;
	case SHIM_OP_FENCE: destroy(job, conn, true); break;
	case SHIM_OP_GET_XML: op_get_xml(job, conn); break;
	}
	virConnectClose(conn);
}
