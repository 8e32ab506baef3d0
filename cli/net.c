/*
 * Connecting for probe and check: HOST[:PORT] and --connect ADDR:PORT
 * parsing, a TCP connection with a deadline, and a TLS handshake with a
 * deadline on a non-blocking socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "certpin/certpin.h"
#include "cli.h"

/* "name", "name:443", "[::1]:443", "::1" -> host and port (default 443 unless need_port). */
int cli_parse_hostport(const char *in, int need_port, char *host, size_t hn, char *port, size_t pn)
{
	const char *h = in, *p = NULL;
	size_t hl;
	if (in[0] == '[') {
		const char *end = strchr(in, ']');
		if (end == NULL)
			return -1;
		h = in + 1;
		hl = (size_t)(end - h);
		if (end[1] == ':')
			p = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(in, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hl = (size_t)(colon - in);
			p = colon + 1;
		} else {
			hl = strlen(in); /* no port, or a bare IPv6 address */
		}
	}
	if (hl == 0 || hl >= hn || (need_port && p == NULL))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	const char *port_text = p ? p : "443";
	size_t pl = strlen(port_text);
	if (pl == 0 || pl >= pn || strspn(port_text, "0123456789") != pl)
		return -1;
	long v = strtol(port_text, NULL, 10);
	if (v < 1 || v > 65535)
		return -1;
	memcpy(port, port_text, pl + 1);
	return 0;
}

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	          (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? ms : 0;
}

void cli_deadline(struct timespec *d, int seconds)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += seconds;
}

int cli_connect(const char *addr, const char *port, const struct timespec *deadline, char *why,
                size_t wn)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(addr, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, wn, "cannot resolve %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	snprintf(why, wn, "cannot connect to %s port %s", addr, port);
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (s < 0)
			continue;
		int fl = fcntl(s, F_GETFL);
		if (fl < 0 || fcntl(s, F_SETFL, fl | O_NONBLOCK) < 0) {
			close(s);
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS) {
				snprintf(why, wn, "cannot connect to %s port %s: %s", addr, port,
				         strerror(errno));
				close(s);
				continue;
			}
			struct pollfd pfd = {s, POLLOUT, 0};
			int n = poll(&pfd, 1, (int)ms_left(deadline));
			int err = 0;
			socklen_t el = sizeof err;
			if (n <= 0) {
				snprintf(why, wn, "connection to %s port %s timed out", addr, port);
				close(s);
				continue;
			}
			if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
				snprintf(why, wn, "cannot connect to %s port %s: %s", addr, port,
				         strerror(err ? err : errno));
				close(s);
				continue;
			}
		}
		fd = s;
	}
	freeaddrinfo(res);
	return fd;
}

int cli_tls_wait(SSL *ssl, int ret, const struct timespec *deadline)
{
	int e = SSL_get_error(ssl, ret);
	short ev;
	if (e == SSL_ERROR_WANT_READ)
		ev = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		ev = POLLOUT;
	else
		return -1;
	struct pollfd pfd = {SSL_get_fd(ssl), ev, 0};
	long ms = ms_left(deadline);
	if (ms <= 0 || poll(&pfd, 1, (int)ms) <= 0)
		return -2; /* timed out */
	return 0;
}

int cli_handshake(SSL *ssl, const struct timespec *deadline)
{
	for (;;) {
		int r = SSL_connect(ssl);
		if (r == 1)
			return 0;
		int w = cli_tls_wait(ssl, r, deadline);
		if (w != 0)
			return w;
	}
}

void cli_openssl_error(char *buf, size_t n)
{
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "TLS handshake failed");
	ERR_clear_error();
}

int cli_target_parse(const char *cmd, const char *hostport, const char *connect_to,
                     struct cli_target *t)
{
	certpin_error err;
	if (cli_parse_hostport(hostport, 0, t->host, sizeof t->host, t->port, sizeof t->port) != 0 ||
	    certpin_host_normalize(t->host, t->name, sizeof t->name, &err) != CERTPIN_OK) {
		cli_error("%s: '%s' is not a valid HOST[:PORT]", cmd, hostport);
		return EXIT_USAGE;
	}
	if (connect_to == NULL) {
		memcpy(t->addr, t->host, sizeof t->addr);
		memcpy(t->aport, t->port, sizeof t->aport);
	} else if (cli_parse_hostport(connect_to, 1, t->addr, sizeof t->addr, t->aport,
	                              sizeof t->aport) != 0) {
		cli_error("%s: --connect '%s' is not a valid ADDR:PORT", cmd, connect_to);
		return EXIT_USAGE;
	}
	/* normalised IP literals are digits and dots (IPv4) or contain ':' (IPv6) */
	t->is_ip = strchr(t->name, ':') != NULL || strspn(t->name, "0123456789.") == strlen(t->name);
	return 0;
}

int cli_load_trust(SSL_CTX *ctx, const char *cmd, const char *cafile)
{
	if (cafile != NULL ? SSL_CTX_load_verify_file(ctx, cafile) == 1
	                   : SSL_CTX_set_default_verify_paths(ctx) == 1)
		return 0;
	cli_error("%s: cannot load trust anchors%s%s", cmd, cafile ? " from " : "",
	          cafile ? cafile : "");
	return EXIT_INPUT;
}

/* Loads the chain file into a leaf and a stack of untrusted certificates. */
int cli_load_chain(const char *path, X509 **leaf, STACK_OF(X509) **rest)
{
	certpin_object_list *objs = NULL;
	certpin_error err;
	char line[1024];
	if (certpin_objects_from_file(path, NULL, &objs, &err) != CERTPIN_OK) {
		certpin_error_format(&err, line, sizeof line);
		cli_error("%s", line);
		return -1;
	}
	*leaf = NULL;
	*rest = sk_X509_new_null();
	int rc = *rest ? 0 : -1;
	for (size_t i = 0; rc == 0 && i < certpin_object_list_count(objs); i++) {
		const certpin_object *o = certpin_object_list_get(objs, i);
		if (o->kind != CERTPIN_OBJ_CERT) {
			cli_error("%s:%u: the chain file must hold only certificates", path, o->line);
			rc = -1;
			break;
		}
		const unsigned char *p = o->der;
		X509 *x = d2i_X509(NULL, &p, (long)o->der_len);
		if (x == NULL) {
			cli_error("%s: cannot parse certificate %zu", path, i + 1);
			rc = -1;
		} else if (*leaf == NULL) {
			*leaf = x;
		} else if (!sk_X509_push(*rest, x)) {
			X509_free(x);
			rc = -1;
		}
	}
	certpin_object_list_free(objs);
	if (rc != 0) {
		X509_free(*leaf);
		sk_X509_pop_free(*rest, X509_free);
		*leaf = NULL;
		*rest = NULL;
	}
	return rc;
}
