/*
 * certpin bundle: signed pin bundles (include/certpin/certpin_bundle.h).
 *
 *   keygen      a P-256 (ES256) or Ed25519 (EdDSA) signing key, mode 0600
 *   sign        a policy plus seq/iat/exp/aud/signers into a JWS
 *   verify      what an app's updater would accept, and why not
 *   inspect     header and payload of any bundle, NOT verified
 *   add-domain  probe a host and add a rule with its current pins
 *
 * Keys are generated with OpenSSL; everything certpin-specific (kids,
 * signing, verification, policies) goes through the public API. The JSON
 * of inspect and add-domain is handled with jansson, which the CLI already
 * links through the converters.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certpin/certpin.h"
#include "certpin/certpin_bundle.h"
#include "cli.h"

/* Caps on what the subcommands read (the library caps the bundle itself). */
#define KEY_FILE_MAX (64u * 1024u)
#define DEFAULT_TTL (30L * 86400L)
#define MAX_TTL (3650LL * 86400LL)
#define PROBE_TIMEOUT 10

static void bundle_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin bundle keygen --out KEY [--alg ES256|EdDSA]\n"
	        "       certpin bundle sign --key KEY --policy POLICY --seq N [--ttl 30d] [--aud ID]\n"
	        "                           [--signer PUB.pem ...] -o BUNDLE\n"
	        "       certpin bundle verify --pub PUB.pem [--pub ...] [--aud ID] [--at TIME] BUNDLE\n"
	        "       certpin bundle inspect BUNDLE\n"
	        "       certpin bundle add-domain --policy POLICY [--connect ADDR:PORT] [--cafile CA]\n"
	        "                           [--scope leaf|intermediate] HOST[:PORT]\n"
	        "\n"
	        "Signed pin bundles: a certpin policy plus the claims seq, iat, exp, aud and\n"
	        "signers, as a JWS (compact serialization) signed with ES256 or EdDSA; the\n"
	        "header's kid is the RFC 7638 thumbprint of the signing key. Apps fetch them\n"
	        "with the certpin updater. 'certpin bundle SUBCOMMAND --help' for details.\n"
	        "\n"
	        "exit: 0 done or valid, 1 invalid bundle (bad signature, expired, ...),\n"
	        "      2/3 (add-domain) validation or connection failed, 4 unreadable input,\n"
	        "      64 usage\n");
}

static void keygen_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin bundle keygen --out KEY [--alg ES256|EdDSA]\n"
	        "\n"
	        "Generates a bundle signing key and writes it to KEY as a PKCS#8 PEM private\n"
	        "key, created with mode 0600 (an existing KEY is never overwritten). Prints\n"
	        "the public key PEM (give it to apps and to 'certpin bundle verify --pub')\n"
	        "and its kid, the RFC 7638 JWK SHA-256 thumbprint bundle headers name.\n"
	        "\n"
	        "  --out FILE    where to write the private key (must not exist)\n"
	        "  --alg ALG     ES256 (ECDSA P-256, the default; works everywhere, also in\n"
	        "                hardware keys) or EdDSA (Ed25519)\n"
	        "\n"
	        "exit: 0 written, 4 cannot write KEY (exists, no permission), 64 usage\n");
}

static void sign_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin bundle sign --key KEY --policy POLICY --seq N [--ttl 30d] [--aud ID]\n"
	        "                           [--signer PUB.pem ...] -o BUNDLE\n"
	        "\n"
	        "Signs POLICY (a certpin policy JSON without pin_files and without the claim\n"
	        "names) into BUNDLE, written atomically (temporary file, then rename).\n"
	        "\n"
	        "  --key FILE      private key (PEM; P-256 signs ES256, Ed25519 signs EdDSA)\n"
	        "  --policy FILE   the policy to publish\n"
	        "  --seq N         1..2^53-1; must be above every seq published before\n"
	        "  --ttl T         lifetime: N followed by s, m, h or d (default 30d);\n"
	        "                  iat is now, exp is now + T\n"
	        "  --aud ID        the application the bundle is for\n"
	        "  --signer FILE   a public key that may sign the next bundles (repeatable):\n"
	        "                  the \"signers\" claim, for rotating the signing key\n"
	        "  -o FILE         where to write the bundle\n"
	        "\n"
	        "exit: 0 written, 4 unreadable or unusable key, policy or signer, or cannot\n"
	        "      write BUNDLE, 64 usage\n");
}

static void verify_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin bundle verify --pub PUB.pem [--pub ...] [--aud ID] [--at TIME] BUNDLE\n"
	        "\n"
	        "Verifies BUNDLE as an app would: structure, header (alg ES256 or EdDSA, kid,\n"
	        "typ), the signature by the trusted key the kid names, the claims (exp, aud),\n"
	        "then the policy. Prints seq, iat, exp, aud, kid, alg and the rule count when\n"
	        "valid; otherwise one line 'certpin: BUNDLE: reason' on stderr.\n"
	        "\n"
	        "  --pub FILE   a trusted signer public key (PEM; repeatable, at most 16)\n"
	        "  --aud ID     require this aud claim\n"
	        "  --at TIME    RFC 3339 time or YYYY-MM-DD to check exp against (default: now)\n"
	        "\n"
	        "exit: 0 valid, 1 invalid for any reason, 4 unreadable BUNDLE or key, 64 usage\n");
}

static void inspect_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin bundle inspect BUNDLE\n"
	        "\n"
	        "Decodes BUNDLE and prints its header and payload as indented JSON WITHOUT\n"
	        "verifying anything: the output is labelled UNVERIFIED. Use 'certpin bundle\n"
	        "verify' to know whether an app would accept it.\n"
	        "\n"
	        "exit: 0 decoded, 1 not a JWS in compact serialization, 4 unreadable, 64 usage\n");
}

static void add_domain_usage(FILE *f)
{
	fprintf(f,
	        "usage: certpin bundle add-domain --policy POLICY [--connect ADDR:PORT] [--cafile CA]\n"
	        "                                 [--scope leaf|intermediate] HOST[:PORT]\n"
	        "\n"
	        "Handshakes with HOST, validates its chain, and adds a rule for HOST to POLICY\n"
	        "(created if missing) whose pins are the current ones at the chosen scope.\n"
	        "The result is checked to load before it replaces POLICY (atomically). A host\n"
	        "that already has a rule is refused. Add a backup pin before publishing: a\n"
	        "rule with one pin locks clients out when that key changes.\n"
	        "\n"
	        "  --policy FILE        the policy to edit (rewritten with 2-space indentation)\n"
	        "  --connect ADDR:PORT  connect there but keep HOST for SNI and name checks\n"
	        "  --cafile FILE        trust anchors (replaces the system trust store)\n"
	        "  --scope S            leaf: the server's own key (the default);\n"
	        "                       intermediate: the issuing CA's key(s)\n"
	        "\n"
	        "exit: 0 added, 2 certificate validation failed, 3 connection/TLS error,\n"
	        "      4 unreadable or invalid policy, host already pinned, cannot write,\n"
	        "      64 usage\n");
}

/* ---- helpers ---------------------------------------------------------------- */

static void print_err(const certpin_error *err)
{
	char line[1024];
	certpin_error_format(err, line, sizeof line);
	cli_error("%s", line);
}

/* Reads a whole file of at most cap bytes (NUL-terminated, malloc'd). A file
 * over cap yields cap + 1 bytes so the caller's own check can refuse it.
 * Returns 0, or -1 after printing why. */
static int read_file(const char *path, size_t cap, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = malloc(cap + 2);
	if (buf == NULL) {
		fclose(f);
		cli_error("out of memory");
		return -1;
	}
	size_t n = 0;
	while (n < cap + 1) {
		size_t got = fread(buf + n, 1, cap + 1 - n, f);
		if (got == 0)
			break;
		n += got;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		cli_error("%s: read error", path);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static void wipe_free(char *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

/* Writes data to path atomically: a temporary file beside it, then rename.
 * mode is applied to the new file. Returns 0, or -1 after printing why. */
static int write_atomic(const char *path, const char *data, size_t n, mode_t mode,
                        char *tmp_out, size_t tmp_n, int keep_tmp)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp) {
		cli_error("%s: path too long", path);
		return -1;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		cli_error("%s: %s", path, strerror(errno));
		return -1;
	}
	int ok = fchmod(fd, mode) == 0;
	size_t off = 0;
	while (ok && off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			ok = 0;
		else
			off += (size_t)w;
	}
	ok = ok && fsync(fd) == 0;
	int saved = errno;
	ok = (close(fd) == 0) && ok;
	if (!ok) {
		cli_error("%s: %s", path, strerror(saved ? saved : errno));
		unlink(tmp);
		return -1;
	}
	if (keep_tmp) {
		/* the caller checks the temporary file, then renames it */
		snprintf(tmp_out, tmp_n, "%s", tmp);
		return 0;
	}
	if (rename(tmp, path) != 0) {
		cli_error("%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static mode_t default_mode(void)
{
	mode_t um = umask(0);
	umask(um);
	return (mode_t)(0666 & ~um);
}

static void time_text(int64_t t, char *buf, size_t n)
{
	if (certpin_time_format(t, buf, n) == 0)
		snprintf(buf, n, "?");
}

/* Adds a PEM public key file to ks. Returns 0, or the exit code after printing. */
static int add_key_file(certpin_keyset *ks, const char *path, const char *what, char *kid)
{
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc = certpin_keyset_add_file(ks, path, kid, &err);
	if (rc == CERTPIN_OK)
		return 0;
	if (rc == CERTPIN_E_DUPLICATE) {
		cli_error("%s %s: the same key is given twice", what, path);
		return EXIT_USAGE;
	}
	char line[1024];
	certpin_error_format(&err, line, sizeof line);
	if (strncmp(line, path, strlen(path)) == 0)
		cli_error("%s", line);
	else
		cli_error("%s: %s", path, line);
	return rc == CERTPIN_E_TOO_LARGE && certpin_keyset_count(ks) >= 16 ? EXIT_USAGE
	                                                                  : EXIT_INPUT;
}

/* Unknown option: the one-line message every subcommand gives. */
static int bad_option(const char *sub, const char *arg)
{
	cli_error("bundle %s: unknown or incomplete option '%s' (see 'certpin bundle %s --help')",
	          sub, arg, sub);
	return EXIT_USAGE;
}

/* ---- keygen --------------------------------------------------------------------- */

static int bundle_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{"out", required_argument, NULL, 'o'},
		{"alg", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL, *alg = "ES256";
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'a':
			alg = optarg;
			break;
		case 'h':
			keygen_usage(stdout);
			return 0;
		default:
			return bad_option("keygen", argv[optind - 1]);
		}
	}
	if (out == NULL || optind != argc) {
		cli_error("bundle keygen: needs --out KEY and nothing else (see 'certpin bundle "
		          "keygen --help')");
		return EXIT_USAGE;
	}
	int ed = 0;
	if (strcmp(alg, "EdDSA") == 0 || strcmp(alg, "Ed25519") == 0) {
		ed = 1;
	} else if (strcmp(alg, "ES256") != 0) {
		cli_error("bundle keygen: --alg must be ES256 or EdDSA, not '%s'", alg);
		return EXIT_USAGE;
	}

	int ret = EXIT_INPUT, fd = -1;
	EVP_PKEY *pk = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
	                  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
	certpin_keyset *ks = certpin_keyset_new();
	char why[256];
	if (pk == NULL || priv == NULL || pub == NULL || ks == NULL ||
	    PEM_write_bio_PKCS8PrivateKey(priv, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_PUBKEY(pub, pk) != 1) {
		cli_openssl_error(why, sizeof why);
		cli_error("bundle keygen: key generation failed: %s", why);
		goto out;
	}
	char *pub_pem = NULL, *priv_pem = NULL;
	long pub_len = BIO_get_mem_data(pub, &pub_pem);
	long priv_len = BIO_get_mem_data(priv, &priv_pem);
	char kid[CERTPIN_KID_STRLEN];
	certpin_error err;
	if (pub_len <= 0 || priv_len <= 0 ||
	    certpin_keyset_add_pem(ks, pub_pem, (size_t)pub_len, kid, &err) != CERTPIN_OK) {
		cli_error("bundle keygen: cannot compute the key's kid");
		goto out;
	}
	/* O_EXCL: never replace a key (or follow a link planted where it goes) */
	fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			cli_error("%s: already exists; refusing to overwrite a key", out);
		else
			cli_error("%s: %s", out, strerror(errno));
		goto out;
	}
	size_t off = 0, n = (size_t)priv_len;
	int ok = 1;
	while (ok && off < n) {
		ssize_t w = write(fd, priv_pem + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			ok = 0;
		else
			off += (size_t)w;
	}
	ok = ok && fsync(fd) == 0;
	int saved = errno;
	ok = (close(fd) == 0) && ok;
	fd = -1;
	if (!ok) {
		cli_error("%s: %s", out, strerror(saved ? saved : errno));
		unlink(out);
		goto out;
	}
	printf("wrote %s (%s private key, PKCS#8 PEM, mode 0600)\n", out, ed ? "Ed25519" : "P-256");
	printf("alg: %s\nkid: %s\npublic key:\n", ed ? "EdDSA" : "ES256", kid);
	fwrite(pub_pem, 1, (size_t)pub_len, stdout);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	certpin_keyset_free(ks);
	BIO_free(pub);
	BIO_free(priv); /* BUF_MEM_free clears the private key text */
	EVP_PKEY_free(pk);
	return ret;
}

/* ---- sign ------------------------------------------------------------------------ */

/* "30d", "12h", "90m", "3600s", "3600": seconds into *out. 0 or -1. */
static int parse_ttl(const char *s, int64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	if (digits == 0 || digits > 12)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (s[i] - '0');
	int64_t unit;
	const char *u = s + digits;
	if (*u == '\0' || strcmp(u, "s") == 0)
		unit = 1;
	else if (strcmp(u, "m") == 0)
		unit = 60;
	else if (strcmp(u, "h") == 0)
		unit = 3600;
	else if (strcmp(u, "d") == 0)
		unit = 86400;
	else
		return -1;
	if (v < 1 || v > MAX_TTL / unit)
		return -1;
	*out = v * unit;
	return 0;
}

static int parse_seq(const char *s, int64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	if (digits == 0 || digits > 16 || s[digits] != '\0')
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < digits; i++)
		v = v * 10 + (s[i] - '0');
	if (v < 1 || v > 9007199254740991LL)
		return -1;
	*out = v;
	return 0;
}

static int bundle_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},    {"policy", required_argument, NULL, 'p'},
		{"seq", required_argument, NULL, 's'},    {"ttl", required_argument, NULL, 't'},
		{"aud", required_argument, NULL, 'a'},    {"signer", required_argument, NULL, 'S'},
		{"out", required_argument, NULL, 'o'},    {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *key_path = NULL, *policy_path = NULL, *seq_text = NULL, *aud = NULL,
	           *out = NULL;
	const char *signer_paths[16];
	size_t n_signers = 0;
	int64_t ttl = DEFAULT_TTL, seq = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'p':
			policy_path = optarg;
			break;
		case 's':
			seq_text = optarg;
			break;
		case 't':
			if (parse_ttl(optarg, &ttl) != 0) {
				cli_error("bundle sign: --ttl '%s': expected N followed by s, m, h or d "
				          "(1 s to 3650 d)",
				          optarg);
				return EXIT_USAGE;
			}
			break;
		case 'a':
			aud = optarg;
			break;
		case 'S':
			if (n_signers == sizeof signer_paths / sizeof signer_paths[0]) {
				cli_error("bundle sign: at most 16 --signer keys");
				return EXIT_USAGE;
			}
			signer_paths[n_signers++] = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			sign_usage(stdout);
			return 0;
		default:
			return bad_option("sign", argv[optind - 1]);
		}
	}
	if (key_path == NULL || policy_path == NULL || seq_text == NULL || out == NULL ||
	    optind != argc) {
		cli_error("bundle sign: needs --key, --policy, --seq and -o (see 'certpin bundle sign "
		          "--help')");
		return EXIT_USAGE;
	}
	if (parse_seq(seq_text, &seq) != 0) {
		cli_error("bundle sign: --seq '%s': expected an integer 1..9007199254740991", seq_text);
		return EXIT_USAGE;
	}
	if (aud != NULL && (aud[0] == '\0' || strlen(aud) > 256)) {
		cli_error("bundle sign: --aud must be 1..256 characters");
		return EXIT_USAGE;
	}

	int ret = EXIT_INPUT;
	char *key = NULL, *policy = NULL, *bundle = NULL;
	size_t key_len = 0, policy_len = 0;
	certpin_keyset *signers = NULL;
	certpin_error err;
	memset(&err, 0, sizeof err);
	if (n_signers > 0) {
		signers = certpin_keyset_new();
		if (signers == NULL) {
			cli_error("out of memory");
			goto out;
		}
		for (size_t i = 0; i < n_signers; i++) {
			int bad = add_key_file(signers, signer_paths[i], "--signer", NULL);
			if (bad != 0) {
				ret = bad;
				goto out;
			}
		}
	}
	if (read_file(key_path, KEY_FILE_MAX, &key, &key_len) != 0)
		goto out;
	if (key_len > KEY_FILE_MAX) {
		cli_error("%s: a key file is at most %u bytes", key_path, KEY_FILE_MAX);
		goto out;
	}
	if (read_file(policy_path, CERTPIN_MAX_FILE_SIZE, &policy, &policy_len) != 0)
		goto out;
	if (policy_len > CERTPIN_MAX_FILE_SIZE) {
		cli_error("%s: a policy is at most %u bytes", policy_path, CERTPIN_MAX_FILE_SIZE);
		goto out;
	}
	int64_t now = (int64_t)time(NULL);
	certpin_bundle_claims claims = {
	    .seq = seq, .iat = now, .exp = now + ttl, .aud = aud, .signers = signers};
	certpin_err rc =
	    certpin_bundle_sign(policy, policy_len, key, key_len, &claims, &bundle, &err);
	if (rc != CERTPIN_OK) {
		/* name the file the error is about */
		const char *about = rc == CERTPIN_E_KEY_FILE ? key_path : policy_path;
		if (err.file[0] == '\0' || strcmp(err.file, "<policy>") == 0 ||
		    strcmp(err.file, "<memory>") == 0)
			snprintf(err.file, sizeof err.file, "%s", about);
		print_err(&err);
		goto out;
	}
	if (write_atomic(out, bundle, strlen(bundle), default_mode(), NULL, 0, 0) != 0)
		goto out;
	char iat_s[32], exp_s[32];
	time_text(claims.iat, iat_s, sizeof iat_s);
	time_text(claims.exp, exp_s, sizeof exp_s);
	printf("wrote %s: seq %lld, iat %s, exp %s%s%s%s", out, (long long)seq, iat_s, exp_s,
	       aud ? ", aud " : "", aud ? aud : "", n_signers ? ", next signers: " : "");
	if (n_signers)
		printf("%zu", n_signers);
	printf("\n");
	ret = 0;
out:
	wipe_free(key, key_len);
	free(policy);
	free(bundle);
	certpin_keyset_free(signers);
	return ret;
}

/* ---- verify ---------------------------------------------------------------------- */

static int bundle_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{"pub", required_argument, NULL, 'p'}, {"aud", required_argument, NULL, 'a'},
		{"at", required_argument, NULL, 't'},  {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *pubs[16], *aud = NULL, *at = NULL;
	size_t n_pubs = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (n_pubs == sizeof pubs / sizeof pubs[0]) {
				cli_error("bundle verify: at most 16 --pub keys");
				return EXIT_USAGE;
			}
			pubs[n_pubs++] = optarg;
			break;
		case 'a':
			aud = optarg;
			break;
		case 't':
			at = optarg;
			break;
		case 'h':
			verify_usage(stdout);
			return 0;
		default:
			return bad_option("verify", argv[optind - 1]);
		}
	}
	if (n_pubs == 0 || optind != argc - 1) {
		cli_error("bundle verify: needs --pub PUB.pem and one BUNDLE (see 'certpin bundle "
		          "verify --help')");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	certpin_error err;
	memset(&err, 0, sizeof err);
	int64_t now = (int64_t)time(NULL);
	if (at != NULL && certpin_time_parse(at, CERTPIN_TIME_DATE_START, &now, &err) != CERTPIN_OK) {
		cli_error("bundle verify: --at '%s': %s", at, err.message);
		return EXIT_USAGE;
	}

	int ret = EXIT_INPUT;
	char *jws = NULL;
	size_t len = 0;
	certpin_bundle *b = NULL;
	certpin_keyset *ks = certpin_keyset_new();
	if (ks == NULL) {
		cli_error("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_pubs; i++) {
		int bad = add_key_file(ks, pubs[i], "--pub", NULL);
		if (bad != 0) {
			ret = bad;
			goto out;
		}
	}
	if (read_file(path, CERTPIN_BUNDLE_MAX, &jws, &len) != 0)
		goto out;
	certpin_err rc = certpin_bundle_verify(jws, len, path, ks, now, aud, &b, &err);
	if (rc != CERTPIN_OK) {
		if (rc == CERTPIN_E_NOMEM) {
			cli_error("out of memory");
			goto out;
		}
		/* one line: "certpin: FILE: reason" (the JSON path, when any, is part of it) */
		if (strcmp(err.file, path) != 0) {
			char line[1024];
			certpin_error_format(&err, line, sizeof line);
			cli_error("%s: %s", path, line);
		} else {
			print_err(&err);
		}
		ret = EXIT_BLOCKED;
		goto out;
	}
	char iat_s[32], exp_s[32];
	time_text(certpin_bundle_iat(b), iat_s, sizeof iat_s);
	time_text(certpin_bundle_exp(b), exp_s, sizeof exp_s);
	const char *baud = certpin_bundle_aud(b);
	const certpin_keyset *next = certpin_bundle_signers(b);
	printf("%s: valid\n", path);
	printf("  seq:     %lld\n", (long long)certpin_bundle_seq(b));
	printf("  iat:     %s (%lld)\n", iat_s, (long long)certpin_bundle_iat(b));
	printf("  exp:     %s (%lld)\n", exp_s, (long long)certpin_bundle_exp(b));
	printf("  aud:     %s\n", baud[0] ? baud : "(none)");
	printf("  kid:     %s\n", certpin_bundle_kid(b));
	printf("  alg:     %s\n", certpin_bundle_alg(b));
	printf("  rules:   %zu\n", certpin_policy_rule_count(certpin_bundle_policy(b)));
	if (next != NULL)
		printf("  signers: %zu (the key set trusted for the next bundles)\n",
		       certpin_keyset_count(next));
	ret = 0;
out:
	certpin_bundle_free(b);
	certpin_keyset_free(ks);
	free(jws);
	return ret;
}

/* ---- inspect --------------------------------------------------------------------- */

/* Prints JSON text indented; text that is not JSON is printed as a JSON string. */
static void print_json_text(const char *label, const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	printf("%s:\n", label);
	if (j == NULL) {
		/* jansson quotes the offending input in its message */
		for (char *c = je.text; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
		json_t *s = json_stringn(text, strlen(text));
		char *d = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
		printf("(not valid JSON: %s)\n%s\n", je.text, d ? d : "");
		free(d);
		json_decref(s);
		return;
	}
	char *d = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_ENSURE_ASCII |
	                            JSON_PRESERVE_ORDER);
	printf("%s\n", d ? d : "(out of memory)");
	if (json_is_object(j)) {
		const char *names[] = {"iat", "exp"};
		for (size_t i = 0; i < 2; i++) {
			json_t *v = json_object_get(j, names[i]);
			char t[32];
			if (json_is_integer(v) && certpin_time_format(json_integer_value(v), t, sizeof t))
				printf("  (%s = %s)\n", names[i], t);
		}
	}
	free(d);
	json_decref(j);
}

static int bundle_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			inspect_usage(stdout);
			return 0;
		default:
			return bad_option("inspect", argv[optind - 1]);
		}
	}
	if (optind != argc - 1) {
		cli_error("bundle inspect: needs one BUNDLE (see 'certpin bundle inspect --help')");
		return EXIT_USAGE;
	}
	const char *path = argv[optind];
	char *jws = NULL, *header = NULL, *payload = NULL;
	size_t len = 0;
	if (read_file(path, CERTPIN_BUNDLE_MAX, &jws, &len) != 0)
		return EXIT_INPUT;
	certpin_error err;
	memset(&err, 0, sizeof err);
	certpin_err rc = certpin_bundle_decode_unverified(jws, len, &header, &payload, &err);
	free(jws);
	if (rc != CERTPIN_OK) {
		cli_error("%s: %s", path, err.message);
		return rc == CERTPIN_E_NOMEM ? EXIT_INPUT : EXIT_BLOCKED;
	}
	printf("UNVERIFIED: %s was decoded, not verified: signature, expiry and audience are\n"
	       "NOT checked; 'certpin bundle verify' says whether an app would accept it.\n\n",
	       path);
	print_json_text("header (UNVERIFIED)", header);
	printf("\n");
	print_json_text("payload (UNVERIFIED)", payload);
	free(header);
	free(payload);
	return 0;
}

/* ---- add-domain ------------------------------------------------------------------- */

/* The SPKI pins of the validated chain at the scope into pins[]; count or -1. */
static int scope_pins(STACK_OF(X509) *chain, int intermediate, char pins[][CERTPIN_PIN_STRLEN],
                      int max)
{
	int n = sk_X509_num(chain), from = 0, to = 1;
	if (intermediate) {
		/* every CA between the leaf and the trust anchor */
		from = 1;
		to = n - 1;
		if (to <= from)
			return 0;
	}
	int k = 0;
	for (int i = from; i < to && k < max; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509(sk_X509_value(chain, i), &der);
		certpin_pin pin;
		int ok = len > 0 &&
		         certpin_pin_spki_from_cert_der(der, (size_t)len, &pin) == CERTPIN_OK &&
		         certpin_pin_format(&pin, pins[k], CERTPIN_PIN_STRLEN) != 0;
		OPENSSL_free(der);
		if (!ok)
			return -1;
		k++;
	}
	return k;
}

/* Handshake and validated-chain pins. 0, or the exit code after printing. */
static int fetch_pins(struct cli_target *tg, const char *cafile, int intermediate,
                      char pins[][CERTPIN_PIN_STRLEN], int max, int *n_pins)
{
	const char *cmd = "bundle add-domain";
	int ret = EXIT_CONNECTION, fd = -1;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	char why[512];
	if (ctx == NULL)
		goto out;
	if (cli_load_trust(ctx, cmd, cafile) != 0) {
		ret = EXIT_INPUT;
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto out;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	                                           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
	if (tg->is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, tg->name) != 1
	              : (SSL_set1_host(ssl, tg->name) != 1 ||
	                 SSL_set_tlsext_host_name(ssl, tg->name) != 1))
		goto out;
	struct timespec deadline;
	cli_deadline(&deadline, PROBE_TIMEOUT);
	fd = cli_connect(tg->addr, tg->aport, &deadline, why, sizeof why);
	if (fd < 0) {
		cli_error("%s: %s", cmd, why);
		goto out;
	}
	SSL_set_fd(ssl, fd);
	int hs = cli_handshake(ssl, &deadline);
	if (hs != 0) {
		if (hs == -2)
			snprintf(why, sizeof why, "TLS handshake timed out after %d s", PROBE_TIMEOUT);
		else
			cli_openssl_error(why, sizeof why);
		cli_error("%s: %s:%s: %s", cmd, tg->addr, tg->aport, why);
		goto out;
	}
	long vr = SSL_get_verify_result(ssl);
	STACK_OF(X509) *validated = vr == X509_V_OK ? SSL_get0_verified_chain(ssl) : NULL;
	if (validated == NULL) {
		cli_error("%s: %s: certificate validation failed: %s (pins come only from a "
		          "validated chain)",
		          cmd, tg->name, X509_verify_cert_error_string(vr));
		ret = EXIT_VALIDATION;
		goto out;
	}
	int n = scope_pins(validated, intermediate, pins, max);
	if (n < 0) {
		cli_error("%s: %s: cannot compute the chain's pins", cmd, tg->name);
		ret = EXIT_VALIDATION;
		goto out;
	}
	if (n == 0) {
		cli_error("%s: %s: the validated chain has no intermediate CA (the leaf is issued by "
		          "the trust anchor); use --scope leaf",
		          cmd, tg->name);
		ret = EXIT_VALIDATION;
		goto out;
	}
	*n_pins = n;
	ret = 0;
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return ret;
}

static int bundle_add_domain(int argc, char **argv)
{
	static const struct option opts[] = {
		{"policy", required_argument, NULL, 'p'}, {"connect", required_argument, NULL, 'c'},
		{"cafile", required_argument, NULL, 'C'}, {"scope", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *policy_path = NULL, *connect_to = NULL, *cafile = NULL, *scope = "leaf";
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy_path = optarg;
			break;
		case 'c':
			connect_to = optarg;
			break;
		case 'C':
			cafile = optarg;
			break;
		case 's':
			scope = optarg;
			break;
		case 'h':
			add_domain_usage(stdout);
			return 0;
		default:
			return bad_option("add-domain", argv[optind - 1]);
		}
	}
	if (policy_path == NULL || optind != argc - 1) {
		cli_error("bundle add-domain: needs --policy and one HOST[:PORT] (see 'certpin bundle "
		          "add-domain --help')");
		return EXIT_USAGE;
	}
	int intermediate;
	if (strcmp(scope, "leaf") == 0) {
		intermediate = 0;
	} else if (strcmp(scope, "intermediate") == 0) {
		intermediate = 1;
	} else {
		cli_error("bundle add-domain: --scope must be leaf or intermediate, not '%s'", scope);
		return EXIT_USAGE;
	}
	struct cli_target tg;
	int bad = cli_target_parse("bundle add-domain", argv[optind], connect_to, &tg);
	if (bad != 0)
		return bad;

	/* The existing policy: it must load, and must not have a rule for the host. */
	int ret = EXIT_INPUT;
	json_t *doc = NULL;
	char *text = NULL, tmp[PATH_MAX] = "";
	certpin_policy *policy = NULL;
	certpin_warnings *warnings = NULL;
	certpin_error err;
	memset(&err, 0, sizeof err);
	struct stat st;
	int exists = stat(policy_path, &st) == 0;
	if (!exists && errno != ENOENT) {
		cli_error("%s: %s", policy_path, strerror(errno));
		return EXIT_INPUT;
	}
	if (exists) {
		if (certpin_policy_load_file(policy_path, 0, &policy, NULL, &err) != CERTPIN_OK) {
			print_err(&err);
			return EXIT_INPUT;
		}
		for (size_t i = 0; i < certpin_policy_rule_count(policy); i++) {
			const char *h = certpin_rule_host(certpin_policy_rule(policy, i));
			if (strcmp(h, tg.name) == 0) {
				cli_error("%s: %s already has a rule; edit it instead", policy_path,
				          tg.name);
				certpin_policy_free(policy);
				return EXIT_INPUT;
			}
		}
		const certpin_rule *cover = certpin_policy_lookup(policy, tg.name);
		if (cover != NULL)
			printf("note: rule %s also matches %s; the new exact rule takes precedence\n",
			       certpin_rule_host(cover), tg.name);
		certpin_policy_free(policy);
		policy = NULL;
		json_error_t je;
		doc = json_load_file(policy_path, JSON_REJECT_DUPLICATES, &je);
		if (doc == NULL || !json_is_object(doc)) {
			cli_error("%s: cannot read the policy as JSON", policy_path);
			goto out;
		}
	} else {
		doc = json_pack("{s:i, s:[]}", "certpin", 1, "domains");
		if (doc == NULL) {
			cli_error("out of memory");
			goto out;
		}
	}

	char pins[CERTPIN_MAX_PINS_PER_RULE][CERTPIN_PIN_STRLEN];
	int n_pins = 0;
	ret = fetch_pins(&tg, cafile, intermediate, pins, (int)CERTPIN_MAX_PINS_PER_RULE, &n_pins);
	if (ret != 0)
		goto out;
	ret = EXIT_INPUT;

	json_t *domains = json_object_get(doc, "domains");
	if (domains == NULL) {
		domains = json_array();
		if (domains == NULL || json_object_set_new(doc, "domains", domains) != 0) {
			cli_error("out of memory");
			goto out;
		}
	}
	json_t *rule = json_pack("{s:s, s:[]}", "host", tg.name, "pins");
	json_t *arr = rule != NULL ? json_object_get(rule, "pins") : NULL;
	int oom = arr == NULL;
	for (int i = 0; !oom && i < n_pins; i++)
		oom = json_array_append_new(arr, json_string(pins[i])) != 0;
	if (oom) {
		json_decref(rule);
		cli_error("out of memory");
		goto out;
	}
	size_t new_index = json_array_size(domains);
	if (json_array_append_new(domains, rule) != 0) { /* takes rule either way */
		cli_error("out of memory");
		goto out;
	}
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL) {
		cli_error("out of memory");
		goto out;
	}
	size_t tl = strlen(text);
	char *nl = realloc(text, tl + 2);
	if (nl == NULL) {
		cli_error("out of memory");
		goto out;
	}
	text = nl;
	text[tl++] = '\n';
	text[tl] = '\0';
	/* the temporary file sits beside the policy, so pin_files resolve the same */
	if (write_atomic(policy_path, text, tl, exists ? (st.st_mode & 07777) : default_mode(), tmp,
	                 sizeof tmp, 1) != 0) {
		tmp[0] = '\0';
		goto out;
	}
	if (certpin_policy_load_file(tmp, 0, &policy, &warnings, &err) != CERTPIN_OK) {
		snprintf(err.file, sizeof err.file, "%s", policy_path);
		print_err(&err);
		cli_error("%s: left unchanged", policy_path);
		goto out;
	}
	if (rename(tmp, policy_path) != 0) {
		cli_error("%s: %s", policy_path, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	printf("added %s to %s with %d %s pin%s:\n", tg.name, policy_path, n_pins,
	       intermediate ? "intermediate CA" : "leaf", n_pins == 1 ? "" : "s");
	for (int i = 0; i < n_pins; i++)
		printf("  %s\n", pins[i]);
	char rule_path[48];
	snprintf(rule_path, sizeof rule_path, "$.domains[%zu]", new_index);
	size_t rl = strlen(rule_path);
	for (size_t i = 0; i < certpin_warnings_count(warnings); i++) {
		certpin_warning_kind kind;
		const certpin_error *w = certpin_warnings_get(warnings, i, &kind);
		/* only the new rule's warnings: "$.domains[N]" or below it */
		if (w == NULL || strncmp(w->path, rule_path, rl) != 0 ||
		    (w->path[rl] != '\0' && w->path[rl] != '.' && w->path[rl] != '['))
			continue;
		printf("warning [%s]: %s\n", certpin_warning_name(kind), w->message);
	}
	printf("reminder: a backup pin is still needed before you publish: add the pin of a key\n"
	       "you hold offline ('certpin pin backup.key') or of a second CA to \"pins\"; with only\n"
	       "the current pin%s, a key or CA change locks clients out ('certpin lint' warns\n"
	       "few-pins).\n",
	       n_pins == 1 ? "" : "s");
	ret = 0;
out:
	if (tmp[0] != '\0')
		unlink(tmp);
	free(text);
	json_decref(doc);
	certpin_warnings_free(warnings);
	certpin_policy_free(policy);
	return ret;
}

/* ---- dispatch -------------------------------------------------------------------- */

int cmd_bundle(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int, char **);
	} subs[] = {
		{"keygen", bundle_keygen},   {"sign", bundle_sign},
		{"verify", bundle_verify},   {"inspect", bundle_inspect},
		{"add-domain", bundle_add_domain},
	};
	if (argc < 2) {
		bundle_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		bundle_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(argc - 1, argv + 1);
	cli_error("bundle: unknown subcommand '%s' (keygen, sign, verify, inspect, add-domain)",
	          argv[1]);
	return EXIT_USAGE;
}
