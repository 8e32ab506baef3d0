#include "testutil.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir_path[256];

static void tu_cleanup(void)
{
	if (tmpdir_path[0] != '\0') {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
		if (system(cmd) != 0)
			fprintf(stderr, "testutil: could not remove %s\n", tmpdir_path);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "testutil: %s\n", what);
	abort();
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "testutil: cannot open %s\n", path);
		abort();
	}
	size_t cap = 65536, n = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		die("out of memory");
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		if (buf == NULL)
			die("out of memory");
	}
	fclose(f);
	*len = n;
	return buf;
}

const char *tu_testdata(const char *rel)
{
	static char path[1024];
	const char *base = getenv("CERTPIN_TESTDATA");
	if (base == NULL)
		base = "../shared/testdata";
	snprintf(path, sizeof path, "%s/%s", base, rel);
	return path;
}

const char *tu_tmpdir(void)
{
	if (tmpdir_path[0] == '\0') {
		snprintf(tmpdir_path, sizeof tmpdir_path, "/tmp/certpin-test-XXXXXX");
		if (mkdtemp(tmpdir_path) == NULL)
			die("mkdtemp failed");
		atexit(tu_cleanup);
	}
	return tmpdir_path;
}

const char *tu_write_tmp(const char *name, const void *data, size_t len)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len)
		die("cannot write temporary file");
	fclose(f);
	return path;
}

EVP_PKEY *tu_key(enum tu_key_type t)
{
	EVP_PKEY *k = NULL;
	switch (t) {
	case TU_RSA1024:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
		break;
	case TU_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case TU_RSA3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case TU_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case TU_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case TU_P521:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	case TU_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case TU_ED448:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
		break;
	default:
		break;
	}
	if (k == NULL)
		die("key generation failed");
	return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		die("cannot add extension");
	X509_EXTENSION_free(ext);
}

X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
              const char *san, int64_t not_before, int64_t not_after)
{
	static long serial = 1000;
	X509 *x = X509_new();
	if (x == NULL)
		die("X509_new");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after);
	X509_set_pubkey(x, key);
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (ca) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
		if (san != NULL)
			add_ext(x, issuer, NID_subject_alt_name, san);
	} else {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
		if (san != NULL)
			add_ext(x, issuer, NID_subject_alt_name, san);
	}
	EVP_PKEY *signer = issuer ? issuer_key : key;
	int id = EVP_PKEY_get_base_id(signer);
	const EVP_MD *md = (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) ? NULL : EVP_sha256();
	if (X509_sign(x, signer, md) <= 0)
		die("X509_sign");
	return x;
}

uint8_t *tu_der(X509 *x, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);
	if (n <= 0)
		die("i2d_X509");
	uint8_t *out = malloc((size_t)n);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return out;
}

uint8_t *tu_spki_der(EVP_PKEY *key, size_t *len)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(key, &p);
	if (n <= 0)
		die("i2d_PUBKEY");
	uint8_t *out = malloc((size_t)n);
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return out;
}

const char *tu_spki_pin_text(EVP_PKEY *key)
{
	static char text[64];
	size_t n;
	uint8_t *spki = tu_spki_der(key, &n);
	unsigned char md[32];
	unsigned int mdlen = 0;
	if (!EVP_Digest(spki, n, md, &mdlen, EVP_sha256(), NULL))
		die("EVP_Digest");
	free(spki);
	memcpy(text, "sha256/", 7);
	EVP_EncodeBlock((unsigned char *)text + 7, md, 32);
	return text;
}

const char *tu_path(const char *name)
{
	static char bufs[8][512];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", tu_tmpdir(), name);
	return b;
}

void tu_write_pem(const char *name, X509 *const *certs, size_t n, EVP_PKEY *key)
{
	FILE *f = fopen(tu_path(name), "w");
	if (f == NULL)
		die("cannot write PEM file");
	for (size_t i = 0; i < n; i++)
		if (PEM_write_X509(f, certs[i]) != 1)
			die("PEM_write_X509");
	if (key != NULL && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1)
		die("PEM_write_PrivateKey");
	fclose(f);
}

int tu_listener_start(char *const *cmd, pid_t *pidp)
{
	char out[600];
	static unsigned serial;
	snprintf(out, sizeof out, "%s/listener.%d.%u.out", tu_tmpdir(), (int)getpid(), serial++);
	unlink(out);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_RDWR);
		if (fd < 0 || nul < 0)
			_exit(126);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(nul, 2);
		char *argv[40];
		int i = 0;
		argv[i++] = (char *)(uintptr_t) "timeout";
		argv[i++] = (char *)(uintptr_t) "120";
		for (int k = 0; cmd[k] != NULL && i < 39; k++)
			argv[i++] = cmd[k];
		argv[i] = NULL;
		execvp("timeout", argv);
		_exit(127);
	}
	*pidp = pid;
	/* The server prints "ACCEPT 127.0.0.1:PORT" once it listens. */
	for (int tries = 0; tries < 200; tries++) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			*pidp = 0;
			die("the server exited before listening");
		}
		FILE *f = fopen(out, "r");
		char line[256];
		while (f != NULL && fgets(line, sizeof line, f) != NULL) {
			unsigned port = 0;
			if (sscanf(line, "ACCEPT 127.0.0.1:%u", &port) == 1 && port > 0 &&
			    port < 65536) {
				fclose(f);
				return (int)port;
			}
		}
		if (f != NULL)
			fclose(f);
		usleep(50000);
	}
	tu_s_server_stop(pidp);
	die("the server did not listen within 10 s");
	return 0;
}

int tu_s_server_start(char *const *args, pid_t *pidp)
{
	char *cmd[32];
	int i = 0;
	cmd[i++] = (char *)(uintptr_t) "openssl";
	cmd[i++] = (char *)(uintptr_t) "s_server";
	cmd[i++] = (char *)(uintptr_t) "-accept";
	cmd[i++] = (char *)(uintptr_t) "127.0.0.1:0";
	for (int k = 0; args[k] != NULL && i < 31; k++)
		cmd[i++] = args[k];
	cmd[i] = NULL;
	return tu_listener_start(cmd, pidp);
}

int tu_s_server_www(const char *cert, const char *key, const char *chain, pid_t *pid)
{
	char cert_p[600], key_p[600], chain_p[600];
	snprintf(cert_p, sizeof cert_p, "%s", tu_path(cert));
	snprintf(key_p, sizeof key_p, "%s", tu_path(key));
	snprintf(chain_p, sizeof chain_p, "%s", chain ? tu_path(chain) : "");
	char *args[] = {(char *)(uintptr_t) "-www", (char *)(uintptr_t) "-cert", cert_p,
	                (char *)(uintptr_t) "-key", key_p,
	                chain ? (char *)(uintptr_t) "-cert_chain" : NULL, chain_p, NULL};
	return tu_s_server_start(args, pid);
}

void tu_s_server_stop(pid_t *pid)
{
	if (*pid > 0) {
		int st;
		kill(*pid, SIGTERM);
		while (waitpid(*pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	*pid = 0;
}
