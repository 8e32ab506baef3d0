/*
 * The names of the web-PKI rules (docs/webpki.md), shared by the OpenSSL
 * rules (webpki_openssl.c) and the mbedTLS adapter (mbedtls.c): a verdict's
 * reason starts with the rule's name in both builds.
 */
#ifndef CERTPIN_WEBPKI_RULES_H
#define CERTPIN_WEBPKI_RULES_H

#define R_AIA "webpki.aia-syntax"
#define R_AKI "webpki.aki-key-id"
#define R_CA_BC "webpki.ca-basic-constraints"
#define R_CN "webpki.cn-in-san"
#define R_EKU "webpki.eku-server-auth"
#define R_KEY "webpki.key-type"
#define R_LEAF_KU "webpki.leaf-key-usage"
#define R_LEAF_NOT_CA "webpki.leaf-not-ca"
#define R_NC "webpki.name-constraints"
#define R_PC "webpki.policy-constraints-critical"
#define R_PSL "webpki.public-suffix-wildcard"
#define R_SAN_CRIT "webpki.san-criticality"
#define R_SAN_PRESENT "webpki.san-present"
#define R_SAN_SYNTAX "webpki.san-dns-syntax"
#define R_SERIAL "webpki.serial-number"
#define R_SKI "webpki.ca-ski"
#define R_V3 "webpki.v3"

#endif
