/*
 * Full TLS 1.3 handshakes on loopback, one client thread, A/B/C interleaved:
 *
 *  A  plain OpenSSL client: SSL_VERIFY_PEER, SSL_set1_host, the bench root as
 *     the only trust anchor;
 *  B  the same client with certpin attached (certpin_openssl_attach; policy:
 *     the intermediate's pin and a backup pin);
 *  C  libcurl (OpenSSL backend) with CURLOPT_PINNEDPUBLICKEY on the leaf,
 *     CURLOPT_RESOLVE to the loopback port, a fresh connection per transfer,
 *     no session-ID cache.
 *
 * Every variant does one tiny HTTP/1.1 request per connection (curl cannot do
 * less), so the three do the same work apart from the client library. The
 * server is a thread of this program on 127.0.0.1 (kernel-chosen port) with a
 * root -> intermediate -> leaf chain (it sends leaf + intermediate), session
 * tickets and the session cache off, so every handshake is full. It serves
 * connections one at a time until told to stop, and stops by itself after a
 * bounded number of connections or a time limit.
 *
 * Figures: handshakes/s (median over batches), client-thread CPU per
 * handshake (getrusage RUSAGE_THREAD, user + system, median over batches),
 * and per-batch paired ratios B/A and B/C (median), for P-256 and RSA-2048.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <certpin/certpin.h>
#include <certpin/certpin_openssl.h>
#include <certpin/certpin_report.h>

#include "bench.h"

#define HS_HOST "api.bench.test"
#define HS_BATCHES 21
#define HS_PER_BATCH 200
#define HS_WARMUP 50
#define CG_HANDSHAKES 50
/* Wall-clock limits: the server stops by itself, the client gives up. */
#define HS_SERVER_SECONDS 600.0
#define HS_CLIENT_SECONDS 300.0
#define HS_IO_TIMEOUT_S 10

static const char HS_REQUEST[] = "GET / HTTP/1.1\r\nHost: " HS_HOST "\r\nAccept: */*\r\n\r\n";
static const char HS_RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n"
    "Connection: close\r\n\r\nok";

static double hs_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* user + system CPU of the calling thread, seconds */
static double thread_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int hs_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double hs_median(const double *v, size_t n)
{
	double t[HS_BATCHES];
	memcpy(t, v, n * sizeof *v);
	qsort(t, n, sizeof *t, hs_cmp);
	return t[n / 2];
}

static void die(const char *what)
{
	fprintf(stderr, "bench handshake: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* ---- PKI ------------------------------------------------------------------------ */

static EVP_PKEY *hs_keygen(int rsa)
{
	EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	                  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		die("keygen");
	return k;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (e == NULL || X509_add_ext(x, e, -1) != 1)
		die("certificate extension");
	X509_EXTENSION_free(e);
}

static X509 *hs_mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, int ca,
                       long serial)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
	                           (const unsigned char *)"certpin handshake bench", -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	X509_set_pubkey(x, key);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (ca) {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		add_ext(x, &ctx, NID_ext_key_usage, "serverAuth");
		/* the IP: the report bench's collector serves this leaf on 127.0.0.1 */
		add_ext(x, &ctx, NID_subject_alt_name, "DNS:" HS_HOST ",IP:127.0.0.1");
	}
	if (X509_sign(x, issuer ? ikey : key, EVP_sha256()) == 0)
		die("X509_sign");
	return x;
}

typedef struct hs_pki {
	EVP_PKEY *rk, *ik, *lk, *bk;
	X509 *root, *inter, *leaf;
	char cafile[64];   /* the root in PEM, for curl */
	char tmpdir[48];
	char curl_pin[80]; /* "sha256//..." of the leaf's SPKI */
	char backup_pin[CERTPIN_PIN_STRLEN];
	certpin_policy *policy;
	certpin_policy *policy_openssl; /* the same rule under "validation": "openssl" */
} hs_pki;

static void pki_make(hs_pki *k, int rsa)
{
	memset(k, 0, sizeof *k);
	k->rk = hs_keygen(rsa);
	k->ik = hs_keygen(rsa);
	k->lk = hs_keygen(rsa);
	k->bk = hs_keygen(rsa);
	k->root = hs_mkcert(k->rk, "Handshake Bench Root", NULL, NULL, 1, 101);
	k->inter = hs_mkcert(k->ik, "Handshake Bench Issuing CA", k->root, k->rk, 1, 102);
	k->leaf = hs_mkcert(k->lk, HS_HOST, k->inter, k->ik, 0, 103);

	snprintf(k->tmpdir, sizeof k->tmpdir, "/tmp/certpin-hsbench.XXXXXX");
	if (mkdtemp(k->tmpdir) == NULL)
		die("mkdtemp");
	snprintf(k->cafile, sizeof k->cafile, "%s/root.pem", k->tmpdir);
	FILE *f = fopen(k->cafile, "w");
	if (f == NULL || PEM_write_X509(f, k->root) != 1)
		die("writing the root");
	fclose(f);

	/* certpin policy: intermediate pin + backup pin */
	unsigned char *der = NULL, *spki = NULL;
	int dl = i2d_X509(k->inter, &der);
	int sl = i2d_PUBKEY(k->bk, &spki);
	certpin_pin ipin, bpin, lpin;
	if (dl <= 0 || sl <= 0 ||
	    certpin_pin_spki_from_cert_der(der, (size_t)dl, &ipin) != CERTPIN_OK ||
	    certpin_pin_spki_from_spki_der(spki, (size_t)sl, &bpin) != CERTPIN_OK)
		die("pins");
	OPENSSL_free(der);
	OPENSSL_free(spki);
	der = NULL;
	dl = i2d_X509(k->leaf, &der);
	if (dl <= 0 || certpin_pin_spki_from_cert_der(der, (size_t)dl, &lpin) != CERTPIN_OK)
		die("leaf pin");
	OPENSSL_free(der);

	char p1[CERTPIN_PIN_STRLEN], p2[CERTPIN_PIN_STRLEN], pl[CERTPIN_PIN_STRLEN];
	certpin_pin_format(&ipin, p1, sizeof p1);
	certpin_pin_format(&bpin, p2, sizeof p2);
	certpin_pin_format(&lpin, pl, sizeof pl);
	memcpy(k->backup_pin, p2, sizeof p2);
	/* curl spells it "sha256//<base64>" */
	snprintf(k->curl_pin, sizeof k->curl_pin, "sha256//%s", pl + strlen("sha256/"));

	const char *pins[] = {p2, p1};
	certpin_rule_spec spec = {0};
	spec.host = HS_HOST;
	spec.pins = pins;
	spec.n_pins = 2;
	certpin_builder *b = certpin_builder_new(NULL);
	certpin_error err;
	memset(&err, 0, sizeof err);
	if (b == NULL || certpin_builder_add_rule(b, &spec, &err) != CERTPIN_OK ||
	    certpin_builder_finish(b, 0, &k->policy, NULL, &err) != CERTPIN_OK) {
		fprintf(stderr, "bench handshake: policy: %s\n", err.message);
		exit(1);
	}
	/* A/B of the webpki rules: the same pins without them */
	b = certpin_builder_new(NULL);
	spec.validation = CERTPIN_VALIDATION_OPENSSL;
	if (b == NULL || certpin_builder_add_rule(b, &spec, &err) != CERTPIN_OK ||
	    certpin_builder_finish(b, 0, &k->policy_openssl, NULL, &err) != CERTPIN_OK) {
		fprintf(stderr, "bench handshake: policy: %s\n", err.message);
		exit(1);
	}
}

static void pki_free(hs_pki *k)
{
	certpin_policy_free(k->policy);
	certpin_policy_free(k->policy_openssl);
	unlink(k->cafile);
	rmdir(k->tmpdir);
	X509_free(k->root);
	X509_free(k->inter);
	X509_free(k->leaf);
	EVP_PKEY_free(k->rk);
	EVP_PKEY_free(k->ik);
	EVP_PKEY_free(k->lk);
	EVP_PKEY_free(k->bk);
}

/* ---- server thread ---------------------------------------------------------------- */

typedef struct hs_server {
	SSL_CTX *ctx;
	int lfd;
	int port;
	long max_conns;
	double deadline;
	atomic_int stop;
	long served, failed;
	const char *response; /* HS_RESPONSE, or the report collector's answer */
	pthread_t th;
} hs_server;

static void set_io_opts(int fd)
{
	int one = 1;
	struct timeval tv = {HS_IO_TIMEOUT_S, 0};
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* One connection: handshake, read the request head, answer, close. */
static int serve_one(SSL_CTX *ctx, int fd, const char *response)
{
	set_io_opts(fd);
	SSL *ssl = SSL_new(ctx);
	int ok = 0;
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		goto out;
	if (SSL_accept(ssl) != 1)
		goto out;
	char buf[4096];
	size_t got = 0;
	for (int i = 0; i < 64 && got < sizeof buf - 1; i++) {
		int n = SSL_read(ssl, buf + got, (int)(sizeof buf - 1 - got));
		if (n <= 0)
			goto out;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL) {
			ok = 1;
			break;
		}
	}
	if (!ok || SSL_write(ssl, response, (int)strlen(response)) <= 0) {
		ok = 0;
		goto out;
	}
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return ok;
}

static void *server_main(void *arg)
{
	hs_server *s = arg;
	while (!atomic_load(&s->stop) && s->served + s->failed < s->max_conns &&
	       hs_now() < s->deadline) {
		struct pollfd p = {.fd = s->lfd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		int fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (serve_one(s->ctx, fd, s->response))
			s->served++;
		else
			s->failed++;
	}
	return NULL;
}

static void server_start_with(hs_server *s, const hs_pki *k, long max_conns, double seconds,
                              const char *response)
{
	memset(s, 0, sizeof *s);
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL || SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate(s->ctx, k->leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(s->ctx, k->lk) != 1 ||
	    SSL_CTX_add1_chain_cert(s->ctx, k->inter) != 1 || SSL_CTX_check_private_key(s->ctx) != 1)
		die("server SSL_CTX");
	/* every handshake full: no tickets, no stateful sessions */
	SSL_CTX_set_options(s->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(s->ctx, 0);
	SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);

	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	socklen_t al = sizeof a;
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(s->lfd, 64) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
		die("listen on 127.0.0.1");
	s->port = ntohs(a.sin_port);
	s->max_conns = max_conns;
	s->response = response;
	s->deadline = hs_now() + seconds;
	atomic_store(&s->stop, 0);
	if (pthread_create(&s->th, NULL, server_main, s) != 0)
		die("pthread_create");
}

static void server_start(hs_server *s, const hs_pki *k, long max_conns, double seconds)
{
	server_start_with(s, k, max_conns, seconds, HS_RESPONSE);
}

static void server_stop(hs_server *s)
{
	atomic_store(&s->stop, 1);
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

/* ---- clients ---------------------------------------------------------------------- */

static SSL_CTX *client_ctx(const hs_pki *k, certpin_ctx *pin)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL || SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1)
		die("client SSL_CTX");
	if (X509_STORE_add_cert(SSL_CTX_get_cert_store(c), k->root) != 1)
		die("trust anchor");
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	if (pin != NULL && certpin_openssl_attach(c, pin) != CERTPIN_OK)
		die("certpin_openssl_attach");
	return c;
}

/* One connection with an OpenSSL client: connect, handshake, request, response. */
static int openssl_once(SSL_CTX *c, int port, int pinned)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	set_io_opts(fd);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	int ok = 0;
	SSL *ssl = NULL;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		goto out;
	ssl = SSL_new(c);
	char sni[] = HS_HOST; /* SSL_set_tlsext_host_name is a macro that casts away const */
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_set1_host(ssl, HS_HOST) != 1 ||
	    SSL_set_tlsext_host_name(ssl, sni) != 1)
		goto out;
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	if (pinned) {
		const certpin_verdict *v = certpin_openssl_get_verdict(ssl);
		certpin_verdict_code want =
		    pinned == 2 ? CERTPIN_V_REPORT_ONLY_MISMATCH : CERTPIN_V_PINNED;
		if (v == NULL || certpin_verdict_get_code(v) != want)
			goto out;
	}
	if (SSL_write(ssl, HS_REQUEST, (int)(sizeof HS_REQUEST - 1)) <= 0)
		goto out;
	char buf[512];
	size_t got = 0, want = sizeof HS_RESPONSE - 1;
	for (int i = 0; i < 16 && got < want; i++) {
		int n = SSL_read(ssl, buf, (int)sizeof buf);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	ok = got == want;
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return ok;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

typedef struct hs_curl {
	CURL *h;
	struct curl_slist *resolve;
	char url[64];
} hs_curl;

static void curl_setup(hs_curl *c, const hs_pki *k, int port)
{
	char r[96];
	snprintf(r, sizeof r, HS_HOST ":%d:127.0.0.1", port);
	snprintf(c->url, sizeof c->url, "https://" HS_HOST ":%d/", port);
	c->resolve = curl_slist_append(NULL, r);
	c->h = curl_easy_init();
	if (c->h == NULL || c->resolve == NULL)
		die("curl_easy_init");
	CURL *h = c->h;
	int bad = 0;
	bad |= curl_easy_setopt(h, CURLOPT_URL, c->url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_RESOLVE, c->resolve) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CAINFO, k->cafile) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, k->curl_pin) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSLVERSION,
	                        (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3)) !=
	       CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)HS_IO_TIMEOUT_S) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard) != CURLE_OK;
	if (bad)
		die("curl_easy_setopt");
}

static int curl_once(hs_curl *c)
{
	CURLcode rc = curl_easy_perform(c->h);
	long code = 0;
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK) {
		fprintf(stderr, "bench handshake: curl: %s\n", curl_easy_strerror(rc));
		return 0;
	}
	return code == 200;
}

static void curl_cleanup(hs_curl *c)
{
	curl_easy_cleanup(c->h);
	curl_slist_free_all(c->resolve);
}

/*
 * The verification step alone, natively, outside a handshake (same chain,
 * same store): what OpenSSL's client runs (X509_verify_cert with the host
 * and the ssl_server purpose) vs what certpin's callback runs in its place
 * (certpin_openssl_verify: validation + evaluation), and two parts of the
 * latter (i2d_X509 of the 3 validated certificates, certpin_evaluate).
 */
static void verify_step(const hs_pki *k, double *us_ossl, double *us_cp, double *us_i2d,
                        double *us_eval)
{
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	if (store == NULL || untrusted == NULL || X509_STORE_add_cert(store, k->root) != 1 ||
	    sk_X509_push(untrusted, k->inter) <= 0)
		die("verify step set-up");
	X509 *xs[3] = {k->leaf, k->inter, k->root};
	unsigned char *ders[3];
	certpin_der chain[3];
	for (int c = 0; c < 3; c++) {
		ders[c] = NULL;
		int n = i2d_X509(xs[c], &ders[c]);
		if (n <= 0)
			die("i2d_X509");
		chain[c].der = ders[c];
		chain[c].len = (size_t)n;
	}
	certpin_verdict *v = NULL;
	enum { IT = 200 };
	double o[HS_BATCHES], p[HS_BATCHES], d[HS_BATCHES], e[HS_BATCHES];
	int64_t t = (int64_t)time(NULL);
	for (int bt = 0; bt < HS_BATCHES; bt++) {
		double s = hs_now();
		for (int i = 0; i < IT; i++) {
			X509_STORE_CTX *x = X509_STORE_CTX_new();
			if (x == NULL || X509_STORE_CTX_init(x, store, k->leaf, untrusted) != 1 ||
			    X509_STORE_CTX_set_default(x, "ssl_server") != 1 ||
			    X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(x), HS_HOST, 0) !=
			        1 ||
			    X509_verify_cert(x) != 1)
				die("X509_verify_cert");
			X509_STORE_CTX_free(x);
		}
		o[bt] = (hs_now() - s) / IT * 1e6;
		s = hs_now();
		for (int i = 0; i < IT; i++)
			if (certpin_openssl_verify(k->policy, HS_HOST, k->leaf, untrusted, store,
			                           CERTPIN_TIME_NOW, &v) != CERTPIN_OK ||
			    certpin_verdict_get_code(v) != CERTPIN_V_PINNED)
				die("certpin_openssl_verify");
		p[bt] = (hs_now() - s) / IT * 1e6;
		s = hs_now();
		for (int i = 0; i < IT; i++)
			for (int c = 0; c < 3; c++) {
				unsigned char *der = NULL;
				if (i2d_X509(xs[c], &der) <= 0)
					die("i2d_X509");
				OPENSSL_free(der);
			}
		d[bt] = (hs_now() - s) / IT * 1e6;
		s = hs_now();
		for (int i = 0; i < IT; i++)
			if (certpin_evaluate(k->policy, HS_HOST, chain, 3, t, &v) != CERTPIN_OK)
				die("certpin_evaluate");
		e[bt] = (hs_now() - s) / IT * 1e6;
	}
	*us_ossl = hs_median(o, HS_BATCHES);
	*us_cp = hs_median(p, HS_BATCHES);
	*us_i2d = hs_median(d, HS_BATCHES);
	*us_eval = hs_median(e, HS_BATCHES);
	certpin_verdict_free(v);
	for (int c = 0; c < 3; c++)
		OPENSSL_free(ders[c]);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
}

/* ---- the measurement -------------------------------------------------------------- */

enum { V_OPENSSL, V_CERTPIN, V_CURL, NV };

typedef struct hs_clients {
	SSL_CTX *plain, *pinned;
	hs_curl curl;
	int port;
} hs_clients;

static int run_one(hs_clients *cl, int variant)
{
	switch (variant) {
	case V_OPENSSL:
		return openssl_once(cl->plain, cl->port, 0);
	case V_CERTPIN:
		return openssl_once(cl->pinned, cl->port, 1);
	default:
		return curl_once(&cl->curl);
	}
}

static const char *const VNAME[NV] = {"openssl", "certpin", "curl pinnedpubkey"};

static int bench_keytype(int rsa)
{
	hs_pki k;
	pki_make(&k, rsa);
	certpin_ctx *pc = certpin_ctx_new(k.policy);
	if (pc == NULL)
		die("certpin_ctx_new");
	hs_server srv;
	server_start(&srv, &k, (long)NV * (HS_WARMUP + HS_BATCHES * HS_PER_BATCH) + 16,
	             HS_SERVER_SECONDS);
	hs_clients cl;
	cl.port = srv.port;
	cl.plain = client_ctx(&k, NULL);
	cl.pinned = client_ctx(&k, pc);
	curl_setup(&cl.curl, &k, srv.port);

	int failed = 0;
	for (int v = 0; v < NV && !failed; v++)
		for (int i = 0; i < HS_WARMUP && !failed; i++)
			if (!run_one(&cl, v)) {
				fprintf(stderr, "bench handshake: %s warm-up handshake failed\n",
				        VNAME[v]);
				failed = 1;
			}

	double rate[NV][HS_BATCHES], cpu[NV][HS_BATCHES], rBA[HS_BATCHES], rBC[HS_BATCHES],
	    cBA[HS_BATCHES];
	double limit = hs_now() + HS_CLIENT_SECONDS;
	int batches = 0;
	for (int bt = 0; bt < HS_BATCHES && !failed; bt++) {
		if (hs_now() > limit) {
			fprintf(stderr, "bench handshake: time limit reached after %d batches\n", bt);
			break;
		}
		for (int j = 0; j < NV && !failed; j++) {
			int v = (bt + j) % NV; /* rotate the order from batch to batch */
			double c0 = thread_cpu(), t0 = hs_now();
			for (int i = 0; i < HS_PER_BATCH; i++)
				if (!run_one(&cl, v)) {
					fprintf(stderr, "bench handshake: %s handshake failed\n",
					        VNAME[v]);
					failed = 1;
					break;
				}
			double t = hs_now() - t0, c = thread_cpu() - c0;
			rate[v][bt] = HS_PER_BATCH / t;
			cpu[v][bt] = c / HS_PER_BATCH * 1e6;
		}
		if (failed)
			break;
		rBA[bt] = rate[V_CERTPIN][bt] / rate[V_OPENSSL][bt];
		rBC[bt] = rate[V_CERTPIN][bt] / rate[V_CURL][bt];
		cBA[bt] = cpu[V_CERTPIN][bt] - cpu[V_OPENSSL][bt];
		batches = bt + 1;
	}
	if (!failed && batches > 0) {
		size_t n = (size_t)batches;
		double r[NV], c[NV];
		for (int v = 0; v < NV; v++) {
			r[v] = hs_median(rate[v], n);
			c[v] = hs_median(cpu[v], n);
		}
		const char *kt = rsa ? "RSA-2048" : "P-256";
		printf("handshake %-8s: openssl %6.0f/s | certpin %6.0f/s (%.1f%% of openssl) | "
		       "curl pinnedpubkey %6.0f/s (certpin %.1f%% of curl)\n",
		       kt, r[V_OPENSSL], r[V_CERTPIN], 100.0 * hs_median(rBA, n), r[V_CURL],
		       100.0 * hs_median(rBC, n));
		double added = hs_median(cBA, n);
		printf("handshake %-8s: client CPU per handshake: openssl %.1f us | certpin %.1f us |"
		       " curl %.1f us | certpin adds %+.1f us (%+.2f%% of openssl's)\n",
		       kt, c[V_OPENSSL], c[V_CERTPIN], c[V_CURL], added,
		       100.0 * added / c[V_OPENSSL]);
		double vo, vp, vd, ve;
		verify_step(&k, &vo, &vp, &vd, &ve);
		printf("handshake %-8s: verify step alone: openssl X509_verify_cert %.1f us | "
		       "certpin_openssl_verify %.1f us: adds %+.2f us (%+.2f%% of the client's "
		       "handshake CPU), of which i2d_X509 x3 %.2f us, certpin_evaluate %.2f us\n",
		       kt, vo, vp, vp - vo, 100.0 * (vp - vo) / c[V_OPENSSL], vd, ve);
		printf("handshake %-8s: %d batches x %d handshakes per variant, medians; server "
		       "served %ld, failed %ld\n",
		       kt, batches, HS_PER_BATCH, srv.served, srv.failed);
	}

	curl_cleanup(&cl.curl);
	SSL_CTX_free(cl.plain);
	SSL_CTX_free(cl.pinned);
	server_stop(&srv);
	certpin_ctx_free(pc);
	pki_free(&k);
	fflush(stdout);
	return failed;
}

int bench_handshakes(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init");
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	printf("handshakes: full TLS 1.3 on 127.0.0.1, one client thread, 3-certificate chain, "
	       "one HTTP/1.1 request each (libcurl %s, %s)\n",
	       vi->version, vi->ssl_version ? vi->ssl_version : "?");
	fflush(stdout);
	int failed = bench_keytype(0);
	if (!failed)
		failed = bench_keytype(1);
	curl_global_cleanup();
	return failed;
}

/* ---- reports: handshakes while the collector is broken ------------------------------ */

/*
 * Every handshake is a report-only mismatch (the policy pins only the backup
 * key, mode "report"), so every one is submitted; the reporter has
 * CERTPIN_REPORTER_NO_DEDUP so that each is queued, not deduplicated. The
 * variants, interleaved batch by batch in one run: no reporter at all, and a
 * reporter whose collector (https://127.0.0.1:PORT/) never answers (a
 * listening socket nobody accepts), is down (a closed port), or answers 500
 * (a server thread). Per-handshake wall time, median and 99th percentile.
 */
enum { R_NONE, R_HUNG, R_DOWN, R_500, NR };
static const char *const RNAME[NR] = {"no reporter", "collector never answers",
                                      "collector down", "collector answers 500"};
#define R_BATCHES 11
#define R_PER_BATCH 100
#define R_QUEUE 64u

static const char R_500_RESPONSE[] =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static certpin_policy *report_policy(const hs_pki *k, int port)
{
	char uri[64];
	snprintf(uri, sizeof uri, "https://127.0.0.1:%d/pins", port);
	const char *pins[] = {k->backup_pin};
	const char *uris[] = {uri};
	certpin_rule_spec spec = {0};
	spec.host = HS_HOST;
	spec.pins = pins;
	spec.n_pins = 1;
	spec.mode = CERTPIN_MODE_REPORT;
	spec.report_uris = uris;
	spec.n_report_uris = 1;
	certpin_builder *b = certpin_builder_new(NULL);
	certpin_policy *p = NULL;
	if (b == NULL || certpin_builder_add_rule(b, &spec, NULL) != CERTPIN_OK ||
	    certpin_builder_finish(b, 0, &p, NULL, NULL) != CERTPIN_OK)
		die("report policy");
	return p;
}

/* A loopback port: listening (and never accepted) when keep, else closed again. */
static int loopback_port(int keep, int *fd_out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    (keep && listen(fd, 64) != 0) || getsockname(fd, (struct sockaddr *)&a, &al) != 0)
		die("loopback port");
	if (keep) {
		*fd_out = fd;
	} else {
		close(fd);
		*fd_out = -1;
	}
	return ntohs(a.sin_port);
}

static double pct(double *v, size_t n, double q)
{
	qsort(v, n, sizeof *v, hs_cmp);
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i];
}

int bench_reports(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init");
	hs_pki k;
	pki_make(&k, 0);
	hs_server srv, coll;
	server_start(&srv, &k, (long)NR * (HS_WARMUP + R_BATCHES * R_PER_BATCH) + 16,
	             HS_SERVER_SECONDS);
	server_start_with(&coll, &k, 1000000, HS_SERVER_SECONDS, R_500_RESPONSE);
	int hung_fd = -1, down_fd = -1;
	int ports[NR];
	ports[R_NONE] = 9; /* no reporter: never used */
	ports[R_HUNG] = loopback_port(1, &hung_fd);
	ports[R_DOWN] = loopback_port(0, &down_fd);
	ports[R_500] = coll.port;

	certpin_policy *pol[NR];
	certpin_ctx *pc[NR];
	certpin_reporter *rep[NR] = {NULL};
	SSL_CTX *cctx[NR];
	for (int v = 0; v < NR; v++) {
		pol[v] = report_policy(&k, ports[v]);
		pc[v] = certpin_ctx_new(pol[v]);
		if (pc[v] == NULL)
			die("certpin_ctx_new");
		if (v != R_NONE) {
			certpin_reporter_config cfg;
			memset(&cfg, 0, sizeof cfg);
			cfg.cafile = k.cafile;
			cfg.flags = CERTPIN_REPORTER_NO_DEDUP;
			cfg.queue_max = R_QUEUE;
			certpin_error err;
			if (certpin_reporter_new(&cfg, &rep[v], &err) != CERTPIN_OK ||
			    certpin_ctx_set_reporter(pc[v], rep[v]) != CERTPIN_OK)
				die("reporter");
		}
		cctx[v] = client_ctx(&k, pc[v]);
	}

	int failed = 0;
	for (int v = 0; v < NR && !failed; v++)
		for (int i = 0; i < HS_WARMUP && !failed; i++)
			failed = !openssl_once(cctx[v], srv.port, 2);
	static double lat[NR][R_BATCHES * R_PER_BATCH];
	double cpu[NR][R_BATCHES];
	size_t n = 0;
	size_t max_queued[NR] = {0};
	for (int bt = 0; bt < R_BATCHES && !failed; bt++) {
		for (int j = 0; j < NR && !failed; j++) {
			int v = (bt + j) % NR;
			double c0 = thread_cpu();
			for (int i = 0; i < R_PER_BATCH; i++) {
				double t0 = hs_now();
				if (!openssl_once(cctx[v], srv.port, 2)) {
					fprintf(stderr, "bench reports: %s handshake failed\n", RNAME[v]);
					failed = 1;
					break;
				}
				lat[v][n + (size_t)i] = (hs_now() - t0) * 1e6;
				certpin_reporter_stats st;
				certpin_reporter_get_stats(rep[v], &st);
				if (st.queued > max_queued[v])
					max_queued[v] = st.queued;
			}
			cpu[v][bt] = (thread_cpu() - c0) / R_PER_BATCH * 1e6;
			/*
			 * Outside the timed part: let a collector that answers (500) or
			 * refuses (down) drain its queue, so that its reporter thread does
			 * not compete for the two cores with the next variant's batch.
			 * The hung one stays full: that is the case being measured.
			 */
			if (v == R_DOWN || v == R_500)
				(void)certpin_reporter_flush(rep[v], 10000);
		}
		n += R_PER_BATCH;
	}
	if (!failed) {
		printf("reports: every handshake a report-only mismatch (P-256, TLS 1.3, 127.0.0.1), "
		       "%d batches x %d per variant interleaved; reporter queue %u, no dedup\n",
		       R_BATCHES, R_PER_BATCH, R_QUEUE);
		double base_med = 0;
		for (int v = 0; v < NR; v++) {
			double med = pct(lat[v], n, 0.5), p99 = pct(lat[v], n, 0.99);
			if (v == R_NONE)
				base_med = med;
			certpin_reporter_stats st;
			certpin_reporter_get_stats(rep[v], &st);
			printf("reports %-24s: handshake median %7.1f us (%+5.1f%%), p99 %7.1f us, "
			       "client CPU %6.1f us",
			       RNAME[v], med, 100.0 * (med - base_med) / base_med, p99,
			       hs_median(cpu[v], R_BATCHES));
			if (v != R_NONE)
				printf(" | submitted %llu, sent %llu, failed %llu, dropped %llu, "
				       "queue max seen %zu of %zu",
				       (unsigned long long)st.submitted, (unsigned long long)st.sent,
				       (unsigned long long)st.failed, (unsigned long long)st.dropped,
				       max_queued[v], st.queue_max);
			printf("\n");
		}
	}
	if (!failed) {
		/* the submit alone, on the handshake thread: a full queue (copy, then drop) */
		certpin_der ch[3];
		unsigned char *d[3] = {NULL, NULL, NULL};
		X509 *xs[3] = {k.leaf, k.inter, k.root};
		for (int i = 0; i < 3; i++) {
			int l = i2d_X509(xs[i], &d[i]);
			if (l <= 0)
				die("i2d_X509");
			ch[i].der = d[i];
			ch[i].len = (size_t)l;
		}
		certpin_verdict *vd = NULL;
		if (certpin_evaluate(pol[R_HUNG], HS_HOST, ch, 3, 0, &vd) != CERTPIN_OK)
			die("evaluate");
		const int N = 20000;
		double t0 = hs_now(), c0 = thread_cpu();
		for (int i = 0; i < N; i++)
			(void)certpin_reporter_submit(rep[R_HUNG], pol[R_HUNG], vd, 443, ch, 3, NULL);
		printf("reports: certpin_reporter_submit alone (3-cert chain, queue full: copy and "
		       "drop): %.2f us wall, %.2f us CPU\n",
		       (hs_now() - t0) / N * 1e6, (thread_cpu() - c0) / N * 1e6);
		certpin_verdict_free(vd);
		for (int i = 0; i < 3; i++)
			OPENSSL_free(d[i]);
	}
	for (int v = 0; v < NR; v++) {
		SSL_CTX_free(cctx[v]);
		certpin_ctx_free(pc[v]);
		certpin_reporter_free(rep[v]); /* aborts the POST the hung collector holds */
		certpin_policy_free(pol[v]);
	}
	if (hung_fd >= 0)
		close(hung_fd);
	server_stop(&coll);
	server_stop(&srv);
	pki_free(&k);
	curl_global_cleanup();
	fflush(stdout);
	return failed;
}

/* ---- callgrind ---------------------------------------------------------------------- */

__attribute__((noinline)) static int cg_hs_openssl_loop(hs_clients *cl)
{
	for (int i = 0; i < CG_HANDSHAKES; i++)
		if (!openssl_once(cl->plain, cl->port, 0))
			return 0;
	return 1;
}

__attribute__((noinline)) static int cg_hs_certpin_loop(hs_clients *cl)
{
	for (int i = 0; i < CG_HANDSHAKES; i++)
		if (!openssl_once(cl->pinned, cl->port, 1))
			return 0;
	return 1;
}

/* certpin with "validation": "openssl": the difference to the loop above is the webpki profile */
__attribute__((noinline)) static int cg_hs_certpin_openssl_loop(SSL_CTX *c, int port)
{
	for (int i = 0; i < CG_HANDSHAKES; i++)
		if (!openssl_once(c, port, 1))
			return 0;
	return 1;
}

int bench_handshakes_callgrind(void)
{
	signal(SIGPIPE, SIG_IGN);
	int failed = 0;
	for (int rsa = 0; rsa < 2 && !failed; rsa++) {
		hs_pki k;
		pki_make(&k, rsa);
		certpin_ctx *pc = certpin_ctx_new(k.policy);
		if (pc == NULL)
			die("certpin_ctx_new");
		hs_server srv;
		certpin_ctx *pco = certpin_ctx_new(k.policy_openssl);
		if (pco == NULL)
			die("certpin_ctx_new");
		server_start(&srv, &k, 3L * (CG_HANDSHAKES + 4) + 4, HS_SERVER_SECONDS);
		hs_clients cl;
		memset(&cl, 0, sizeof cl);
		cl.port = srv.port;
		cl.plain = client_ctx(&k, NULL);
		cl.pinned = client_ctx(&k, pc);
		SSL_CTX *pinned_openssl = client_ctx(&k, pco);
		/* warm-up outside the measured loops (lazy initialisation) */
		for (int i = 0; i < 4 && !failed; i++)
			failed = !openssl_once(cl.plain, cl.port, 0) ||
			         !openssl_once(cl.pinned, cl.port, 1) ||
			         !openssl_once(pinned_openssl, cl.port, 1);
		if (!failed)
			failed = !cg_hs_openssl_loop(&cl);
		if (!failed)
			failed = !cg_hs_certpin_loop(&cl);
		if (!failed)
			failed = !cg_hs_certpin_openssl_loop(pinned_openssl, cl.port);
		printf("%s: %s %d handshakes each of openssl, certpin and certpin with validation "
		       "openssl for callgrind\n",
		       rsa ? "RSA-2048" : "P-256", failed ? "FAILED in" : "ran", CG_HANDSHAKES);
		SSL_CTX_free(cl.plain);
		SSL_CTX_free(cl.pinned);
		SSL_CTX_free(pinned_openssl);
		certpin_ctx_free(pco);
		server_stop(&srv);
		certpin_ctx_free(pc);
		pki_free(&k);
	}
	return failed;
}
