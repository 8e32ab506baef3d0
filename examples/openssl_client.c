/*
 * A plain OpenSSL client with certpin attached: the whole integration is the
 * three calls marked "certpin" below. It connects, sends `HEAD / HTTP/1.1`
 * and prints the status line.
 *
 * usage: openssl_client [--cafile CA] [--connect ADDR:PORT] [--insecure-verify-none]
 *                       POLICY.json HOST[:PORT]
 *   --connect               connect to ADDR:PORT but use HOST for SNI, host-name
 *                           checking and the policy (like curl --connect-to)
 *   --cafile                trust only the certificates in CA (PEM)
 *   --insecure-verify-none  set SSL_VERIFY_NONE, to show that pins are still
 *                           enforced (and the chain still validated)
 * exit: 0 success, 1 blocked by pinning (the failure message is printed),
 *       2 certificate validation failed, 3 connection or TLS error,
 *       4 policy error, 64 usage. Connect and handshake time out after 10 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <certpin/certpin_openssl.h>

#define TIMEOUT_MS 10000

static void usage(void)
{
	fprintf(stderr, "usage: openssl_client [--cafile CA] [--connect ADDR:PORT] "
	                "[--insecure-verify-none] POLICY HOST[:PORT]\n");
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Splits "host:port", "[v6]:port", "host" into host and port (default_port).
 * Returns 0 or -1.
 */
static int split_host_port(const char *in, char *host, size_t hn, char *port, size_t pn,
                           const char *default_port)
{
	const char *h = in, *colon;
	size_t hl;
	if (in[0] == '[') {
		const char *end = strchr(in, ']');
		if (end == NULL)
			return -1;
		h = in + 1;
		hl = (size_t)(end - h);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strrchr(in, ':');
		if (colon != NULL && strchr(in, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		hl = colon != NULL ? (size_t)(colon - in) : strlen(in);
	}
	if (hl == 0 || hl >= hn)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	const char *p = colon != NULL ? colon + 1 : default_port;
	if (p[0] == '\0' || strlen(p) >= pn || strspn(p, "0123456789") != strlen(p))
		return -1;
	snprintf(port, pn, "%s", p);
	return 0;
}

/* Waits until fd is ready for events or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {fd, events, 0};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Non-blocking connect with a deadline; returns a non-blocking socket or -1. */
static int tcp_connect(const char *host, const char *port, long long deadline)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "openssl_client: %s: %s\n", host, gai_strerror(gai));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		int fl = fcntl(fd, F_GETFL, 0);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
			close(fd);
			fd = -1;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		int err = 0;
		socklen_t len = sizeof err;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "openssl_client: cannot connect to %s port %s\n", host, port);
	return fd;
}

/* Drives a non-blocking SSL call until done or the deadline; returns its result. */
static int ssl_io(SSL *ssl, int fd, int ret, long long deadline)
{
	int e = SSL_get_error(ssl, ret);
	if (e == SSL_ERROR_WANT_READ)
		return wait_fd(fd, POLLIN, deadline) == 1 ? 1 : -1;
	if (e == SSL_ERROR_WANT_WRITE)
		return wait_fd(fd, POLLOUT, deadline) == 1 ? 1 : -1;
	return 0;
}

static int exit_for_verdict(const certpin_verdict *v)
{
	switch (certpin_verdict_get_code(v)) {
	case CERTPIN_V_CHAIN_INVALID:
	case CERTPIN_V_HOSTNAME_MISMATCH:
		return 2;
	case CERTPIN_V_PINNED:
	case CERTPIN_V_NOT_PINNED:
	case CERTPIN_V_EXPIRED_UNPINNED:
	case CERTPIN_V_REPORT_ONLY_MISMATCH:
		return 0;
	case CERTPIN_V_PIN_MISMATCH:
	case CERTPIN_V_UNLISTED_HOST:
	case CERTPIN_V_EXPIRED_BLOCKED:
	case CERTPIN_V_INTERNAL_ERROR:
	default:
		return 1;
	}
}

static void print_verdict(const certpin_verdict *v, FILE *out)
{
	char msg[8192];
	size_t n = certpin_verdict_format(v, msg, sizeof msg);
	fputs(msg, out);
	if (n >= sizeof msg)
		fputs("...\n", out);
}

int main(int argc, char **argv)
{
	const char *cafile = NULL, *connect_to = NULL;
	int verify_none = 0, i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--cafile") == 0 && i + 1 < argc)
			cafile = argv[++i];
		else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc)
			connect_to = argv[++i];
		else if (strcmp(argv[i], "--insecure-verify-none") == 0)
			verify_none = 1;
		else {
			usage();
			return 64;
		}
	}
	if (argc - i != 2) {
		usage();
		return 64;
	}
	char host[256], port[16], addr[256], addr_port[16];
	if (split_host_port(argv[i + 1], host, sizeof host, port, sizeof port, "443") != 0 ||
	    split_host_port(connect_to ? connect_to : argv[i + 1], addr, sizeof addr, addr_port,
	                    sizeof addr_port, port) != 0) {
		usage();
		return 64;
	}

	certpin_policy *policy = NULL;
	certpin_error err;
	if (certpin_policy_load_file(argv[i], 0, &policy, NULL, &err) != CERTPIN_OK) {
		char line[1024];
		certpin_error_format(&err, line, sizeof line);
		fprintf(stderr, "openssl_client: %s\n", line);
		return 4;
	}
	/* certpin: one holder per application; swap policies on it later */
	certpin_ctx *pins = certpin_ctx_new(policy);
	certpin_policy_free(policy);

	int rc = 3, fd = -1;
	SSL *ssl = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (pins == NULL || ctx == NULL)
		goto out;
	if (cafile != NULL ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
	                   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		fprintf(stderr, "openssl_client: cannot load trust anchors\n");
		goto out;
	}
	SSL_CTX_set_verify(ctx, verify_none ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	/* certpin: pin every connection made from ctx */
	if (certpin_openssl_attach(ctx, pins) != CERTPIN_OK) {
		fprintf(stderr, "openssl_client: cannot attach certpin\n");
		goto out;
	}

	long long deadline = now_ms() + TIMEOUT_MS;
	fd = tcp_connect(addr, addr_port, deadline);
	if (fd < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set1_host(ssl, host) != 1 || SSL_set_fd(ssl, fd) != 1)
		goto out;
	/* SNI carries names only, never IP literals */
	unsigned char ipbuf[16];
	if (inet_pton(AF_INET, host, ipbuf) != 1 && inet_pton(AF_INET6, host, ipbuf) != 1 &&
	    SSL_set_tlsext_host_name(ssl, host) != 1)
		goto out;

	int r;
	while ((r = SSL_connect(ssl)) != 1) {
		int more = ssl_io(ssl, fd, r, deadline);
		if (more == 1)
			continue;
		/* certpin: the verdict says why a handshake was refused */
		const certpin_verdict *v = certpin_openssl_get_verdict(ssl);
		if (v != NULL && !certpin_verdict_allowed(v)) {
			print_verdict(v, stderr);
			rc = exit_for_verdict(v);
		} else {
			unsigned long e = ERR_peek_last_error();
			fprintf(stderr, "openssl_client: TLS handshake with %s failed: %s\n", host,
			        more < 0 ? "timed out"
			        : e      ? ERR_reason_error_string(e)
			                 : "closed");
		}
		goto out;
	}
	const certpin_verdict *v = certpin_openssl_get_verdict(ssl);
	if (v == NULL || !certpin_verdict_allowed(v)) { /* cannot happen with certpin attached */
		if (v != NULL)
			print_verdict(v, stderr);
		rc = v != NULL ? exit_for_verdict(v) : 1;
		goto out;
	}
	if (certpin_verdict_get_code(v) != CERTPIN_V_PINNED &&
	    certpin_verdict_get_code(v) != CERTPIN_V_NOT_PINNED)
		print_verdict(v, stderr); /* expired pins or report-only: visible, allowed */

	char req[512];
	int n = snprintf(req, sizeof req,
	                 "HEAD / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
	if (n <= 0 || (size_t)n >= sizeof req)
		goto out;
	while ((r = SSL_write(ssl, req, n)) <= 0)
		if (ssl_io(ssl, fd, r, deadline) != 1) {
			fprintf(stderr, "openssl_client: cannot send the request\n");
			goto out;
		}
	char resp[1024];
	size_t have = 0;
	while (have < sizeof resp - 1 && memchr(resp, '\n', have) == NULL) {
		r = SSL_read(ssl, resp + have, (int)(sizeof resp - 1 - have));
		if (r > 0) {
			have += (size_t)r;
			continue;
		}
		if (ssl_io(ssl, fd, r, deadline) != 1)
			break;
	}
	resp[have] = '\0';
	char *eol = strpbrk(resp, "\r\n");
	if (eol == NULL || strncmp(resp, "HTTP/", 5) != 0) {
		fprintf(stderr, "openssl_client: no HTTP status line from %s\n", host);
		goto out;
	}
	*eol = '\0';
	printf("%s\n", resp);
	rc = 0;
out:
	if (ssl != NULL) {
		if (rc == 0)
			SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	certpin_ctx_free(pins);
	return rc;
}
