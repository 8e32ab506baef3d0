/*
 * certpin benchmarks (make bench). Every figure is a median over batches,
 * measured side by side in one run so ratios compare like with like.
 *
 *  1. Evaluation of a 3-certificate chain (RSA-2048 and P-256) against the
 *     floor: SHA-256 over the same SPKI bytes with the same hash function, and
 *     a naive path (i2d_X509_PUBKEY into a fresh allocation, then EVP_Digest
 *     with EVP_sha256()) for reference.
 *  2. Host lookup with 10 / 10,000 / 100,000 rules.
 *  3. Load time and memory of a 100,000-rule policy (JSON in memory).
 *  4. Full TLS 1.3 handshakes on loopback: OpenSSL vs certpin vs libcurl
 *     pinning (bench_handshake.c).
 *  5. Handshake latency with violation reports going to a broken collector
 *     (bench_handshake.c, bench_reports).
 * `certpin_bench --handshakes` runs only 4, `--reports` only 5; `--callgrind` and
 * `--callgrind-handshake` are for valgrind (docs/benchmarks.md).
 */
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "internal.h"

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#define BATCHES 201

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return v[n / 2];
}

static volatile uint8_t sink;

/* ---- a throwaway chain ------------------------------------------------------ */

static EVP_PKEY *keygen(int rsa)
{
	return rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	           : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, int ca)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1 + (long)(rand() % 100000));
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"certpin bench",
	                           -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, key);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	                                        ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (!ca) {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:api.bench.test");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, issuer ? ikey : key, EVP_sha256());
	return x;
}

/*
 * Under callgrind (`certpin_bench --callgrind`), the two loops below run a
 * fixed number of times so their inclusive instruction counts compare the
 * evaluation with its floor exactly, free of timer noise.
 */
enum { CG_ITERS = 1000 };
static int callgrind_mode;

__attribute__((noinline)) static void cg_evaluate_loop(const certpin_policy *pol,
                                                       const certpin_der *chain, int64_t t,
                                                       certpin_verdict **v)
{
	for (int i = 0; i < CG_ITERS; i++)
		if (certpin_evaluate(pol, "api.bench.test", chain, 3, t, v) != CERTPIN_OK)
			exit(1);
}

__attribute__((noinline)) static void cg_floor_loop(const cp_cert_view *views)
{
	uint8_t h[32];
	for (int i = 0; i < CG_ITERS; i++)
		for (int c = 0; c < 3; c++) {
			if (cp_sha256(views[c].spki.p, views[c].spki.n, h) != 0)
				exit(1);
			sink ^= h[0];
		}
}

static void bench_chain(int rsa)
{
	EVP_PKEY *rk = keygen(rsa), *ik = keygen(rsa), *lk = keygen(rsa), *bk = keygen(rsa);
	X509 *root = mkcert(rk, "Bench Root", NULL, NULL, 1);
	X509 *inter = mkcert(ik, "Bench Issuing CA", root, rk, 1);
	X509 *leaf = mkcert(lk, "api.bench.test", inter, ik, 0);
	X509 *xs[3] = {leaf, inter, root};
	certpin_der chain[3];
	unsigned char *ders[3];
	cp_cert_view views[3];
	for (int i = 0; i < 3; i++) {
		ders[i] = NULL;
		int n = i2d_X509(xs[i], &ders[i]);
		chain[i].der = ders[i];
		chain[i].len = (size_t)n;
		if (cp_der_cert_view(ders[i], (size_t)n, &views[i]) != CERTPIN_OK) {
			fprintf(stderr, "bench: DER walk failed\n");
			exit(1);
		}
	}

	/* Policy: the intermediate's pin and a backup pin (the usual set-up). */
	certpin_pin ipin, bpin;
	unsigned char *spki = NULL;
	int sl = i2d_PUBKEY(bk, &spki);
	if (certpin_pin_spki_from_cert_der(chain[1].der, chain[1].len, &ipin) != CERTPIN_OK ||
	    certpin_pin_spki_from_spki_der(spki, (size_t)sl, &bpin) != CERTPIN_OK) {
		fprintf(stderr, "bench: pin computation failed\n");
		exit(1);
	}
	OPENSSL_free(spki);
	char p1[CERTPIN_PIN_STRLEN], p2[CERTPIN_PIN_STRLEN];
	certpin_pin_format(&ipin, p1, sizeof p1);
	certpin_pin_format(&bpin, p2, sizeof p2);
	const char *pins[] = {p2, p1};
	certpin_rule_spec spec = {0};
	spec.host = "api.bench.test";
	spec.pins = pins;
	spec.n_pins = 2;
	certpin_builder *b = certpin_builder_new(NULL);
	certpin_policy *pol = NULL;
	certpin_error err;
	if (b == NULL || certpin_builder_add_rule(b, &spec, &err) != CERTPIN_OK ||
	    certpin_builder_finish(b, 0, &pol, NULL, &err) != CERTPIN_OK) {
		fprintf(stderr, "bench: policy: %s\n", err.message);
		exit(1);
	}

	certpin_verdict *v = NULL;
	int64_t t = (int64_t)time(NULL);
	if (certpin_evaluate(pol, "api.bench.test", chain, 3, t, &v) != CERTPIN_OK ||
	    certpin_verdict_get_code(v) != CERTPIN_V_PINNED) {
		fprintf(stderr, "bench: evaluation did not pin\n");
		exit(1);
	}

	if (callgrind_mode) {
		cg_evaluate_loop(pol, chain, t, &v);
		cg_floor_loop(views);
		printf("%s: ran %d evaluations and %d x 3 floor hashes for callgrind\n",
		       rsa ? "RSA-2048" : "P-256", CG_ITERS, CG_ITERS);
		goto done;
	}

	const int iters = 2000;
	double ev[BATCHES], fl[BATCHES], nv[BATCHES];
	uint8_t h[32];
	const EVP_MD *md = EVP_sha256();
	for (int bt = 0; bt < BATCHES; bt++) {
		/* interleaved: evaluate, floor, naive in every batch */
		double s = now_ns();
		for (int i = 0; i < iters; i++)
			if (certpin_evaluate(pol, "api.bench.test", chain, 3, t, &v) != CERTPIN_OK)
				exit(1);
		ev[bt] = (now_ns() - s) / iters;

		s = now_ns();
		for (int i = 0; i < iters; i++)
			for (int c = 0; c < 3; c++) {
				if (cp_sha256(views[c].spki.p, views[c].spki.n, h) != 0)
					exit(1);
				sink ^= h[0];
			}
		fl[bt] = (now_ns() - s) / iters;

		s = now_ns();
		for (int i = 0; i < iters; i++)
			for (int c = 0; c < 3; c++) {
				unsigned char *der = NULL;
				int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(xs[c]), &der);
				unsigned int hl = 0;
				EVP_Digest(der, (size_t)n, h, &hl, md, NULL);
				OPENSSL_free(der);
				sink ^= h[0];
			}
		nv[bt] = (now_ns() - s) / iters;
	}
	double e = median(ev, BATCHES), f = median(fl, BATCHES), n = median(nv, BATCHES);
	printf("evaluate, 3-cert %-8s chain: %7.1f ns median | floor (SHA-256 of 3 SPKIs): %7.1f ns"
	       " | ratio %.2fx | naive i2d+EVP_Digest: %7.1f ns (%.2fx floor)\n",
	       rsa ? "RSA-2048" : "P-256", e, f, e / f, n, n / f);

done:
	certpin_verdict_free(v);
	certpin_policy_free(pol);
	for (int i = 0; i < 3; i++) {
		OPENSSL_free(ders[i]);
		X509_free(xs[i]);
	}
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(bk);
}

/* ---- lookup ------------------------------------------------------------------- */

static const char *const PIN_A = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
static const char *const PIN_B = "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";

/* JSON text of a policy with n rules: a third exact, a third "*.", a third "**.". */
static char *policy_json(size_t n, size_t *len)
{
	size_t cap = 256 + n * 200;
	char *s = malloc(cap);
	size_t o = (size_t)snprintf(s, cap, "{\"certpin\":1,\"domains\":[");
	for (size_t i = 0; i < n; i++) {
		const char *pre = (i % 3 == 0) ? "" : (i % 3 == 1) ? "*." : "**.";
		o += (size_t)snprintf(s + o, cap - o,
		                      "%s{\"host\":\"%sh%zu.svc%zu.example.com\",\"pins\":[\"%s\",\"%s\"],"
		                      "\"expires\":\"2030-01-01\"}",
		                      i ? "," : "", pre, i, i % 97, PIN_A, PIN_B);
	}
	o += (size_t)snprintf(s + o, cap - o, "]}");
	*len = o;
	return s;
}

static certpin_policy *load_json(const char *json, size_t len)
{
	certpin_policy *p = NULL;
	certpin_error err;
	if (certpin_policy_load_mem(json, len, "bench", NULL, 0, &p, NULL, &err) != CERTPIN_OK) {
		fprintf(stderr, "bench: load: %s: %s\n", err.path, err.message);
		exit(1);
	}
	return p;
}

static void bench_lookup(size_t n)
{
	size_t len;
	char *json = policy_json(n, &len);
	certpin_policy *p = load_json(json, len);
	free(json);

	/* Queries: exact hits, one-label wildcard hits, deep subtree hits, misses. */
	enum { NQ = 1024 };
	char (*q)[96] = malloc(sizeof(*q) * NQ);
	for (size_t i = 0; i < NQ; i++) {
		/* base: an exact rule; base + 1: a "*." rule; base + 2: a "**." rule */
		size_t r = ((size_t)rand() * 2654435761u) % (n - 2);
		size_t base = r - r % 3;
		switch (i % 4) {
		case 0:
			snprintf(q[i], sizeof q[i], "h%zu.svc%zu.example.com", base, base % 97);
			break;
		case 1:
			snprintf(q[i], sizeof q[i], "api.h%zu.svc%zu.example.com", base + 1,
			         (base + 1) % 97);
			break;
		case 2:
			snprintf(q[i], sizeof q[i], "a.b.c.h%zu.svc%zu.example.com", base + 2,
			         (base + 2) % 97);
			break;
		default:
			snprintf(q[i], sizeof q[i], "www.nowhere%zu.example.org", r);
			break;
		}
	}
	double m[BATCHES];
	size_t hits = 0;
	for (int bt = 0; bt < BATCHES; bt++) {
		double s = now_ns();
		for (size_t i = 0; i < NQ; i++)
			hits += certpin_policy_lookup(p, q[i]) != NULL;
		m[bt] = (now_ns() - s) / NQ;
	}
	printf("lookup, %6zu rules: %6.1f ns median per lookup (normalise + index; %zu%% hits)\n", n,
	       median(m, BATCHES), hits * 100 / ((size_t)BATCHES * NQ));
	free(q);
	certpin_policy_free(p);
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/*
 * Bytes the heap hands out: arena chunks in use plus mmap()ed chunks (glibc
 * serves large blocks, such as the rules array, with mmap; uordblks alone
 * would miss them).
 */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* In a child process, so the peak RSS belongs to this measurement alone. */
static void bench_load(size_t n)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		size_t len;
		char *json = policy_json(n, &len);
		long before = maxrss_kb();
		double times[5];
		for (int i = 0; i < 5; i++) {
			size_t heap_before = heap_in_use();
			double s = now_ns();
			certpin_policy *p = load_json(json, len);
			times[i] = (now_ns() - s) / 1e6;
			if (i == 4) {
				/* the policy is still alive: what it holds, not the peak */
				size_t heap_after = heap_in_use();
				double retained = heap_after > heap_before
				                      ? (double)(heap_after - heap_before)
				                      : 0.0;
				long after = maxrss_kb();
				printf(
				    "load %zu rules (%.1f MiB of JSON, jansson + build + index): ",
				    n, (double)len / 1048576.0);
				printf("%.1f ms median of 5 | retained %.1f MiB | ",
				       median(times, 5), retained / 1048576.0);
				printf("peak RSS growth %.1f MiB | index %.1f MiB\n",
				       (double)(after - before) / 1024.0,
				       (double)cp_index_memory(p->index) / 1048576.0);
			}
			certpin_policy_free(p);
		}
		free(json);
		fflush(stdout);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench: load child failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	srand(12345);
	if (argc > 1 && strcmp(argv[1], "--callgrind") == 0) {
		callgrind_mode = 1;
		bench_chain(1);
		bench_chain(0);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--callgrind-handshake") == 0)
		return bench_handshakes_callgrind();
	if (argc > 1 && strcmp(argv[1], "--handshakes") == 0)
		return bench_handshakes();
	if (argc > 1 && strcmp(argv[1], "--reports") == 0)
		return bench_reports();
	printf("certpin %s benchmarks (%s)\n", certpin_version(), OpenSSL_version(OPENSSL_VERSION));
	bench_chain(1);
	bench_chain(0);
	bench_lookup(10);
	bench_lookup(10000);
	bench_lookup(100000);
	bench_load(100000);
	int failed = bench_handshakes();
	return bench_reports() || failed;
}
