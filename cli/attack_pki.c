/*
 * certpin attack: the throwaway PKI and each scenario's chain.
 *
 * Legitimate: root -> intermediate -> leaf for the host, and a backup key.
 * Attacker: a rogue root that the victim trusts (it is in {cafile}), an
 * attacker key, a CA with the real intermediate's name but another key, an
 * untrusted root and intermediate, and an RSA-1024 key.
 *
 * Scenarios that test certificate validation rather than pinning reuse the
 * legitimate leaf key (or come from the legitimate intermediate), so that
 * the pins match at the scope the policy uses and only validation can stop
 * them: a client that checks pins but skips validation fails them.
 */
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attack.h"
#include "certpin/certpin.h"

#define DAY (24L * 60 * 60)

/* One certificate to make. */
struct cert_spec {
	const char *cn;            /* subject CN (unless subject is set) */
	const X509_NAME *subject;  /* borrowed: the subject to copy, or NULL */
	EVP_PKEY *key;             /* the subject's key */
	X509 *issuer;              /* NULL: self-signed */
	EVP_PKEY *issuer_key;      /* NULL: self-signed with key */
	int ca;
	const char *san;           /* subjectAltName value, or NULL for none */
	long not_before, not_after; /* seconds from now */
	const EVP_MD *md;          /* NULL: SHA-256 */
};

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (e == NULL)
		return -1;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1 ? 0 : -1;
}

static X509 *make_cert(const struct cert_spec *s)
{
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *bn = BN_new();
	int ok = 0;
	if (x == NULL || bn == NULL || X509_set_version(x, 2) != 1)
		goto out;
	/* a random positive 63-bit serial number */
	if (BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	if (s->subject != NULL) {
		name = X509_NAME_dup(s->subject);
	} else {
		name = X509_NAME_new();
		if (name != NULL &&
		    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn,
		                               -1, -1, 0) != 1) {
			X509_NAME_free(name);
			name = NULL;
		}
	}
	if (name == NULL || X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), s->not_before) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), s->not_after) == NULL ||
	    X509_set_pubkey(x, s->key) != 1)
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
	if (s->ca) {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0)
			goto out;
	} else {
		if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
		    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment") != 0 ||
		    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") != 0)
			goto out;
	}
	if (s->san != NULL && add_ext(x, &ctx, NID_subject_alt_name, s->san) != 0)
		goto out;
	/* no authorityKeyIdentifier on self-signed certificates (OpenSSL 3.0
	 * would write an empty one) */
	if (add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    (s->issuer != NULL && add_ext(x, &ctx, NID_authority_key_identifier, "keyid") != 0))
		goto out;
	if (X509_sign(x, s->issuer_key ? s->issuer_key : s->key, s->md ? s->md : EVP_sha256()) <= 0)
		goto out;
	ok = 1;
out:
	X509_NAME_free(name);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int cert_pin(X509 *x, char *out, size_t n)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	certpin_pin pin;
	int rc = -1;
	if (len > 0 && certpin_pin_spki_from_cert_der(der, (size_t)len, &pin) == CERTPIN_OK &&
	    certpin_pin_format(&pin, out, n) < n)
		rc = 0;
	OPENSSL_free(der);
	return rc;
}

static int key_pin(EVP_PKEY *k, char *out, size_t n)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	certpin_pin pin;
	int rc = -1;
	if (len > 0 && certpin_pin_spki_from_spki_der(der, (size_t)len, &pin) == CERTPIN_OK &&
	    certpin_pin_format(&pin, out, n) < n)
		rc = 0;
	OPENSSL_free(der);
	return rc;
}

int atk_pki_new(struct atk_pki *p, const char *host, char *why, size_t wn)
{
	memset(p, 0, sizeof *p);
	snprintf(p->host, sizeof p->host, "%s", host);
	char san[300];
	snprintf(san, sizeof san, "DNS:%s", host);

	p->root_key = EVP_EC_gen("P-256");
	p->int_key = EVP_EC_gen("P-256");
	p->leaf_key = EVP_EC_gen("P-256");
	p->backup_key = EVP_EC_gen("P-256");
	p->rogue_key = EVP_EC_gen("P-256");
	p->attacker_key = EVP_EC_gen("P-256");
	p->fake_int_key = EVP_EC_gen("P-256");
	p->untrusted_key = EVP_EC_gen("P-256");
	p->untrusted_int_key = EVP_EC_gen("P-256");
	p->weak_key = EVP_RSA_gen(1024);
	p->rsa_leaf_key = EVP_RSA_gen(2048);
	if (!p->rsa_leaf_key || !p->root_key || !p->int_key || !p->leaf_key || !p->backup_key || !p->rogue_key ||
	    !p->attacker_key || !p->fake_int_key || !p->untrusted_key || !p->untrusted_int_key ||
	    !p->weak_key)
		goto fail;

	struct cert_spec root = {.cn = "certpin attack Legitimate Root CA", .key = p->root_key,
	                         .ca = 1, .not_before = -DAY, .not_after = 3650 * DAY};
	p->root = make_cert(&root);
	if (p->root == NULL)
		goto fail;
	struct cert_spec in = {.cn = "certpin attack Legitimate Issuing CA", .key = p->int_key,
	                       .issuer = p->root, .issuer_key = p->root_key, .ca = 1,
	                       .not_before = -DAY, .not_after = 1825 * DAY};
	p->intermediate = make_cert(&in);
	if (p->intermediate == NULL)
		goto fail;
	struct cert_spec leaf = {.cn = host, .key = p->leaf_key, .issuer = p->intermediate,
	                         .issuer_key = p->int_key, .san = san, .not_before = -DAY,
	                         .not_after = 365 * DAY};
	p->leaf = make_cert(&leaf);
	struct cert_spec rogue = {.cn = "certpin attack Rogue Root CA (installed by the attacker)",
	                          .key = p->rogue_key, .ca = 1, .not_before = -DAY,
	                          .not_after = 3650 * DAY};
	p->rogue = make_cert(&rogue);
	if (p->leaf == NULL || p->rogue == NULL)
		goto fail;
	/* the real intermediate's name, another key, signed by the rogue root */
	struct cert_spec fake = {.subject = X509_get_subject_name(p->intermediate),
	                         .key = p->fake_int_key, .issuer = p->rogue,
	                         .issuer_key = p->rogue_key, .ca = 1, .not_before = -DAY,
	                         .not_after = 1825 * DAY};
	p->fake_int = make_cert(&fake);
	struct cert_spec ur = {.cn = "certpin attack Untrusted Root CA", .key = p->untrusted_key,
	                       .ca = 1, .not_before = -DAY, .not_after = 3650 * DAY};
	p->untrusted_root = make_cert(&ur);
	if (p->fake_int == NULL || p->untrusted_root == NULL)
		goto fail;
	struct cert_spec ui = {.cn = "certpin attack Untrusted Issuing CA",
	                       .key = p->untrusted_int_key, .issuer = p->untrusted_root,
	                       .issuer_key = p->untrusted_key, .ca = 1, .not_before = -DAY,
	                       .not_after = 1825 * DAY};
	p->untrusted_int = make_cert(&ui);
	if (p->untrusted_int == NULL)
		goto fail;
	if (cert_pin(p->root, p->root_pin, sizeof p->root_pin) != 0 ||
	    cert_pin(p->intermediate, p->int_pin, sizeof p->int_pin) != 0 ||
	    cert_pin(p->leaf, p->leaf_pin, sizeof p->leaf_pin) != 0 ||
	    key_pin(p->backup_key, p->backup_pin, sizeof p->backup_pin) != 0)
		goto fail;
	return 0;
fail:
	snprintf(why, wn, "cannot make the test PKI (OpenSSL key or certificate generation failed)");
	atk_pki_free(p);
	return -1;
}

void atk_pki_free(struct atk_pki *p)
{
	EVP_PKEY *keys[] = {p->root_key,     p->int_key,         p->leaf_key,
	                    p->backup_key,   p->rogue_key,       p->attacker_key,
	                    p->fake_int_key, p->untrusted_key,   p->untrusted_int_key,
	                    p->weak_key,     p->rsa_leaf_key};
	X509 *certs[] = {p->root,     p->intermediate,   p->leaf,         p->rogue,
	                 p->fake_int, p->untrusted_root, p->untrusted_int};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		EVP_PKEY_free(keys[i]);
	for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++)
		X509_free(certs[i]);
	memset(p, 0, sizeof *p);
}

void atk_chain_free(struct atk_chain *c)
{
	for (int i = 0; i < c->n; i++)
		X509_free(c->certs[i]);
	EVP_PKEY_free(c->key);
	X509_free(c->rsa_leaf);
	EVP_PKEY_free(c->rsa_key);
	memset(c, 0, sizeof *c);
}

/* Appends x (a new reference is taken when own is 0). */
static int chain_add(struct atk_chain *c, X509 *x, int own)
{
	if (x == NULL || c->n >= ATK_MAX_CHAIN)
		return -1;
	if (!own && X509_up_ref(x) != 1)
		return -1;
	c->certs[c->n++] = x;
	return 0;
}

static int chain_key(struct atk_chain *c, EVP_PKEY *k)
{
	if (EVP_PKEY_up_ref(k) != 1)
		return -1;
	c->key = k;
	return 0;
}

/* A leaf for the scenario: issued by issuer (or self-signed), with key. */
static X509 *leaf_for(const struct atk_pki *p, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                      const char *cn, const char *san_name, long nb, long na, const EVP_MD *md)
{
	char san[300];
	if (san_name != NULL)
		snprintf(san, sizeof san, "DNS:%s", san_name);
	struct cert_spec s = {.cn = cn ? cn : p->host, .key = key, .issuer = issuer,
	                      .issuer_key = issuer_key, .san = san_name ? san : NULL,
	                      .not_before = nb, .not_after = na, .md = md};
	return make_cert(&s);
}

int atk_chain_make(const struct atk_pki *p, const char *name, struct atk_chain *c, char *why,
                   size_t wn)
{
	const char *h = p->host;
	X509 *leaf = NULL;
	EVP_PKEY *key = p->leaf_key;
	int rc = -1;
	memset(c, 0, sizeof *c);
	if (strcmp(name, "control") == 0 || strcmp(name, "tls-legacy") == 0 ||
	    strcmp(name, "mitmproxy") == 0) {
		/* the legitimate chain (mitmproxy's upstream) */
		rc = chain_add(c, p->leaf, 0) | chain_add(c, p->intermediate, 0);
		c->legacy_tls = strcmp(name, "tls-legacy") == 0;
		if (rc == 0 && c->legacy_tls) {
			c->rsa_leaf = leaf_for(p, p->rsa_leaf_key, p->intermediate, p->int_key, NULL, h,
			                       -DAY, 90 * DAY, NULL);
			if (c->rsa_leaf == NULL || EVP_PKEY_up_ref(p->rsa_leaf_key) != 1)
				rc = -1;
			else
				c->rsa_key = p->rsa_leaf_key;
		}
	} else if (strcmp(name, "rogue-ca") == 0) {
		key = p->attacker_key;
		leaf = leaf_for(p, key, p->rogue, p->rogue_key, NULL, h, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1);
	} else if (strcmp(name, "self-signed") == 0) {
		leaf = leaf_for(p, key, NULL, NULL, NULL, h, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1);
	} else if (strcmp(name, "wrong-name") == 0) {
		leaf = leaf_for(p, key, p->intermediate, p->int_key, "attacker.test", "attacker.test",
		                -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else if (strcmp(name, "expired") == 0) {
		leaf = leaf_for(p, key, p->intermediate, p->int_key, NULL, h, -400 * DAY, -30 * DAY,
		                NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else if (strcmp(name, "not-yet-valid") == 0) {
		leaf = leaf_for(p, key, p->intermediate, p->int_key, NULL, h, 30 * DAY, 400 * DAY,
		                NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else if (strcmp(name, "untrusted-intermediate") == 0) {
		leaf = leaf_for(p, key, p->untrusted_int, p->untrusted_int_key, NULL, h, -DAY,
		                90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->untrusted_int, 0);
	} else if (strcmp(name, "appended-pins") == 0) {
		/* CVE-2016-2402: pins checked on the chain as sent, not as validated */
		key = p->attacker_key;
		leaf = leaf_for(p, key, p->rogue, p->rogue_key, NULL, h, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0) |
		     chain_add(c, p->root, 0);
	} else if (strcmp(name, "fake-intermediate") == 0) {
		key = p->attacker_key;
		leaf = leaf_for(p, key, p->fake_int, p->fake_int_key, NULL, h, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->fake_int, 0);
	} else if (strcmp(name, "legit-key-rogue-ca") == 0) {
		leaf = leaf_for(p, key, p->rogue, p->rogue_key, NULL, h, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1);
	} else if (strcmp(name, "sha1") == 0) {
		leaf = leaf_for(p, key, p->intermediate, p->int_key, NULL, h, -DAY, 90 * DAY,
		                EVP_sha1());
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else if (strcmp(name, "rsa-1024") == 0) {
		key = p->weak_key;
		leaf = leaf_for(p, key, p->intermediate, p->int_key, NULL, h, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else if (strcmp(name, "cn-only") == 0) {
		leaf = leaf_for(p, key, p->intermediate, p->int_key, NULL, NULL, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else if (strcmp(name, "wildcard-tld") == 0) {
		/* "*.test" for "api.test": a wildcard over the last label */
		const char *dot = strrchr(h, '.');
		char wild[260];
		snprintf(wild, sizeof wild, "*%s", dot ? dot : ".invalid");
		leaf = leaf_for(p, key, p->intermediate, p->int_key, wild, wild, -DAY, 90 * DAY, NULL);
		rc = chain_add(c, leaf, 1) | chain_add(c, p->intermediate, 0);
	} else {
		snprintf(why, wn, "no chain for scenario '%s'", name);
		return -1;
	}
	if (rc != 0 || chain_key(c, key) != 0) {
		if (leaf != NULL && (c->n == 0 || c->certs[0] != leaf))
			X509_free(leaf);
		atk_chain_free(c);
		snprintf(why, wn, "cannot make the chain of scenario '%s'", name);
		return -1;
	}
	return 0;
}

static FILE *open_private(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f != NULL)
		(void)chmod(path, 0600);
	return f;
}

int atk_chain_write(const struct atk_chain *c, const char *path)
{
	char kpath[4096];
	if (snprintf(kpath, sizeof kpath, "%s.key", path) >= (int)sizeof kpath)
		return -1;
	FILE *f = fopen(path, "w");
	int ok = f != NULL;
	for (int i = 0; ok && i < c->n; i++)
		ok = PEM_write_X509(f, c->certs[i]) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	FILE *k = ok ? open_private(kpath) : NULL;
	ok = ok && k != NULL && PEM_write_PrivateKey(k, c->key, NULL, NULL, 0, NULL, NULL) == 1;
	if (k != NULL && fclose(k) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static const char *scope_pin(const struct atk_pki *p, enum atk_scope scope)
{
	switch (scope) {
	case ATK_SCOPE_LEAF:
		return p->leaf_pin;
	case ATK_SCOPE_ROOT:
		return p->root_pin;
	case ATK_SCOPE_INTERMEDIATE:
	default:
		return p->int_pin;
	}
}

int atk_pki_write(const struct atk_pki *p, const char *dir, enum atk_scope scope, char *why,
                  size_t wn)
{
	char path[4096];
	FILE *f;
	int ok;

	/* {cafile}: the legitimate root and the rogue root the victim installed */
	snprintf(path, sizeof path, "%s/cafile.pem", dir);
	f = fopen(path, "w");
	ok = f != NULL && PEM_write_X509(f, p->root) == 1 && PEM_write_X509(f, p->rogue) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok)
		goto fail;

	/* {policy}: the legitimate chain at the chosen scope, with a backup pin */
	snprintf(path, sizeof path, "%s/policy.json", dir);
	f = fopen(path, "w");
	ok = f != NULL;
	if (ok) {
		char expires[32];
		if (certpin_time_format((int64_t)time(NULL) + 180 * DAY, expires, sizeof expires) == 0)
			ok = 0;
		expires[10] = '\0'; /* the date */
		ok = ok && fprintf(f,
		                   "{\n  \"certpin\": 1,\n  \"domains\": [\n    {\n"
		                   "      \"host\": \"%s\",\n"
		                   "      \"%s\": [\"%s\", \"%s\"],\n"
		                   "      \"expires\": \"%s\"\n    }\n  ]\n}\n",
		                   p->host, scope == ATK_SCOPE_LEAF ? "leaf_pins" : "ca_pins",
		                   scope_pin(p, scope), p->backup_pin, expires) > 0;
	}
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok)
		goto fail;

	snprintf(path, sizeof path, "%s/mitmproxy", dir);
	if (mkdir(path, 0700) != 0)
		goto fail;
	/* mitmproxy forges its certificates with the rogue root */
	snprintf(path, sizeof path, "%s/mitmproxy/mitmproxy-ca.pem", dir);
	f = open_private(path);
	ok = f != NULL && PEM_write_PrivateKey(f, p->rogue_key, NULL, NULL, 0, NULL, NULL) == 1 &&
	     PEM_write_X509(f, p->rogue) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok)
		goto fail;
	snprintf(path, sizeof path, "%s/rogue-root.pem", dir);
	f = fopen(path, "w");
	ok = f != NULL && PEM_write_X509(f, p->rogue) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok)
		goto fail;
	return 0;
fail:
	snprintf(why, wn, "cannot write %s", path);
	return -1;
}
