/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for libblock/chunker.c (FastCDC): parameter checks,
 * determinism, a golden vector that pins the gear table and the algorithm
 * across machines, streaming == one-shot whatever the feed sizes, size
 * bounds, mean chunk size, and shift resistance (an inserted byte moves
 * only nearby boundaries, so almost every block id from blk_codec_encode
 * survives).
 *
 * Test data comes from xorshift64* (Vigna 2016): x ^= x >> 12; x ^= x << 25;
 * x ^= x >> 27; output x * 0x2545f4914f6cdd1d, written as 8 little-endian
 * bytes per step, so the stream is the same on every machine.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blk/chunker.h"
#include "blk/codec.h"
#include "cf_util.h"

#define MIB	    (1024u * 1024)
#define GOLDEN_SEED UINT64_C(0x636c6f7564667321) /* "cloudfs!" */

static const struct blk_chunker_params small_params = { 2048, 8192, 65536 };
/* The masks switch at max (max = avg + 1), or at min (min > 3/4 avg). */
static const struct blk_chunker_params norm_at_max = { 192, 256, 257 };
static const struct blk_chunker_params norm_at_min = { 224, 256, 1024 };

static uint64_t xorshift64s(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Fill size bytes (a multiple of 8) from the PRNG state *x. */
static void fill_random(uint8_t *p, size_t size, uint64_t *x)
{
	size_t i;

	for (i = 0; i < size; i += 8)
		cf_put_le64(p + i, xorshift64s(x));
}

static uint8_t *random_buf(size_t size, uint64_t seed)
{
	uint8_t *p = malloc(size);

	assert_non_null(p);
	fill_random(p, size, &seed);
	return p;
}

/* A growable list of cut offsets (end of each chunk, the last included). */
struct cuts {
	size_t *off;
	size_t count;
	size_t cap;
};

static void cuts_push(struct cuts *c, size_t off)
{
	if (c->count == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->off = realloc(c->off, c->cap * sizeof(*c->off));
		assert_non_null(c->off);
	}
	c->off[c->count++] = off;
}

static void cuts_release(struct cuts *c)
{
	free(c->off);
	memset(c, 0, sizeof(*c));
}

/* Boundaries of data found with blk_chunker_cut, one chunk at a time. */
static void cuts_one_shot(const struct blk_chunker_params *p,
			  const uint8_t *data, size_t size, struct cuts *out)
{
	size_t off = 0, n;

	memset(out, 0, sizeof(*out));
	while (off < size) {
		n = blk_chunker_cut(p, data + off, size - off);
		assert_true(n > 0);
		off += n;
		cuts_push(out, off);
	}
}

/*
 * Boundaries found by streaming data through one chunker in feeds whose
 * sizes come from next_feed (1..whatever), as a reader of a pipe would.
 */
typedef size_t feed_fn(uint64_t *state);

static void cuts_streaming(const struct blk_chunker_params *p,
			   const uint8_t *data, size_t size, feed_fn *next_feed,
			   uint64_t feed_state, struct cuts *out)
{
	struct blk_chunker *c;
	size_t off = 0, feed, end, n;
	bool cut;

	memset(out, 0, sizeof(*out));
	assert_int_equal(blk_chunker_new(p, &c), 0);
	while (off < size) {
		feed = next_feed(&feed_state);
		end = off + CF_MIN(feed, size - off);
		while (off < end) {
			n = blk_chunker_scan(c, data + off, end - off, &cut);
			off += n;
			if (cut)
				cuts_push(out, off);
			else
				assert_int_equal(off, end);
		}
	}
	if (blk_chunker_pending(c) > 0)
		cuts_push(out, off);
	blk_chunker_free(c);
}

static void assert_cuts_equal(const struct cuts *a, const struct cuts *b)
{
	size_t i;

	assert_int_equal(a->count, b->count);
	for (i = 0; i < a->count; i++)
		assert_int_equal(a->off[i], b->off[i]);
}

static void test_chunker__params_check(void **state)
{
	struct blk_chunker_params p = BLK_CHUNKER_PARAMS_DEFAULT;
	struct blk_chunker *c = (struct blk_chunker *)&p;

	(void)state;
	assert_int_equal(blk_chunker_params_check(&p), 0);
	assert_int_equal(blk_chunker_params_check(&small_params), 0);
	assert_int_equal(blk_chunker_params_check(NULL), -EINVAL);

	/* The extremes the limits allow. */
	p = (struct blk_chunker_params){ BLK_CHUNK_MIN_LIMIT, 128, 129 };
	assert_int_equal(blk_chunker_params_check(&p), 0);
	p = (struct blk_chunker_params){ 4 * MIB - 1, 4 * MIB,
					 BLK_CHUNK_MAX_LIMIT };
	assert_int_equal(blk_chunker_params_check(&p), 0);

	p = (struct blk_chunker_params){ BLK_CHUNK_MIN_LIMIT - 1, 128, 1024 };
	assert_int_equal(blk_chunker_params_check(&p), -EINVAL);
	p = (struct blk_chunker_params){ 8192, 8192, 65536 }; /* min == avg */
	assert_int_equal(blk_chunker_params_check(&p), -EINVAL);
	p = (struct blk_chunker_params){ 2048, 8192, 8192 }; /* avg == max */
	assert_int_equal(blk_chunker_params_check(&p), -EINVAL);
	p = (struct blk_chunker_params){ 2048, 12288, 65536 }; /* not 2^n */
	assert_int_equal(blk_chunker_params_check(&p), -EINVAL);
	p = (struct blk_chunker_params){ 2048, 8192, BLK_CHUNK_MAX_LIMIT + 1 };
	assert_int_equal(blk_chunker_params_check(&p), -EINVAL);
	p = (struct blk_chunker_params){ 0, 0, 0 };
	assert_int_equal(blk_chunker_params_check(&p), -EINVAL);

	/* A constructor refusing params leaves *out NULL. */
	assert_int_equal(blk_chunker_new(&p, &c), -EINVAL);
	assert_null(c);
	blk_chunker_free(NULL);
}

static void test_chunker__deterministic(void **state)
{
	const size_t size = 4 * MIB;
	struct blk_chunker *c;
	uint8_t *data = random_buf(size, 42);
	struct cuts a, b;
	size_t n;
	bool cut;

	(void)state;
	cuts_one_shot(&small_params, data, size, &a);
	cuts_one_shot(&small_params, data, size, &b);
	assert_cuts_equal(&a, &b);
	assert_true(a.count > 100);

	/* A reset chunker forgets a half-seen chunk. */
	assert_int_equal(blk_chunker_new(&small_params, &c), 0);
	n = blk_chunker_scan(c, data + 1000, 5000, &cut);
	assert_false(cut);
	assert_int_equal(n, 5000);
	assert_int_equal(blk_chunker_pending(c), 5000);
	blk_chunker_reset(c);
	assert_int_equal(blk_chunker_pending(c), 0);
	n = blk_chunker_scan(c, data, size, &cut);
	assert_true(cut);
	assert_int_equal(n, a.off[0]);
	assert_int_equal(blk_chunker_pending(c), 0);
	blk_chunker_free(c);
	cuts_release(&a);
	cuts_release(&b);
	free(data);
}

/*
 * The golden vector: the boundaries of the first 8 MiB of xorshift64* from
 * GOLDEN_SEED, default params (64 KiB / 256 KiB / 1 MiB), as offsets of
 * each chunk's end. An independent byte-at-a-time Python model of the
 * algorithm gives the same list: gear table from hashlib, one byte and one
 * mask test per step, and the normalization point found by bisection on
 * the same E[size] formula in floats (math.log1p / exp) rather than Q59
 * (215589 for the defaults, 6738 for the small params). If this fails, the
 * gear table, the masks, the normalization point or the cut rules changed:
 * existing volumes would lose their dedup.
 */
static const size_t golden_default[] = {
	320779,	 604120,  831465,  1052740, 1296924, 1529851, 1805568, 2025245,
	2250385, 2481189, 2737006, 3020846, 3314304, 3644523, 3896463, 4191622,
	4518418, 4839485, 5057882, 5275451, 5538267, 5775598, 6024289, 6257025,
	6557112, 6923182, 7154603, 7605450, 7841222, 8065284, 8281791, 8388608,
};

/* The same stream with small params (2 / 8 / 64 KiB): the first cuts... */
static const size_t golden_small_head[] = {
	10830,	19155,	27349,	35038,	45998,	55366,	63702,	71265,
	78390,	85308,	93594,	100535, 108006, 118355, 131725, 146789,
	156526, 168986, 180090, 187210, 195875, 202639, 210643, 224584,
};
/* ... how many chunks in all, and the sum of all their end offsets. */
#define GOLDEN_SMALL_COUNT 1035
#define GOLDEN_SMALL_SUM   UINT64_C(4407027256)

static void test_chunker__golden_vector(void **state)
{
	const size_t size = 8 * MIB;
	uint8_t *data = random_buf(size, GOLDEN_SEED);
	uint64_t sum = 0;
	struct cuts c;
	size_t i;

	(void)state;
	cuts_one_shot(&BLK_CHUNKER_PARAMS_DEFAULT, data, size, &c);
	assert_int_equal(c.count, CF_ARRAY_SIZE(golden_default));
	for (i = 0; i < c.count; i++)
		assert_int_equal(c.off[i], golden_default[i]);
	cuts_release(&c);

	cuts_one_shot(&small_params, data, size, &c);
	assert_int_equal(c.count, GOLDEN_SMALL_COUNT);
	for (i = 0; i < CF_ARRAY_SIZE(golden_small_head); i++)
		assert_int_equal(c.off[i], golden_small_head[i]);
	for (i = 0; i < c.count; i++)
		sum += c.off[i];
	assert_int_equal(sum, GOLDEN_SMALL_SUM);
	cuts_release(&c);
	free(data);
}

static size_t feed_one(uint64_t *st)
{
	(void)st;
	return 1;
}

/* Cycles through a few primes, odd so pairs straddle feeds both ways. */
static size_t feed_primes(uint64_t *st)
{
	static const size_t primes[] = {
		2, 3, 7, 4093, 65521, 262139, 1048573
	};

	return primes[(*st)++ % CF_ARRAY_SIZE(primes)];
}

static size_t feed_random(uint64_t *st)
{
	return 1 + (size_t)(xorshift64s(st) % (3 * MIB));
}

static size_t feed_small_random(uint64_t *st)
{
	return 1 + (size_t)(xorshift64s(st) % 300);
}

static void check_streaming(const struct blk_chunker_params *p,
			    const uint8_t *data, size_t size, size_t one_size)
{
	struct cuts ref, got;
	uint64_t seed;

	cuts_one_shot(p, data, size, &ref);

	/* One byte at a time over a prefix (every byte is its own call). */
	cuts_streaming(p, data, one_size, feed_one, 0, &got);
	cuts_release(&ref);
	cuts_one_shot(p, data, one_size, &ref);
	assert_cuts_equal(&ref, &got);
	cuts_release(&got);
	cuts_release(&ref);

	cuts_one_shot(p, data, size, &ref);
	cuts_streaming(p, data, size, feed_primes, 0, &got);
	assert_cuts_equal(&ref, &got);
	cuts_release(&got);
	for (seed = 1; seed <= 8; seed++) {
		cuts_streaming(p, data, size, feed_random, seed, &got);
		assert_cuts_equal(&ref, &got);
		cuts_release(&got);
	}
	cuts_streaming(p, data, size, feed_small_random, 99, &got);
	assert_cuts_equal(&ref, &got);
	cuts_release(&got);
	cuts_release(&ref);
}

static void test_chunker__streaming_equals_one_shot(void **state)
{
	const size_t size = 12 * MIB;
	uint8_t *data = random_buf(size, 7);

	(void)state;
	check_streaming(&BLK_CHUNKER_PARAMS_DEFAULT, data, size, 3 * MIB);
	check_streaming(&small_params, data, size, 1 * MIB);
	check_streaming(&norm_at_max, data, MIB, 64 * 1024);
	check_streaming(&norm_at_min, data, MIB, 64 * 1024);
	free(data);
}

static void test_chunker__cut_edge_cases(void **state)
{
	const struct blk_chunker_params *p = &small_params;
	uint8_t *data = random_buf(MIB, 11);
	struct blk_chunker *c;
	size_t first;
	bool cut;

	(void)state;
	/* Shorter than min: one last chunk; empty: nothing. */
	assert_int_equal(blk_chunker_cut(p, data, 0), 0);
	assert_int_equal(blk_chunker_cut(p, data, 1), 1);
	assert_int_equal(blk_chunker_cut(p, data, p->min_size), p->min_size);

	/* The one-shot cut is the streaming scan's first boundary. */
	first = blk_chunker_cut(p, data, MIB);
	assert_true(first >= p->min_size && first <= p->max_size);
	assert_int_equal(blk_chunker_cut(p, data, first), first);
	assert_int_equal(blk_chunker_cut(p, data, first - 1), first - 1);
	assert_int_equal(blk_chunker_new(p, &c), 0);
	assert_int_equal(blk_chunker_scan(c, data, 0, &cut), 0);
	assert_false(cut);
	assert_int_equal(blk_chunker_scan(c, data, MIB, &cut), first);
	assert_true(cut);
	assert_int_equal(blk_chunker_pending(c), 0);
	blk_chunker_free(c);
	free(data);
}

/* Every chunk but the last is within [min, max]; the last is <= max. */
static void check_bounds(const struct blk_chunker_params *p,
			 const uint8_t *data, size_t size)
{
	struct cuts c;
	size_t i, prev = 0, len;

	cuts_one_shot(p, data, size, &c);
	for (i = 0; i < c.count; i++) {
		len = c.off[i] - prev;
		if (i + 1 < c.count)
			assert_true(len >= p->min_size);
		assert_true(len > 0 && len <= p->max_size);
		prev = c.off[i];
	}
	assert_int_equal(prev, size);
	cuts_release(&c);
}

static void test_chunker__chunks_within_bounds(void **state)
{
	const size_t size = 16 * MIB;
	const struct blk_chunker_params tiny = { 64, 128, 256 };
	uint8_t *data = random_buf(size, 3);
	struct cuts c;
	size_t i;

	(void)state;
	check_bounds(&BLK_CHUNKER_PARAMS_DEFAULT, data, size);
	check_bounds(&small_params, data, size);
	check_bounds(&tiny, data, MIB);
	check_bounds(&norm_at_max, data, MIB);
	check_bounds(&norm_at_min, data, MIB);
	check_bounds(&small_params, data, 100000);

	/* Low-entropy data: bounds hold; all zeros cut at max. */
	for (i = 0; i < size; i++)
		data[i] = (uint8_t)(i % 7 == 0 ? i >> 13 : 0);
	check_bounds(&BLK_CHUNKER_PARAMS_DEFAULT, data, size);
	check_bounds(&small_params, data, size);
	memset(data, 0, size);
	check_bounds(&BLK_CHUNKER_PARAMS_DEFAULT, data, size);
	cuts_one_shot(&BLK_CHUNKER_PARAMS_DEFAULT, data, size, &c);
	assert_int_equal(c.count, size / BLK_CHUNK_MAX_DEFAULT);
	cuts_release(&c);
	free(data);
}

/*
 * The normalization point is solved so that the expected chunk size on
 * random data is avg (see chunker.c); the bound is +-5%, for min = avg / 4
 * (default and small params), avg / 2 and avg / 8. 256 MiB, made and fed
 * 1 MiB at a time, give over 1000 chunks of 256 KiB: a standard error of
 * about 1% of avg (the sizes' spread is about 0.3 avg).
 */
static void test_chunker__mean_near_avg(void **state)
{
	const struct blk_chunker_params params[] = {
		BLK_CHUNKER_PARAMS_DEFAULT,
		small_params,
		{ 128 * 1024, 256 * 1024, MIB }, /* min = avg / 2 */
		{ 32 * 1024, 256 * 1024, MIB }, /* min = avg / 8 */
	};
	enum { N = CF_ARRAY_SIZE(params) };
	const size_t size = 256 * MIB, feed = MIB;
	struct blk_chunker *c[N];
	size_t count[N] = { 0 }, end[N] = { 0 }, off, i, n;
	uint8_t *data = malloc(feed);
	uint64_t seed = 5;
	double mean;
	bool cut;

	(void)state;
	assert_non_null(data);
	for (i = 0; i < N; i++)
		assert_int_equal(blk_chunker_new(&params[i], &c[i]), 0);
	for (off = 0; off < size; off += feed) {
		fill_random(data, feed, &seed);
		for (i = 0; i < N; i++) {
			for (n = 0; n < feed;) {
				n += blk_chunker_scan(c[i], data + n, feed - n,
						      &cut);
				if (!cut)
					continue;
				/* Only whole chunks: the last one is left out. */
				count[i]++;
				end[i] = off + n;
			}
		}
	}
	for (i = 0; i < N; i++) {
		mean = (double)end[i] / (double)count[i];
		print_message("# mean chunk %.0f bytes for %u/%u/%u (%.3f)\n",
			      mean, params[i].min_size, params[i].avg_size,
			      params[i].max_size, mean / params[i].avg_size);
		assert_true(mean >= 0.95 * params[i].avg_size);
		assert_true(mean <= 1.05 * params[i].avg_size);
		blk_chunker_free(c[i]);
	}
	free(data);
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct blk_id));
}

/*
 * Sorted block ids, from the real codec under a fixed test key, of the
 * chunks of data; *out_count of them; caller frees.
 */
static struct blk_id *chunk_ids(const struct blk_chunker_params *p,
				const uint8_t *data, size_t size,
				size_t *out_count)
{
	struct blk_codec_opts opts = BLK_CODEC_OPTS_DEFAULT;
	struct blk_volume_keys keys;
	struct blk_codec *codec;
	struct blk_blob blob;
	struct blk_id *ids;
	struct cuts c;
	size_t i, prev = 0;

	memset(&keys, 0x11, sizeof(keys));
	opts.max_chunk_size = p->max_size;
	assert_int_equal(blk_codec_new(&keys, &opts, &codec), 0);
	cuts_one_shot(p, data, size, &c);
	ids = calloc(c.count, sizeof(*ids));
	assert_non_null(ids);
	for (i = 0; i < c.count; i++) {
		assert_int_equal(blk_codec_encode(codec, data + prev,
						  c.off[i] - prev, &blob),
				 0);
		ids[i] = blob.id;
		prev = c.off[i];
	}
	qsort(ids, c.count, sizeof(*ids), id_cmp);
	*out_count = c.count;
	cuts_release(&c);
	blk_codec_free(codec);
	return ids;
}

/* How many ids of b are also in a (both sorted). */
static size_t ids_shared(const struct blk_id *a, size_t a_count,
			 const struct blk_id *b, size_t b_count)
{
	size_t i;
	size_t shared = 0;

	for (i = 0; i < b_count; i++)
		if (bsearch(&b[i], a, a_count, sizeof(*a), id_cmp))
			shared++;
	return shared;
}

/*
 * Insert one byte at offset at of a random buffer: at least 95% of the
 * chunk ids of the edited copy exist in the original, and all boundaries
 * more than max_size past the edit survive, shifted by one.
 */
static void check_shift(const struct blk_chunker_params *p, size_t size,
			size_t at)
{
	uint8_t *orig = random_buf(size, 13);
	uint8_t *edit = malloc(size + 1);
	struct blk_id *ids_a, *ids_b;
	size_t a_count, b_count, shared, i, j;
	struct cuts ca, cb;

	assert_non_null(edit);
	memcpy(edit, orig, at);
	edit[at] = 0xa5;
	memcpy(edit + at + 1, orig + at, size - at);

	ids_a = chunk_ids(p, orig, size, &a_count);
	ids_b = chunk_ids(p, edit, size + 1, &b_count);
	shared = ids_shared(ids_a, a_count, ids_b, b_count);
	print_message("# insert at %zu: %zu of %zu chunks kept\n", at, shared,
		      b_count);
	assert_true(shared * 100 >= b_count * 95);
	assert_true(b_count - shared <= 3);

	cuts_one_shot(p, orig, size, &ca);
	cuts_one_shot(p, edit, size + 1, &cb);
	for (i = 0, j = 0; i < ca.count; i++) {
		if (ca.off[i] <= at + p->max_size)
			continue;
		while (j < cb.count && cb.off[j] < ca.off[i] + 1)
			j++;
		assert_true(j < cb.count);
		assert_int_equal(cb.off[j], ca.off[i] + 1);
	}
	cuts_release(&ca);
	cuts_release(&cb);
	free(ids_a);
	free(ids_b);
	free(orig);
	free(edit);
}

static void test_chunker__shift_resistance(void **state)
{
	(void)state;
	check_shift(&BLK_CHUNKER_PARAMS_DEFAULT, 64 * MIB, 0);
	check_shift(&BLK_CHUNKER_PARAMS_DEFAULT, 64 * MIB, 32 * MIB + 12345);
	check_shift(&small_params, 16 * MIB, 0);
	check_shift(&small_params, 16 * MIB, 5 * MIB + 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunker__params_check),
		cmocka_unit_test(test_chunker__deterministic),
		cmocka_unit_test(test_chunker__golden_vector),
		cmocka_unit_test(test_chunker__streaming_equals_one_shot),
		cmocka_unit_test(test_chunker__cut_edge_cases),
		cmocka_unit_test(test_chunker__chunks_within_bounds),
		cmocka_unit_test(test_chunker__mean_near_avg),
		cmocka_unit_test(test_chunker__shift_resistance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
