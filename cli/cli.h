/* certpin command-line tool: shared declarations. Public API only. */
#ifndef CERTPIN_CLI_H
#define CERTPIN_CLI_H

#include <openssl/ssl.h>
#include <pthread.h>

#include "certpin/certpin.h"
#include <stdio.h>
#include <time.h>

/* Exit codes (ARCHITECTURE.md, "Command line"). */
enum {
	EXIT_ALLOWED = 0,
	EXIT_BLOCKED = 1,     /* blocked by pinning; lint: errors */
	EXIT_VALIDATION = 2,  /* certificate validation failed */
	EXIT_CONNECTION = 3,  /* connection/TLS error */
	EXIT_INPUT = 4,       /* policy error, unreadable input */
	EXIT_USAGE = 64,
};

/* Each subcommand: argv[0] is the subcommand name. Returns the exit code. */
int cmd_pin(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_lint(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_attack(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bundle(int argc, char **argv);

/* ---- connections (cli/net.c) ---- */
/* "name", "name:443", "[::1]:443", "::1" into host and port (default 443 unless
 * need_port). 0 or -1. */
int cli_parse_hostport(const char *in, int need_port, char *host, size_t hn, char *port, size_t pn);
/* A monotonic deadline `seconds` from now. */
void cli_deadline(struct timespec *d, int seconds);
/* Non-blocking TCP connection to addr:port by the deadline; fd or -1 with why. */
int cli_connect(const char *addr, const char *port, const struct timespec *deadline, char *why,
                size_t wn);
/* After an SSL call returned ret: waits for the socket. 0 retry, -1 error, -2 timeout. */
int cli_tls_wait(SSL *ssl, int ret, const struct timespec *deadline);
/* SSL_connect until done: 0, -1 TLS error, -2 timeout. */
int cli_handshake(SSL *ssl, const struct timespec *deadline);
/* HOST[:PORT] and --connect ADDR:PORT of probe and check. */
struct cli_target {
	char host[300], port[8];              /* as given (port defaults to 443) */
	char addr[300], aport[8];             /* where to connect */
	char name[CERTPIN_HOST_MAX + 1];      /* normalised host: SNI, name checks, policy */
	int is_ip;
};
/* Fills t; on a bad argument prints "certpin: CMD: ..." and returns EXIT_USAGE. */
int cli_target_parse(const char *cmd, const char *hostport, const char *connect_to,
                     struct cli_target *t);
/* CA file, or the system trust store; on failure prints and returns EXIT_INPUT. */
int cli_load_trust(SSL_CTX *ctx, const char *cmd, const char *cafile);
/* Certificates of a PEM/DER file: the first as *leaf, the rest as *rest.
 * On failure prints "certpin: ..." and returns -1. */
int cli_load_chain(const char *path, X509 **leaf, STACK_OF(X509) **rest);
/* OpenSSL's last error as text (cleared afterwards). */
void cli_openssl_error(char *buf, size_t n);

/* Exit code of a verdict (the `check` row of ARCHITECTURE.md's table). */
int cli_verdict_exit(certpin_verdict_code c);
/* The verdict's message and a "verdict: NAME" line, or JSON, on stdout. */
void cli_print_verdict(const certpin_verdict *v, int json);

/* ---- --report-to FILE (cli/reports.c) ---- */
struct certpin_reporter;
struct cli_reports {
	struct certpin_reporter *r; /* NO_SEND: reports only reach the callback */
	pthread_mutex_t mu;
	char **v; /* JSON of each report */
	size_t n, cap, lost;
};
/* Starts the reporter; 0, or an exit code after printing why. */
int cli_reports_begin(struct cli_reports *cr, const char *cmd);
/* Waits for the reports and writes them to path (object, array, or []). 0 or EXIT_INPUT. */
int cli_reports_write(struct cli_reports *cr, const char *cmd, const char *path);
void cli_reports_end(struct cli_reports *cr);

/* Prints "certpin: " + message + newline to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a JSON string literal (with quotes and escapes) to f. */
void cli_json_string(FILE *f, const char *s);

#endif
