/*
 * Host → rule index: one open-addressing hash table (linear probing,
 * power-of-two capacity, load at most 1/2) keyed by the normalised name.
 *
 * The slot is chosen from the name alone, not the kind, so "x", "*.x" and
 * "**.x" sit in the same probe run: one probe per suffix of the host answers
 * every kind at once, and a lookup costs one probe per label of the host
 * whatever the number of rules. A slot is 8 bytes (32 bits of hash as a tag,
 * rule position and kind); names are borrowed from the rules and compared
 * only when the tag matches.
 *
 * A name's hash is chained label by label from the right (each label hashed
 * a word at a time onto the hash of the suffix after it), so one
 * right-to-left pass over the host yields the hash of every parent suffix.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A slot ref is (rule position + 1) << 2 | kind, 0 for an empty slot. */
#define INDEX_MAX_RULES (1u << 28)
/* A normalised name of 253 bytes has at most 127 labels. */
#define MAX_LABELS ((CERTPIN_HOST_MAX + 1) / 2)

#define HASH_SEED 0x9e3779b97f4a7c15u

struct cp_slot {
	uint32_t tag;
	uint32_t ref;
};

struct cp_index {
	const struct certpin_rule *rules;
	size_t n;
	size_t mask; /* capacity - 1 */
	struct cp_slot *slots;
};

/* xorshift-multiply-xorshift: every input bit reaches the low (slot) bits. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93u;
	h ^= h >> 32;
	return h;
}

/* Chains label p[0..n) (n > 0) onto h, the hash of the suffix after it. */
static uint64_t hash_label(uint64_t h, const char *p, size_t n)
{
	h ^= n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = mix(h ^ w);
		p += 8;
		n -= 8;
	}
	if (n > 0) {
		uint64_t w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)(unsigned char)p[i] << (8 * i);
		h = mix(h ^ w);
	}
	return mix(h + HASH_SEED);
}

/*
 * Hashes of the suffixes of s[0..n) that start at a label, from the last
 * label (r = 0) to the whole name (r = *nl - 1), with their start offsets.
 * Returns 0 for an empty label or more than MAX_LABELS labels.
 */
static int suffix_hashes(const char *s, size_t n, size_t starts[MAX_LABELS],
                         uint64_t sums[MAX_LABELS], size_t *nl)
{
	uint64_t h = HASH_SEED;
	size_t end = n, r = 0;
	for (size_t i = n; i-- > 0;) {
		if (s[i] != '.' && i > 0)
			continue;
		size_t start = s[i] == '.' ? i + 1 : 0;
		if (start == end || r == MAX_LABELS)
			return 0;
		h = hash_label(h, s + start, end - start);
		starts[r] = start;
		sums[r] = h;
		r++;
		if (s[i] == '.' && i == 0)
			return 0; /* leading dot */
		end = i;
	}
	*nl = r;
	return r > 0;
}

static uint64_t hash_name(const char *s, size_t n, int *ok)
{
	size_t starts[MAX_LABELS], nl = 0;
	uint64_t sums[MAX_LABELS];
	*ok = suffix_hashes(s, n, starts, sums, &nl);
	return *ok ? sums[nl - 1] : 0;
}

static size_t slot_rule(uint32_t ref)
{
	return (size_t)(ref >> 2) - 1;
}

static unsigned slot_kind(uint32_t ref)
{
	return ref & 3u;
}

static int same_name(const struct certpin_rule *r, const char *name, size_t len)
{
	return r->key.len == len && memcmp(r->key.name, name, len) == 0;
}

certpin_err cp_index_build(const struct certpin_rule *rules, size_t n, cp_index **out,
                           size_t *dup_a, size_t *dup_b)
{
	if (out == NULL || (rules == NULL && n > 0))
		return CERTPIN_E_INVALID_ARG;
	*out = NULL;
	if (n > INDEX_MAX_RULES)
		return CERTPIN_E_TOO_LARGE;

	size_t cap = 16;
	while (cap < 2 * n)
		cap <<= 1;
	cp_index *idx = calloc(1, sizeof *idx);
	struct cp_slot *slots = calloc(cap, sizeof *slots);
	if (idx == NULL || slots == NULL) {
		free(idx);
		free(slots);
		return CERTPIN_E_NOMEM;
	}
	idx->rules = rules;
	idx->n = n;
	idx->mask = cap - 1;
	idx->slots = slots;

	for (size_t i = 0; i < n; i++) {
		const cp_host_key *key = &rules[i].key;
		unsigned kind;
		switch (key->kind) {
		case CP_HOST_EXACT:
		case CP_HOST_WILDCARD:
		case CP_HOST_SUBTREE:
			kind = key->kind;
			break;
		default:
			cp_index_free(idx);
			return CERTPIN_E_INVALID_ARG;
		}
		if (key->name == NULL || key->len == 0 || key->len > CERTPIN_HOST_MAX) {
			cp_index_free(idx);
			return CERTPIN_E_INVALID_ARG;
		}
		int ok;
		uint64_t h = hash_name(key->name, key->len, &ok);
		if (!ok) {
			cp_index_free(idx);
			return CERTPIN_E_INVALID_ARG;
		}
		uint32_t tag = (uint32_t)(h >> 32);
		size_t s = (size_t)h & idx->mask;
		while (slots[s].ref != 0) {
			uint32_t ref = slots[s].ref;
			if (slots[s].tag == tag && slot_kind(ref) == kind &&
			    same_name(&rules[slot_rule(ref)], key->name, key->len)) {
				if (dup_a != NULL)
					*dup_a = slot_rule(ref);
				if (dup_b != NULL)
					*dup_b = i;
				cp_index_free(idx);
				return CERTPIN_E_DUPLICATE;
			}
			s = (s + 1) & idx->mask;
		}
		slots[s].tag = tag;
		slots[s].ref = (uint32_t)((i + 1) << 2) | kind;
	}
	*out = idx;
	return CERTPIN_OK;
}

/*
 * Finds the rules named `name` whose kind is in `want` (a bit per kind) and
 * puts each in found[kind]. The probe run ends at an empty slot, which
 * exists because the table is at most half full.
 */
static void probe(const cp_index *idx, uint64_t h, const char *name, size_t len, unsigned want,
                  const struct certpin_rule *found[3])
{
	uint32_t tag = (uint32_t)(h >> 32);
	size_t s = (size_t)h & idx->mask;
	for (;;) {
		uint32_t ref = idx->slots[s].ref;
		if (ref == 0)
			return;
		if (idx->slots[s].tag == tag && (want & (1u << slot_kind(ref))) != 0) {
			const struct certpin_rule *r = &idx->rules[slot_rule(ref)];
			if (same_name(r, name, len))
				found[slot_kind(ref)] = r;
		}
		s = (s + 1) & idx->mask;
	}
}

const struct certpin_rule *cp_index_lookup(const cp_index *idx, const char *host, size_t len,
                                           int is_ip)
{
	size_t starts[MAX_LABELS], nl;
	uint64_t sums[MAX_LABELS];
	const struct certpin_rule *found[3] = {NULL, NULL, NULL};

	if (idx == NULL || host == NULL || len == 0 || len > CERTPIN_HOST_MAX || idx->n == 0)
		return NULL;
	/* sums[nl - 1] is the whole name, sums[nl - 1 - k] its parent k labels up. */
	if (!suffix_hashes(host, len, starts, sums, &nl))
		return NULL;

	/* 1) the name itself: exact beats "**.host"; IP literals take no pattern. */
	unsigned want = (1u << CP_HOST_EXACT) | (is_ip ? 0u : 1u << CP_HOST_SUBTREE);
	probe(idx, sums[nl - 1], host, len, want, found);
	if (found[CP_HOST_EXACT] != NULL)
		return found[CP_HOST_EXACT];
	if (is_ip)
		return NULL;
	if (found[CP_HOST_SUBTREE] != NULL)
		return found[CP_HOST_SUBTREE];

	/* 2) parents, longest first: "*.p" one label up only, then "**.p". */
	for (size_t r = nl - 1; r-- > 0;) {
		want = 1u << CP_HOST_SUBTREE;
		if (r == nl - 2)
			want |= 1u << CP_HOST_WILDCARD;
		probe(idx, sums[r], host + starts[r], len - starts[r], want, found);
		if (found[CP_HOST_WILDCARD] != NULL)
			return found[CP_HOST_WILDCARD];
		if (found[CP_HOST_SUBTREE] != NULL)
			return found[CP_HOST_SUBTREE];
	}
	return NULL;
}

void cp_index_free(cp_index *idx)
{
	if (idx == NULL)
		return;
	free(idx->slots);
	free(idx);
}

size_t cp_index_memory(const cp_index *idx)
{
	if (idx == NULL)
		return 0;
	return sizeof *idx + (idx->mask + 1) * sizeof *idx->slots;
}
