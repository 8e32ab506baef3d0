/*
 * Web-PKI rules on the chain OpenSSL built (validation "webpki"): what the
 * CA/Browser Forum Baseline Requirements and RFC 5280 demand of a TLS server
 * chain and OpenSSL's X509_verify_cert() does not enforce. They run only
 * after OpenSSL validated the chain, on OpenSSL's own parsed objects (no
 * re-parsing), so they can only refuse more, never accept what OpenSSL
 * refused.
 *
 * Positions: 0 is the leaf, 1..n-1 the CA certificates, n-1 the trust
 * anchor. A one-certificate chain (a leaf trusted directly) gets the leaf
 * rules only.
 *
 * Deliberate exceptions, each for a real-world chain that must validate
 * (docs/webpki.md): the leaf needs no authorityKeyIdentifier (mitmproxy's
 * leaves have none, browsers accept that), and a trust anchor may carry an
 * extendedKeyUsage (mitmproxy's CA has serverAuth).
 */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "webpki_rules.h"
#include "webpki.h"

/* Rule names: stable, shown in verdict reasons and listed in docs/webpki.md. */

/* RFC 5280 4.1.2.2: at most 20 octets. */
#define MAX_SERIAL_OCTETS 20

static const char *fail(const char *rule, char *why, size_t n, const char *msg, int depth)
{
	snprintf(why, n, "%s: %s (certificate at depth %d)", rule, msg, depth);
	return rule;
}

/* Criticality of extension nid: -1 absent, 0 or 1; 2 when present twice. */
static int ext_crit(const X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	if (i < 0)
		return -1;
	if (X509_get_ext_by_NID(x, nid, i) >= 0)
		return 2;
	return X509_EXTENSION_get_critical(X509_get_ext(x, i)) ? 1 : 0;
}

/* 1 when name (no wildcard) equals base or lies below it; ASCII case-insensitive. */
static int dns_within(const char *name, size_t nlen, const char *base, size_t blen)
{
	if (blen == 0)
		return 1; /* an empty constraint covers every name */
	if (nlen < blen || strncasecmp(name + nlen - blen, base, blen) != 0)
		return 0;
	return nlen == blen || name[nlen - blen - 1] == '.';
}

/*
 * 1 when some name the wildcard "*.B" matches (L.B for one label L) lies
 * within the subtree E: B itself within E, or E is exactly one label below B.
 */
static int wildcard_meets_subtree(const char *b, size_t blen, const char *e, size_t elen)
{
	if (dns_within(b, blen, e, elen))
		return 1;
	if (elen <= blen + 1 || !dns_within(e, elen, b, blen))
		return 0;
	return memchr(e, '.', elen - blen - 1) == NULL;
}

static int ia5_view(const ASN1_IA5STRING *s, const char **p, size_t *len)
{
	int l = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	if (l < 0 || d == NULL || memchr(d, '\0', (size_t)l) != NULL)
		return 0;
	*p = (const char *)d;
	*len = (size_t)l;
	return 1;
}

/* ---- keys ------------------------------------------------------------- */

/*
 * CABF BR 6.1.5: RSA (rsaEncryption) with a modulus of at least 2048 bits
 * divisible by 8; ECDSA on P-256, P-384 or P-521 with named parameters.
 * Everything else (DSA, Ed25519, Ed448, RSA-PSS keys, other curves) is
 * refused: no browser accepts it in the web PKI.
 */
static const char *key_problem(X509 *x, int depth, char *why, size_t n)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	if (pk == NULL)
		return fail(R_KEY, why, n, "the public key cannot be read", depth);
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA: {
		int bits = EVP_PKEY_get_bits(pk);
		if (bits < 2048)
			return fail(R_KEY, why, n, "RSA key shorter than 2048 bits", depth);
		if (bits % 8 != 0)
			return fail(R_KEY, why, n, "RSA modulus length not a multiple of 8", depth);
		return NULL;
	}
	case EVP_PKEY_EC: {
		char group[64];
		size_t glen = 0;
		if (EVP_PKEY_get_group_name(pk, group, sizeof group, &glen) != 1)
			return fail(R_KEY, why, n, "EC key without a named curve", depth);
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "secp521r1") == 0)
			return NULL;
		return fail(R_KEY, why, n, "EC curve other than P-256, P-384, P-521", depth);
	}
	case EVP_PKEY_DSA:
		return fail(R_KEY, why, n, "DSA key", depth);
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return fail(R_KEY, why, n, "EdDSA key (not allowed in the web PKI)", depth);
	default:
		return fail(R_KEY, why, n, "key type outside RSA and ECDSA P-256/P-384/P-521",
		            depth);
	}
}

/* RFC 5280 4.1.2.2: a positive integer of at most 20 octets. */
static const char *serial_problem(X509 *x, int depth, char *why, size_t n)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	if (s == NULL)
		return fail(R_SERIAL, why, n, "no serial number", depth);
	if (ASN1_STRING_type(s) == V_ASN1_NEG_INTEGER)
		return fail(R_SERIAL, why, n, "negative serial number", depth);
	int len = ASN1_STRING_length(s);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int nonzero = 0;
	for (int i = 0; d != NULL && i < len; i++)
		nonzero |= d[i];
	if (!nonzero)
		return fail(R_SERIAL, why, n, "serial number zero", depth);
	/* the magnitude; a sign octet in the encoding is not counted */
	if (len > MAX_SERIAL_OCTETS)
		return fail(R_SERIAL, why, n, "serial number longer than 20 octets", depth);
	return NULL;
}

/* ---- leaf ------------------------------------------------------------- */

static const char *eku_problem(X509 *leaf, char *why, size_t n)
{
	int crit = ext_crit(leaf, NID_ext_key_usage);
	if (crit < 0)
		return fail(R_EKU, why, n, "the leaf has no extendedKeyUsage (serverAuth required)",
		            0);
	if (crit != 0)
		return fail(R_EKU, why, n, "the leaf's extendedKeyUsage is critical", 0);
	uint32_t xku = X509_get_extended_key_usage(leaf);
	if ((xku & XKU_ANYEKU) != 0)
		return fail(R_EKU, why, n, "the leaf's extendedKeyUsage has anyExtendedKeyUsage", 0);
	if ((xku & XKU_SSL_SERVER) == 0)
		return fail(R_EKU, why, n, "the leaf's extendedKeyUsage lacks serverAuth", 0);
	return NULL;
}

/* Canonical text of an iPAddress SAN (inet_ntop: RFC 5952 for IPv6). */
static int ip_text(const ASN1_OCTET_STRING *ip, char *buf, size_t n)
{
	int l = ASN1_STRING_length(ip);
	const unsigned char *d = ASN1_STRING_get0_data(ip);
	if (l == 4)
		return inet_ntop(AF_INET, d, buf, (socklen_t)n) != NULL;
	if (l == 16)
		return inet_ntop(AF_INET6, d, buf, (socklen_t)n) != NULL;
	return 0;
}

/*
 * CABF BR 7.1.4.3: a subject CN, if present, is exactly one and a
 * character-for-character copy of a dNSName SAN or the canonical text of
 * an iPAddress SAN. certpin never matches the CN, but a CN that names
 * something the SANs do not is a mis-issued certificate.
 */
static const char *cn_problem(X509 *leaf, const GENERAL_NAMES *san, char *why, size_t n)
{
	const X509_NAME *subj = X509_get_subject_name(leaf);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (i < 0)
		return NULL;
	if (X509_NAME_get_index_by_NID(subj, NID_commonName, i) >= 0)
		return fail(R_CN, why, n, "more than one subject CN", 0);
	unsigned char *cn = NULL;
	int cl = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
	if (cl < 0)
		return fail(R_CN, why, n, "the subject CN cannot be read", 0);
	int found = 0;
	for (int k = 0; !found && k < sk_GENERAL_NAME_num(san); k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, k);
		const char *p;
		size_t len;
		char ip[INET6_ADDRSTRLEN];
		if (g->type == GEN_DNS && ia5_view(g->d.dNSName, &p, &len))
			found = len == (size_t)cl && memcmp(p, cn, len) == 0;
		else if (g->type == GEN_IPADD && ip_text(g->d.iPAddress, ip, sizeof ip))
			found = strlen(ip) == (size_t)cl && memcmp(ip, cn, (size_t)cl) == 0;
	}
	OPENSSL_free(cn);
	return found ? NULL
	             : fail(R_CN, why, n, "the subject CN is not a copy of a subjectAltName", 0);
}

/*
 * CABF 3.2.2.6: no wildcard over a public suffix (ICANN or private section
 * of the list: "*.co.uk", "*.s3.amazonaws.com"). Judged on the name the
 * connection is for: OpenSSL accepted host, so unless host is itself a
 * dNSName of the leaf it matched through "*.<parent of host>", and that
 * wildcard must not cover a public suffix. Other wildcards in the same
 * certificate do not matter (real certificates list "*.s3.amazonaws.com"
 * next to the exact names they are used for).
 */
static const char *psl_problem(const GENERAL_NAMES *san, const char *host, char *why, size_t n)
{
	size_t hlen = strlen(host);
	for (int k = 0; k < sk_GENERAL_NAME_num(san); k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, k);
		const char *p;
		size_t len;
		if (g->type == GEN_DNS && ia5_view(g->d.dNSName, &p, &len) && len == hlen &&
		    strncasecmp(p, host, len) == 0)
			return NULL;
	}
	if (cp_webpki_wildcard_over_public_suffix(host))
		return fail(R_PSL, why, n, "the host matched a wildcard over a public suffix", 0);
	return NULL;
}

static const char *san_problem(X509 *leaf, const char *host, int is_ip, char *why, size_t n)
{
	int crit = ext_crit(leaf, NID_subject_alt_name);
	if (crit < 0)
		return fail(R_SAN_PRESENT, why, n, "the leaf has no subjectAltName", 0);
	int empty_subject = X509_NAME_entry_count(X509_get_subject_name(leaf)) == 0;
	if (empty_subject && crit == 0)
		return fail(R_SAN_CRIT, why, n,
		            "subjectAltName not critical although the subject is empty", 0);
	if (!empty_subject && crit == 1)
		return fail(R_SAN_CRIT, why, n, "subjectAltName critical with a non-empty subject",
		            0);
	GENERAL_NAMES *san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	if (san == NULL)
		return fail(R_SAN_PRESENT, why, n, "the subjectAltName cannot be read", 0);
	const char *r = NULL;
	int names = 0;
	for (int k = 0; r == NULL && k < sk_GENERAL_NAME_num(san); k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, k);
		const char *p;
		size_t len;
		if (g->type == GEN_IPADD) {
			names++;
			continue;
		}
		if (g->type != GEN_DNS)
			continue;
		names++;
		if (!ia5_view(g->d.dNSName, &p, &len) ||
		    !cp_webpki_dns_syntax_ok((const unsigned char *)p, len, 1)) {
			r = fail(R_SAN_SYNTAX, why, n, "a dNSName is not a valid host name", 0);
			break;
		}
	}
	if (r == NULL && names == 0)
		r = fail(R_SAN_PRESENT, why, n, "the subjectAltName has no dNSName or iPAddress", 0);
	if (r == NULL && host != NULL && !is_ip)
		r = psl_problem(san, host, why, n);
	if (r == NULL)
		r = cn_problem(leaf, san, why, n);
	GENERAL_NAMES_free(san);
	return r;
}

static const char *leaf_problem(X509 *leaf, const char *host, int is_ip, char *why, size_t n)
{
	if (X509_get_version(leaf) != X509_VERSION_3)
		return fail(R_V3, why, n, "not a version 3 certificate", 0);
	/* basicConstraints cA=TRUE, whatever keyUsage says (CABF 7.1.2.7.8) */
	if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 || X509_check_ca(leaf) != 0)
		return fail(R_LEAF_NOT_CA, why, n, "the leaf is a CA certificate (cA=TRUE)", 0);
	if ((X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN) != 0 &&
	    (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) != 0)
		return fail(R_LEAF_KU, why, n, "the leaf's keyUsage has keyCertSign", 0);
	if (ext_crit(leaf, NID_name_constraints) >= 0)
		return fail(R_NC, why, n, "nameConstraints in an end-entity certificate", 0);
	const char *r = eku_problem(leaf, why, n);
	if (r == NULL)
		r = san_problem(leaf, host, is_ip, why, n);
	return r;
}

/* ---- every certificate, CA certificates ------------------------------- */

static const char *aia_problem(X509 *x, int depth, char *why, size_t n)
{
	if (ext_crit(x, NID_info_access) < 0)
		return NULL;
	AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	int ok = aia != NULL && sk_ACCESS_DESCRIPTION_num(aia) > 0;
	AUTHORITY_INFO_ACCESS_free(aia);
	return ok ? NULL
	          : fail(R_AIA, why, n, "authorityInfoAccess without an access description", depth);
}

/*
 * nameConstraints in a CA (RFC 5280 4.2.1.10, CABF 7.1.2.5.2): readable, at least one non-empty subtree list, dNSName bases in host-name
 * syntax; and a wildcard dNSName in the leaf must not reach into an excluded
 * dNSName subtree (OpenSSL compares the wildcard as a literal name, so
 * "*.example.com" passes an exclusion of "bar.example.com").
 */
static const char *nc_problem(X509 *ca, int depth, const GENERAL_NAMES *leaf_san, char *why,
                              size_t n)
{
	/*
	 * Criticality is not required: CABF 7.1.2.5.2 lets a CA mark it
	 * non-critical for clients that do not process it (RFC 5280 says
	 * MUST be critical; limbo has one case for each view).
	 */
	if (ext_crit(ca, NID_name_constraints) < 0)
		return NULL;
	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
	if (nc == NULL)
		return fail(R_NC, why, n, "nameConstraints cannot be read", depth);
	const char *r = NULL;
	if (sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) <= 0 &&
	    sk_GENERAL_SUBTREE_num(nc->excludedSubtrees) <= 0)
		r = fail(R_NC, why, n, "nameConstraints with no permitted or excluded subtree",
		         depth);
	for (int pass = 0; r == NULL && pass < 2; pass++) {
		STACK_OF(GENERAL_SUBTREE) *st = pass ? nc->excludedSubtrees : nc->permittedSubtrees;
		for (int k = 0; r == NULL && k < sk_GENERAL_SUBTREE_num(st); k++) {
			const GENERAL_NAME *b = sk_GENERAL_SUBTREE_value(st, k)->base;
			const char *e;
			size_t elen;
			if (b->type != GEN_DNS)
				continue;
			if (!ia5_view(b->d.dNSName, &e, &elen) ||
			    (elen > 0 && !cp_webpki_dns_syntax_ok((const unsigned char *)e, elen, 0))) {
				r = fail(R_NC, why, n, "a dNSName constraint is not a host name", depth);
				break;
			}
			for (int s = 0; pass == 1 && r == NULL && s < sk_GENERAL_NAME_num(leaf_san);
			     s++) {
				const GENERAL_NAME *g = sk_GENERAL_NAME_value(leaf_san, s);
				const char *p;
				size_t len;
				if (g->type == GEN_DNS && ia5_view(g->d.dNSName, &p, &len) && len > 2 &&
				    p[0] == '*' && p[1] == '.' &&
				    wildcard_meets_subtree(p + 2, len - 2, e, elen))
					r = fail(R_NC, why, n,
					         "a wildcard dNSName of the leaf reaches an excluded subtree",
					         depth);
			}
		}
	}
	NAME_CONSTRAINTS_free(nc);
	return r;
}

static const char *ca_problem(X509 *ca, int depth, int anchor, const GENERAL_NAMES *leaf_san,
                              char *why, size_t n)
{
	if (X509_get_version(ca) != X509_VERSION_3)
		return fail(R_V3, why, n, "not a version 3 certificate", depth);
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
	int bc_ok = bc != NULL && bc->ca && crit == 1;
	BASIC_CONSTRAINTS_free(bc);
	if (!bc_ok)
		return fail(R_CA_BC, why, n, "CA certificate without a critical cA=TRUE", depth);
	if (X509_get0_subject_key_id(ca) == NULL)
		return fail(R_SKI, why, n, "CA certificate without subjectKeyIdentifier", depth);
	/*
	 * RFC 5280 4.2.1.1: every CA certificate but a self-signed root names
	 * its issuer's key; CABF 7.1.2.1.3: a root's AKI, if any, has a keyIdentifier.
	 */
	int has_aki = ext_crit(ca, NID_authority_key_identifier) >= 0;
	int self_issued = (X509_get_extension_flags(ca) & EXFLAG_SI) != 0;
	if ((has_aki || !(anchor && self_issued)) && X509_get0_authority_key_id(ca) == NULL)
		return fail(R_AKI, why, n, "authorityKeyIdentifier without a keyIdentifier", depth);
	int pc = ext_crit(ca, NID_policy_constraints);
	if (pc >= 0 && pc != 1)
		return fail(R_PC, why, n, "policyConstraints not marked critical", depth);
	return nc_problem(ca, depth, leaf_san, why, n);
}

const char *cp_webpki_chain_problem(STACK_OF(X509) *chain, const char *host, int is_ip,
                                    char *why, size_t n)
{
	int cn = sk_X509_num(chain);
	X509 *leaf = cn > 0 ? sk_X509_value(chain, 0) : NULL;
	if (leaf == NULL)
		return fail(R_V3, why, n, "empty chain", 0);
	const char *r = leaf_problem(leaf, host, is_ip, why, n);
	for (int i = 0; r == NULL && i < cn; i++) {
		X509 *x = sk_X509_value(chain, i);
		r = key_problem(x, i, why, n);
		/* a trust anchor's serial is the root program's business */
		if (r == NULL && (i < cn - 1 || cn == 1))
			r = serial_problem(x, i, why, n);
		if (r == NULL)
			r = aia_problem(x, i, why, n);
	}
	if (r != NULL || cn < 2)
		return r;
	GENERAL_NAMES *san = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (int i = 1; r == NULL && i < cn; i++)
		r = ca_problem(sk_X509_value(chain, i), i, i == cn - 1, san, why, n);
	GENERAL_NAMES_free(san);
	return r;
}

const char *cp_webpki_hostname_problem(X509 *leaf, char *why, size_t n)
{
	if (leaf == NULL)
		return NULL;
	if (X509_get_version(leaf) != X509_VERSION_3)
		return fail(R_V3, why, n,
		            "not a version 3 certificate: no subjectAltName, and the subject CN "
		            "is never used for the host name",
		            0);
	if (ext_crit(leaf, NID_subject_alt_name) < 0)
		return fail(R_SAN_PRESENT, why, n,
		            "the leaf has no subjectAltName, and the subject CN is never used for "
		            "the host name",
		            0);
	return NULL;
}
