/*
 * The OpenSSL TLS adapter: pins every client connection of an SSL_CTX.
 *
 * The certificate check replaces OpenSSL's (SSL_CTX_set_cert_verify_callback)
 * and is certpin_openssl_verify(): validation, then evaluation on the chain
 * validation built. The rest of this file exists because OpenSSL has two
 * ways to finish a client handshake without calling that callback:
 *
 *  - SSL_VERIFY_NONE: tls_post_process_server_certificate() (statem_clnt.c)
 *    fails the handshake only `if (s->verify_mode != SSL_VERIFY_NONE &&
 *    i <= 0)`, so a 0 from the callback is ignored in that mode. block()
 *    switches the SSL to SSL_VERIFY_PEER first; OpenSSL reads verify_mode
 *    after the callback returns.
 *  - Resumption: an abbreviated handshake (TLS 1.2 session ID or ticket,
 *    TLS 1.3 PSK) has no Certificate message and no verification. OpenSSL
 *    offers whatever s->session is when it builds the ClientHello, and the
 *    info callback's SSL_CB_HANDSHAKE_START runs in state_machine() before
 *    that, so a session can still be replaced there. The ClientHello
 *    extension hook runs while the ClientHello is built, after the session
 *    was chosen: too late to replace it but not to abort, so it is the
 *    backstop for an application that replaced the info callback.
 *
 * Sessions carry a tag (ex_data) naming the holder, the policy generation
 * and the host they passed the check under; ssl_session_dup() copies ex_data
 * through tag_dup into the sessions TLS 1.3 tickets create.
 */
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "certpin/certpin_openssl.h"
#include "internal.h"

/* What an attached SSL_CTX holds. */
typedef struct cp_attach {
	certpin_ctx *ctx;
	unsigned port_hint; /* reports: the port when the SSL has no socket (libcurl) */
	void (*prev_info)(const SSL *ssl, int where, int ret);
} cp_attach;

/* Per connection. */
typedef struct cp_conn {
	certpin_verdict *verdict; /* reused across handshakes */
	certpin_policy *policy;   /* the snapshot of the verdict: its rule lives there */
	SSL_SESSION *vetted;      /* offered session re-checked at handshake start */
	int have_verdict;         /* the verdict belongs to this handshake */
	int checked;              /* this handshake ran a certificate check */
	/* the application's info callback, when certpin had to reinstall its own */
	void (*app_info)(const SSL *ssl, int where, int ret);
} cp_conn;

/* On a session that passed the check. */
typedef struct cp_tag {
	uint64_t ctx_id;
	uint64_t generation;
	char host[CERTPIN_HOST_MAX + 1]; /* normalised */
} cp_tag;

static int idx_attach = -1, idx_conn = -1, idx_tag = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void attach_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	cp_attach *a = ptr;
	if (a == NULL)
		return;
	certpin_ctx_free(a->ctx);
	free(a);
}

static void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	cp_conn *cn = ptr;
	if (cn == NULL)
		return;
	certpin_verdict_free(cn->verdict);
	certpin_policy_free(cn->policy);
	free(cn);
}

/* SSL_dup of a fresh SSL: the copy starts without certpin state. */
static int conn_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                    long argl, void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	*from_d = NULL;
	return 1;
}

static void tag_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	free(ptr);
}

/* Sessions are duplicated for TLS 1.3 tickets and by SSL_SESSION_dup. */
static int tag_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                   long argl, void *argp)
{
	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	const cp_tag *t = *from_d;
	if (t == NULL)
		return 1;
	cp_tag *copy = malloc(sizeof *copy);
	if (copy != NULL)
		*copy = *t;
	*from_d = copy; /* no copy: an untagged session, never resumed */
	return 1;
}

static void idx_init(void)
{
	idx_attach = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, attach_free);
	idx_conn = SSL_get_ex_new_index(0, NULL, NULL, conn_dup, conn_free);
	idx_tag = SSL_SESSION_get_ex_new_index(0, NULL, NULL, tag_dup, tag_free);
}

static int indices_ready(void)
{
	return pthread_once(&idx_once, idx_init) == 0 && idx_attach >= 0 && idx_conn >= 0 &&
	       idx_tag >= 0;
}

static cp_attach *attachment(const SSL *ssl)
{
	SSL_CTX *sctx = SSL_get_SSL_CTX(ssl);
	return sctx != NULL ? SSL_CTX_get_ex_data(sctx, idx_attach) : NULL;
}

static cp_conn *conn_get(SSL *ssl)
{
	cp_conn *cn = SSL_get_ex_data(ssl, idx_conn);
	if (cn != NULL)
		return cn;
	cn = calloc(1, sizeof *cn);
	if (cn == NULL)
		return NULL;
	cn->verdict = certpin_verdict_new();
	if (cn->verdict == NULL || !SSL_set_ex_data(ssl, idx_conn, cn)) {
		certpin_verdict_free(cn->verdict);
		free(cn);
		return NULL;
	}
	return cn;
}

/* The connection keeps the snapshot its verdict was made with (owned p). */
static void conn_set_policy(cp_conn *cn, certpin_policy *p)
{
	certpin_policy_free(cn->policy);
	cn->policy = p;
}

/*
 * The name the connection is for: the first host set with SSL_set1_host(),
 * an IP address set that way, or the SNI name. NULL when there is none.
 */
static const char *conn_host(SSL *ssl, char *buf, size_t n)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	if (param != NULL) {
		const char *h = X509_VERIFY_PARAM_get0_host(param, 0);
		if (h != NULL && h[0] != '\0')
			return h;
		char *ip = X509_VERIFY_PARAM_get1_ip_asc(param);
		if (ip != NULL) {
			cp_strlcpy(buf, ip, n);
			OPENSSL_free(ip);
			return buf;
		}
	}
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	return sni != NULL && sni[0] != '\0' ? sni : NULL;
}

/* Records that the session passed the check under generation gen. */
static void tag_session(SSL *ssl, const certpin_ctx *c, uint64_t gen, const char *host)
{
	SSL_SESSION *sess = SSL_get_session(ssl);
	if (sess == NULL)
		return;
	cp_tag *old = SSL_SESSION_get_ex_data(sess, idx_tag);
	cp_tag *t = calloc(1, sizeof *t);
	if (t != NULL) {
		t->ctx_id = cp_ctx_id(c);
		t->generation = gen;
		cp_strlcpy(t->host, host, sizeof t->host);
	}
	/*
	 * Setting fails only when the ex_data slot does not exist yet, and then
	 * there is no old tag either: the session stays untagged, never resumed.
	 */
	if (SSL_SESSION_set_ex_data(sess, idx_tag, t) != 1) {
		free(t);
		return;
	}
	free(old);
}

/*
 * Fails the handshake from the cert verify callback. OpenSSL ignores the
 * callback's 0 when the verify mode is SSL_VERIFY_NONE (invariant 4), and
 * reads the mode only after the callback returns.
 */
static int block(SSL *ssl, X509_STORE_CTX *x)
{
	if (SSL_get_verify_mode(ssl) == SSL_VERIFY_NONE)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL); /* NULL keeps the app's callback */
	X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/*
 * The server's TCP port for a report: from the socket, else the hint the
 * libcurl adapter left (its SSLs read through a BIO of libcurl's), else 0.
 */
static unsigned conn_port(const SSL *ssl, const cp_attach *a)
{
	int fd = SSL_get_fd(ssl);
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&sa, &len) != 0)
		return a->port_hint;
	if (sa.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&sa)->sin_port);
	if (sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&sa)->sin6_port);
	return 0;
}

static int cert_verify_cb(X509_STORE_CTX *x, void *arg)
{
	(void)arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL) {
		X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (SSL_is_server(ssl))
		return X509_verify_cert(x); /* client certificates: not certpin's business */

	cp_attach *a = attachment(ssl);
	cp_conn *cn = conn_get(ssl);
	if (a == NULL || cn == NULL)
		return block(ssl, x);
	cn->checked = 1;
	cn->have_verdict = 1;

	uint64_t gen = 0;
	certpin_policy *p = cp_ctx_snapshot(a->ctx, &gen);
	conn_set_policy(cn, p);
	char ipbuf[64];
	const char *host = conn_host(ssl, ipbuf, sizeof ipbuf);
	certpin_err rc;
	if (p == NULL)
		rc = certpin_verdict_set_failure(cn->verdict, NULL, host, CERTPIN_V_INTERNAL_ERROR,
		                                 "no policy snapshot");
	else if (host == NULL)
		rc =
		    certpin_verdict_set_failure(cn->verdict, p, NULL, CERTPIN_V_INTERNAL_ERROR, "");
	else
		rc = certpin_openssl_verify(
		    p, host, X509_STORE_CTX_get0_cert(x), X509_STORE_CTX_get0_untrusted(x),
		    X509_STORE_CTX_get0_store(x), CERTPIN_TIME_NOW, &cn->verdict);
	/* A switch on the verdict code unless it is a violation to report. */
	if (rc == CERTPIN_OK && cp_verdict_reportable(cn->verdict))
		cp_report_verdict(a->ctx, p, cn->verdict, conn_port(ssl, a));
	if (rc != CERTPIN_OK || p == NULL || !certpin_verdict_allowed(cn->verdict))
		return block(ssl, x);
	tag_session(ssl, a->ctx, gen, certpin_verdict_host(cn->verdict));
	X509_STORE_CTX_set_error(x, X509_V_OK);
	return 1;
}

/*
 * Re-checks the session ssl is about to offer: the full check on the
 * session's peer chain under the current policy, now, for this connection's
 * host, and a tag naming this holder, generation and host. 1 when it may
 * be resumed; the verdict is in cn either way.
 */
static int vet_session(SSL *ssl, const cp_attach *a, cp_conn *cn, SSL_SESSION *sess)
{
	uint64_t gen = 0;
	certpin_policy *p = cp_ctx_snapshot(a->ctx, &gen);
	conn_set_policy(cn, p);
	char ipbuf[64];
	const char *host = conn_host(ssl, ipbuf, sizeof ipbuf);
	X509 *leaf = SSL_SESSION_get0_peer(sess);
	/* s->session->peer_chain: the chain the server sent, leaf included */
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509_STORE *store = NULL;
	if (SSL_get0_verify_cert_store(ssl, &store) != 1 || store == NULL)
		store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));

	if (p == NULL || host == NULL || leaf == NULL) {
		/* a NULL host gets the verdict's own "no host name" reason */
		(void)certpin_verdict_set_failure(
		    cn->verdict, p, host, CERTPIN_V_INTERNAL_ERROR,
		    p == NULL ? "no policy snapshot" : "the session has no peer certificate");
		return 0;
	}
	if (certpin_openssl_verify(p, host, leaf, chain, store, CERTPIN_TIME_NOW, &cn->verdict) !=
	        CERTPIN_OK ||
	    !certpin_verdict_allowed(cn->verdict))
		return 0;

	const cp_tag *t = SSL_SESSION_get_ex_data(sess, idx_tag);
	const char *why = NULL;
	if (t == NULL)
		why = "the session was not made under certpin";
	else if (t->ctx_id != cp_ctx_id(a->ctx))
		why = "the session was made under another certpin_ctx";
	else if (t->generation != gen)
		why = "the session was made under an earlier policy";
	else if (strcmp(t->host, certpin_verdict_host(cn->verdict)) != 0)
		why = "the session was made for another host";
	if (why == NULL)
		return 1;
	(void)certpin_verdict_set_failure(cn->verdict, p, host, CERTPIN_V_INTERNAL_ERROR, why);
	return 0;
}

static void handshake_start(SSL *ssl, const cp_attach *a)
{
	cp_conn *cn = conn_get(ssl);
	if (cn == NULL)
		return; /* the ClientHello hook aborts */
	cn->vetted = NULL;
	cn->checked = 0;
	cn->have_verdict = 0;
	SSL_SESSION *sess = SSL_get_session(ssl);
	if (sess == NULL || !SSL_SESSION_is_resumable(sess))
		return;
	if (vet_session(ssl, a, cn, sess)) {
		cn->vetted = sess;
		cn->checked = 1;
		cn->have_verdict = 1;
		return;
	}
	/*
	 * Drop the session: a full handshake and the full check follow.
	 * SSL_set_session() switches the SSL to its SSL_CTX's method when the
	 * two differ, which must not happen mid-handshake; then the ClientHello
	 * hook aborts instead.
	 */
	if (SSL_get_ssl_method(ssl) == SSL_CTX_get_ssl_method(SSL_get_SSL_CTX(ssl)) &&
	    SSL_set_session(ssl, NULL) == 1)
		return;
	cn->have_verdict = 1;
}

/* A client handshake that finished without a certificate check is unusable. */
static void handshake_done(SSL *ssl)
{
	cp_conn *cn = conn_get(ssl);
	if (cn != NULL) {
		cn->vetted = NULL;
		if (cn->checked)
			return;
		char ipbuf[64];
		cn->have_verdict = 1;
		(void)certpin_verdict_set_failure(cn->verdict, cn->policy,
		                                  conn_host(ssl, ipbuf, sizeof ipbuf),
		                                  CERTPIN_V_INTERNAL_ERROR,
		                                  "the handshake finished without a certificate "
		                                  "check (was the cert verify callback replaced?)");
	}
	SSL_set_verify_result(ssl, X509_V_ERR_APPLICATION_VERIFICATION);
	SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

static void info_cb(const SSL *cssl, int where, int ret)
{
	const cp_attach *a = attachment(cssl);
	if (a == NULL)
		return;
	/* OpenSSL passes its own, mutable SSL as const. */
	SSL *ssl = (SSL *)(uintptr_t)cssl;
	if (!SSL_is_server(cssl) && (where & (SSL_CB_HANDSHAKE_START | SSL_CB_HANDSHAKE_DONE))) {
		if (where & SSL_CB_HANDSHAKE_START)
			handshake_start(ssl, a);
		else
			handshake_done(ssl);
	}
	const cp_conn *cn = SSL_get_ex_data(ssl, idx_conn);
	if (cn != NULL && cn->app_info != NULL)
		cn->app_info(cssl, where, ret);
	else if (a->prev_info != NULL)
		a->prev_info(cssl, where, ret);
}

/*
 * The application replaced certpin's info callback (on the SSL, or on the
 * SSL_CTX after attach). handshake_done() must still run: a handshake with
 * no certificate at all (external PSK, PSK cipher suites) is caught only
 * there. Put certpin's callback back on this SSL, chained to the
 * application's, and reset what handshake_start() would have reset.
 */
static void keep_info_callback(SSL *ssl, cp_conn *cn)
{
	void (*eff)(const SSL *, int, int) = SSL_get_info_callback(ssl);
	if (eff == NULL)
		eff = SSL_CTX_get_info_callback(SSL_get_SSL_CTX(ssl));
	if (eff == info_cb)
		return;
	cn->app_info = eff;
	SSL_set_info_callback(ssl, info_cb);
	cn->vetted = NULL;
	cn->checked = 0;
	cn->have_verdict = 0;
}

/*
 * ClientHello hook (never adds the extension). Backstop for a session that
 * the info callback did not re-check: check it now, abort on failure.
 */
static int hello_cb(SSL *ssl, unsigned int ext_type, unsigned int context,
                    const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx, int *al,
                    void *arg)
{
	(void)ext_type, (void)out, (void)outlen, (void)x, (void)chainidx, (void)arg;
	if ((context & SSL_EXT_CLIENT_HELLO) == 0 || SSL_is_server(ssl))
		return 0;
	const cp_attach *a = attachment(ssl);
	if (a == NULL)
		return 0;
	cp_conn *cn = conn_get(ssl);
	if (cn == NULL) {
		*al = SSL_AD_INTERNAL_ERROR;
		return -1;
	}
	keep_info_callback(ssl, cn);
	SSL_SESSION *sess = SSL_get_session(ssl);
	if (sess == NULL || !SSL_SESSION_is_resumable(sess))
		return 0;
	if (cn->vetted == sess) {
		cn->vetted = NULL; /* a second ClientHello (HelloRetryRequest) checks again */
		return 0;
	}
	cn->have_verdict = 1;
	if (vet_session(ssl, a, cn, sess)) {
		cn->checked = 1;
		return 0;
	}
	SSL_set_verify_result(ssl, X509_V_ERR_APPLICATION_VERIFICATION);
	*al = SSL_AD_HANDSHAKE_FAILURE;
	return -1;
}

certpin_err certpin_openssl_attach(SSL_CTX *sctx, certpin_ctx *c)
{
	if (sctx == NULL || c == NULL)
		return CERTPIN_E_INVALID_ARG;
	if (!indices_ready())
		return CERTPIN_E_INTERNAL;
	if (SSL_CTX_get_ex_data(sctx, idx_attach) != NULL)
		return CERTPIN_E_INVALID_ARG;
	cp_attach *a = calloc(1, sizeof *a);
	if (a == NULL)
		return CERTPIN_E_NOMEM;
	a->prev_info = SSL_CTX_get_info_callback(sctx);
	if (SSL_CTX_add_custom_ext(sctx, CERTPIN_OPENSSL_EXT_TYPE, SSL_EXT_CLIENT_HELLO, hello_cb,
	                           NULL, NULL, NULL, NULL) != 1) {
		free(a);
		ERR_clear_error();
		return CERTPIN_E_INTERNAL;
	}
	/* From here the hook is registered; without the attachment it does nothing. */
	a->ctx = certpin_ctx_ref(c);
	if (SSL_CTX_set_ex_data(sctx, idx_attach, a) != 1) {
		certpin_ctx_free(a->ctx);
		free(a);
		ERR_clear_error();
		return CERTPIN_E_NOMEM;
	}
	SSL_CTX_set_info_callback(sctx, info_cb);
	SSL_CTX_set_cert_verify_callback(sctx, cert_verify_cb, NULL);
	return CERTPIN_OK;
}

certpin_err cp_openssl_set_port_hint(SSL_CTX *sctx, unsigned port)
{
	cp_attach *a = sctx != NULL && indices_ready() ? SSL_CTX_get_ex_data(sctx, idx_attach) : NULL;
	if (a == NULL)
		return CERTPIN_E_INVALID_ARG;
	a->port_hint = port; /* before the SSL_CTX makes SSLs: no reader yet */
	return CERTPIN_OK;
}

const certpin_verdict *certpin_openssl_get_verdict(const SSL *ssl)
{
	if (ssl == NULL || !indices_ready())
		return NULL;
	const cp_conn *cn = SSL_get_ex_data(ssl, idx_conn);
	return cn != NULL && cn->have_verdict ? cn->verdict : NULL;
}
