/*
 * certpin attack: shared declarations of its three parts. attack_pki.c makes
 * the throwaway PKI and the scenarios' chains, attack_run.c serves a chain
 * on 127.0.0.1 while the client under test runs and records what the server
 * saw, cmd_attack.c is the command (options, the battery, the reports).
 */
#ifndef CERTPIN_CLI_ATTACK_H
#define CERTPIN_CLI_ATTACK_H

#include <openssl/ssl.h>
#include <signal.h>
#include <stddef.h>

/* Which certificate the generated policy pins (with a backup key pin). */
enum atk_scope { ATK_SCOPE_LEAF, ATK_SCOPE_INTERMEDIATE, ATK_SCOPE_ROOT };

/* What a scenario's server presents. */
enum {
	ATK_MAX_CHAIN = 4,
};
struct atk_chain {
	X509 *certs[ATK_MAX_CHAIN]; /* owned; leaf first, exactly as sent */
	int n;
	EVP_PKEY *key;   /* owned (a reference); the leaf's private key */
	int legacy_tls;  /* only TLS 1.0 and 1.1 */
	/* a second leaf for the same name with an RSA key (same chain above
	 * it), so that clients offering only RSA suites can connect too */
	X509 *rsa_leaf;
	EVP_PKEY *rsa_key;
};

/* The whole throwaway PKI. Every key and certificate is owned. */
struct atk_pki {
	char host[256];
	EVP_PKEY *root_key, *int_key, *leaf_key, *backup_key;
	X509 *root, *intermediate, *leaf;
	EVP_PKEY *rogue_key, *attacker_key, *fake_int_key, *untrusted_key, *untrusted_int_key,
	    *weak_key, *rsa_leaf_key;
	X509 *rogue, *fake_int, *untrusted_root, *untrusted_int;
	char root_pin[64], int_pin[64], leaf_pin[64], backup_pin[64];
};

/* Makes the PKI for host (a DNS name). 0, or -1 with why. */
int atk_pki_new(struct atk_pki *pki, const char *host, char *why, size_t wn);
void atk_pki_free(struct atk_pki *pki);
/* The chain of scenario `name` (see cmd_attack.c). 0, or -1 with why. */
int atk_chain_make(const struct atk_pki *pki, const char *name, struct atk_chain *c, char *why,
                   size_t wn);
void atk_chain_free(struct atk_chain *c);
/* Writes cafile (legitimate root + rogue root), policy and the rogue CA for
 * mitmproxy (key + certificate in one PEM) into dir. 0, or -1 with why. */
int atk_pki_write(const struct atk_pki *pki, const char *dir, enum atk_scope scope, char *why,
                  size_t wn);
/* Writes a chain (PEM, leaf first) and its key to path and path.key. */
int atk_chain_write(const struct atk_chain *c, const char *path);

/* What the server saw during one scenario. */
struct atk_observation {
	int port;         /* the scenario server's port on 127.0.0.1 */
	int connections;  /* TCP connections accepted */
	int handshakes;   /* TLS handshakes completed */
	int requests;     /* connections that then sent application data */
	int dropped;      /* connections over the server's limit, closed unserved */
	int client_exit;  /* exit status, 128+signal, or -1 when killed at the time limit */
	int timed_out;
	int open_at_kill; /* connections open without a request when the client was killed */
	/* the mitmproxy scenario, from mitmdump's side */
	int mitm_connections, mitm_handshakes, mitm_requests;
	char alert[64];   /* the last alert the client sent, if any */
	char error[160];  /* the last handshake error on the server side */
	char request[120]; /* the first line of the first request */
};

/* How to run one scenario. */
struct atk_run {
	const struct atk_chain *chain; /* what the TLS server presents */
	const char *log_path;          /* the client's stdout and stderr */
	const char *scenario;          /* for the CERTPIN_ATTACK_SCENARIO variable */
	int client_timeout;            /* seconds */
	/* mitmproxy: when set, the client talks to mitmdump in reverse mode in
	 * front of the server; mitm_confdir holds the rogue CA. */
	const char *mitmdump;
	const char *mitm_confdir;
	const char *mitm_log;
	const char *mitm_addon;  /* the addon script recording client events */
	const char *mitm_events; /* where it records them */
};

/* Listens on 127.0.0.1 (port from the kernel): fd and *port, or -1 with why. */
int atk_listen(int *port, char *why, size_t wn);
/* Runs the client against a server presenting run->chain on a new port.
 * fill(arg, port) returns the client's /bin/sh -c command (malloc'd, freed
 * here) for the port the client must use: the server's, or mitmdump's.
 * Sets *obs. 0, or -1 with why (the scenario could not be run). */
int atk_run_scenario(const struct atk_run *run, char *(*fill)(void *arg, int port), void *arg,
                     struct atk_observation *obs, char *why, size_t wn);
/* Kills and reaps every process left over (certpin is a child subreaper). */
void atk_reap_strays(void);

/* Set from a signal handler: stop the client and return at once. */
extern volatile sig_atomic_t atk_interrupted;

#endif
