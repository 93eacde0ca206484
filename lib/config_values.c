/* The syntax of single config values: ids, numeric addresses, "address:port",
 * datastore URLs and socket paths. Each check says what is wrong, so that the
 * parser can name the line; none looks beyond its value. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "lib/config_internal.h"
#include "lib/util.h"

bool config_valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= FDM_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

/* The binary form of a numeric address, with its family; 0 when it is none. */
static int ip_bytes(const char *s, unsigned char buf[sizeof(struct in6_addr)])
{
	if (inet_pton(AF_INET, s, buf) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, buf) == 1)
		return AF_INET6;
	return 0;
}

bool config_valid_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return ip_bytes(s, buf) != 0;
}

bool config_unspecified_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	static const unsigned char zero[sizeof(struct in6_addr)];
	int af = ip_bytes(s, buf);

	if (af == AF_INET)
		return memcmp(buf, zero, 4) == 0;
	return af == AF_INET6 && memcmp(buf, zero, 16) == 0;
}

/* "fd00::1" and "fd00:0::1" are one address: compare what they mean. */
bool config_same_ip(const char *a, const char *b)
{
	unsigned char ba[sizeof(struct in6_addr)], bb[sizeof(struct in6_addr)];
	int fa = ip_bytes(a, ba), fb = ip_bytes(b, bb);

	if (fa == 0 || fa != fb)
		return false;
	return memcmp(ba, bb, fa == AF_INET ? 4 : 16) == 0;
}

/* "10.0.0.1", "10.0.0.1:8183", "[fd00::1]:8183" or "fd00::1". */
bool config_parse_address_port(const char *value, char *addr, size_t addrlen, uint16_t *port)
{
	char buf[FDM_ADDR_MAX + 8];
	char *colon;
	uint32_t p = FDM_DEFAULT_PORT;

	if (!fdm_strlcpy(buf, value, sizeof(buf)))
		return false;
	if (buf[0] == '[') {
		char *end = strchr(buf, ']');
		if (end == NULL)
			return false;
		*end = '\0';
		if (end[1] == ':' && !fdm_parse_u32(end + 2, 1, 65535, &p))
			return false;
		if (end[1] != '\0' && end[1] != ':')
			return false;
		memmove(buf, buf + 1, strlen(buf + 1) + 1);
	} else if ((colon = strchr(buf, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		if (!fdm_parse_u32(colon + 1, 1, 65535, &p))
			return false;
	}
	if (!config_valid_ip(buf) || !fdm_strlcpy(addr, buf, addrlen))
		return false;
	*port = (uint16_t)p;
	return true;
}

size_t config_socket_path_max(void)
{
	struct sockaddr_un sa;

	return sizeof(sa.sun_path) - 1;
}

/* A DNS name: dot-separated labels of 1-63 letters, digits and '-', not
 * starting or ending with '-'. */
static bool valid_dns_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* The server part of an nfs:// or iscsi:// URL, "host", "host:port" or
 * "[v6]:port": a numeric address. A host name is refused here, with its line:
 * libnfs and libiscsi would resolve it synchronously, and a name lookup that
 * hangs would hang the storage worker with no bound (datastore/README.md).
 * *has_port tells whether a port was given. */
static bool check_server(const char *s, size_t len, bool *has_port, char *why, size_t whylen)
{
	char host[FDM_URL_MAX];
	const char *port = NULL;
	size_t hlen = len;
	uint32_t p;

	*has_port = false;
	if (len == 0) {
		snprintf(why, whylen, "no server name or address after //");
		return false;
	}
	if (len >= sizeof(host)) {
		snprintf(why, whylen, "server part too long");
		return false;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	if (host[0] == '[') {
		char *end = strchr(host, ']');
		if (end == NULL) {
			snprintf(why, whylen, "IPv6 address without its closing ]");
			return false;
		}
		*end = '\0';
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			snprintf(why, whylen, "unexpected \"%s\" after the IPv6 address", end + 1);
			return false;
		}
		if (inet_pton(AF_INET6, host + 1, (unsigned char[16]){ 0 }) != 1) {
			snprintf(why, whylen, "\"%s\" is not an IPv6 address", host + 1);
			return false;
		}
	} else {
		char *colon = strchr(host, ':');
		if (colon != NULL) {
			*colon = '\0';
			port = colon + 1;
		}
		hlen = strlen(host);
		/* All digits and dots is meant as an IPv4 address, never a name. */
		if (hlen > 0 && strspn(host, "0123456789.") == hlen) {
			if (inet_pton(AF_INET, host, (unsigned char[4]){ 0 }) != 1) {
				snprintf(why, whylen, "\"%s\" is not an IPv4 address", host);
				return false;
			}
		} else if (!valid_dns_name(host, hlen)) {
			snprintf(why, whylen, "\"%s\" is neither a numeric address nor a host name",
				 host);
			return false;
		} else {
			snprintf(why, whylen, "\"%s\" is a host name: give the server's numeric "
				 "address (names are not resolved: a lookup that hangs would hang "
				 "the datastore's I/O)", host);
			return false;
		}
	}
	if (port != NULL) {
		if (!fdm_parse_u32(port, 1, 65535, &p)) {
			snprintf(why, whylen, "port \"%s\" must be a number between 1 and 65535", port);
			return false;
		}
		*has_port = true;
	}
	return true;
}

/* Printable, no blanks: what libnfs and libiscsi can take in a URL. */
static bool plain_text(const char *s)
{
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return false;
	return true;
}

/* nfs://server/export[/dir]: NFSv3 finds its ports through the server's
 * portmapper, so a port in the URL has no meaning to the backend (libnfs would
 * take "host:port" for a host name): refused rather than ignored. */
static bool check_nfs(const char *rest, char *why, size_t whylen)
{
	const char *slash = strchr(rest, '/');
	bool has_port;

	if (!check_server(rest, slash ? (size_t)(slash - rest) : strlen(rest), &has_port, why,
			  whylen))
		return false;
	if (has_port) {
		snprintf(why, whylen, "nfs:// takes no port (NFSv3 asks the server's portmapper)");
		return false;
	}
	if (slash == NULL || slash[strspn(slash, "/")] == '\0') {
		snprintf(why, whylen, "no export path after the server (nfs://server/export[/dir])");
		return false;
	}
	if (strchr(slash, '?') != NULL) {
		snprintf(why, whylen, "options (?...) are not supported");
		return false;
	}
	return true;
}

/* iscsi://portal[:port]/target-iqn/lun */
static bool check_iscsi(const char *rest, char *why, size_t whylen)
{
	const char *slash = strchr(rest, '/');
	const char *last = strrchr(rest, '/');
	bool has_port;
	uint32_t lun;
	size_t tlen;

	if (!check_server(rest, slash ? (size_t)(slash - rest) : strlen(rest), &has_port, why,
			  whylen))
		return false;
	if (slash == NULL || last == slash) {
		snprintf(why, whylen, "want iscsi://portal[:port]/target-iqn/lun");
		return false;
	}
	tlen = (size_t)(last - slash - 1);
	if (tlen == 0 || memchr(slash + 1, '/', tlen) != NULL ||
	    (strncmp(slash + 1, "iqn.", 4) != 0 && strncmp(slash + 1, "eui.", 4) != 0 &&
	     strncmp(slash + 1, "naa.", 4) != 0) || tlen <= 4) {
		snprintf(why, whylen, "the target must be one iSCSI name (iqn., eui. or naa.) "
			 "between the portal and the LUN");
		return false;
	}
	if (!fdm_parse_u32(last + 1, 0, 255, &lun)) {
		snprintf(why, whylen, "the LUN \"%s\" must be a number between 0 and 255", last + 1);
		return false;
	}
	return true;
}

bool config_check_url(const char *url, char *why, size_t whylen)
{
	if (strncmp(url, "file:///", 8) == 0) {
		if (url[7 + strspn(url + 7, "/")] == '\0') {
			snprintf(why, whylen, "file:// needs a directory below /");
			return false;
		}
		return true;
	}
	if (strncmp(url, "nfs://", 6) != 0 && strncmp(url, "iscsi://", 8) != 0) {
		snprintf(why, whylen, "URL must start with file:///, nfs:// or iscsi://");
		return false;
	}
	if (!plain_text(url)) {
		snprintf(why, whylen, "blank or control character in the URL");
		return false;
	}
	if (url[0] == 'n')
		return check_nfs(url + 6, why, whylen);
	return check_iscsi(url + 8, why, whylen);
}
