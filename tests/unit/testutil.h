/* Helpers shared by the unit tests: files, test data, throwaway PKI. */
#ifndef CERTPIN_TESTUTIL_H
#define CERTPIN_TESTUTIL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads a whole file; aborts the test program on failure. Free with free(). */
uint8_t *tu_read_file(const char *path, size_t *len);
/* "$CERTPIN_TESTDATA/<rel>" (static buffer, overwritten per call). */
const char *tu_testdata(const char *rel);
/* A fresh temporary directory (removed by tu_cleanup at exit). */
const char *tu_tmpdir(void);
/* Writes data to "<tmpdir>/<name>" and returns the path (static buffer). */
const char *tu_write_tmp(const char *name, const void *data, size_t len);

/* Key types for tu_key(). */
enum tu_key_type { TU_RSA1024, TU_RSA2048, TU_RSA3072, TU_P256, TU_P384, TU_P521, TU_ED25519, TU_ED448 };
EVP_PKEY *tu_key(enum tu_key_type t);

/*
 * Makes a certificate for `key` named CN=cn, signed by issuer/issuer_key (or
 * self-signed when issuer is NULL). `ca` adds basicConstraints cA=TRUE,
 * otherwise serverAuth EKU; `san` (e.g. "DNS:api.test,IP:127.0.0.1", or
 * NULL) is added either way.
 * Validity: not_before..not_after in seconds since the epoch.
 */
X509 *tu_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
              const char *san, int64_t not_before, int64_t not_after);
/* DER of a certificate (malloc'd). */
uint8_t *tu_der(X509 *x, size_t *len);
/* DER SubjectPublicKeyInfo of a key (malloc'd). */
uint8_t *tu_spki_der(EVP_PKEY *key, size_t *len);
/* "sha256/..." of a key computed independently with OpenSSL (static buffer). */
const char *tu_spki_pin_text(EVP_PKEY *key);

/* "<tmpdir>/<name>" (one of 8 rotating static buffers). */
const char *tu_path(const char *name);
/* Writes certs (and key, if not NULL) as PEM to tu_path(name); aborts on failure. */
void tu_write_pem(const char *name, X509 *const *certs, size_t n, EVP_PKEY *key);

/*
 * Starts `timeout 120 CMD...` (cmd is NULL-terminated), a server that prints
 * "ACCEPT 127.0.0.1:PORT" once it listens on a kernel-chosen loopback port,
 * and returns that port; *pid is the `timeout` process (tu_s_server_stop
 * stops it). Aborts when it exits or does not listen within 10 s.
 */
int tu_listener_start(char *const *cmd, pid_t *pid);

/*
 * Starts `timeout 120 openssl s_server -accept 127.0.0.1:0 ARGS...` (args is
 * NULL-terminated), waits for its "ACCEPT 127.0.0.1:PORT" line and returns
 * the port the kernel chose; *pid is the `timeout` process. Aborts when the
 * server exits or does not listen within 10 s. Loopback only.
 */
int tu_s_server_start(char *const *args, pid_t *pid);
/* s_server -www serving tu_path(cert) with tu_path(key) and, if not NULL, tu_path(chain). */
int tu_s_server_www(const char *cert, const char *key, const char *chain, pid_t *pid);
/* Stops a server started above (SIGTERM, then reaps it); sets *pid to 0. */
void tu_s_server_stop(pid_t *pid);

#endif
