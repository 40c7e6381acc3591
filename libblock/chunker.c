/* SPDX-License-Identifier: MIT */
/*
 * FastCDC content-defined chunking (Xia et al., USENIX ATC 2016; IEEE TPDS
 * 2020). A 64-bit gear hash, h = (h << 1) + gear[byte], runs over the bytes
 * of the current chunk from min_size on (cut-point skipping: nothing below
 * min_size is hashed). Normalized chunking, level 2: in [min, norm) a byte
 * ends the chunk when the hash has bits(avg) + 2 chosen bits all zero
 * (mask_s, cuts rarer), in [norm, max) when it has bits(avg) - 2 zero bits
 * (mask_l, cuts likelier); at max_size the cut is forced. The chunk length
 * includes the byte that matched.
 *
 * The masks use the high bits of the hash (bits 62 down to 63 - n), because
 * with a left-shift gear bit k depends on the last k + 1 bytes only: the
 * top bits see a 44..63-byte window, the low bits almost nothing. Bit 63 is
 * left out so the "rolling two bytes" step of the 2020 paper works: it
 * hashes two bytes per iteration with a second table gear_ls[b] = gear[b]
 * << 1, x = (h << 2) + gear_ls[b0] (which is the one-byte hash after b0,
 * shifted left by one) tested against mask << 1, then h = x + gear[b1]
 * tested against mask. That is exactly the one-byte-at-a-time algorithm,
 * only faster, so feeds of any size and parity give the same cuts.
 *
 * The normalization point norm_size, where the masks switch, is not avg
 * as in the paper but is derived from the params (norm_point below) so that
 * the expected chunk size on random data is avg. Switching at avg gives a
 * mean of 1.14 * avg for min = avg / 4 (1.19 for avg / 2, 1.11 for
 * avg / 8); switching at norm gives avg, within the noise, for any min up
 * to about 3/4 avg. Above that even the easy mask from min on cannot bring
 * the mean down to avg: norm is min and the mean about min + avg / 4.
 */
#include "blk/chunker.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "cf_util.h"

/*
 * gear[i] is the first 8 bytes, read big-endian, of SHA-256 of the 14-byte
 * string "cloudfs gear " followed by the byte i. Generated once with
 *
 *   import hashlib
 *   for i in range(256):
 *       d = hashlib.sha256(b"cloudfs gear " + bytes([i])).digest()
 *       print("0x%016xull," % int.from_bytes(d[:8], "big"))
 *
 * and pasted; the golden vector in tests/unit/test_chunker.c pins it.
 * Changing one entry changes every boundary, i.e. the dedup of every
 * existing volume: never edit it.
 */
static const uint64_t gear[256] = {
	0x17691aadd5418443ull, 0x48baff324a3a35c0ull, 0x4cda32020cf24ed5ull,
	0x2bd0f614584d0ea8ull, 0x98c6aa01fac8d367ull, 0x146065793be43e01ull,
	0xf2403baf437d0a5full, 0x63798a5ccb4d6f2dull, 0x0bff0bf191c79048ull,
	0x2ef03c72bf904a18ull, 0x5d4aa6d57f2a3c4aull, 0x5853fb704844fb69ull,
	0x53b0d582c15fc08full, 0x384ad86461b292e9ull, 0x7c3abbb5ba57062full,
	0x00fa06f6c8b33d0full, 0x2544af2bf5351a17ull, 0x324844140202985eull,
	0x1ede1e2f05e49df1ull, 0xec9dd8d07050fe10ull, 0x934a9add739e3710ull,
	0xb008b2057f3b4d95ull, 0x6b076c7099eed6c7ull, 0xffaba37974bc8105ull,
	0xcf5e5a21762f61f8ull, 0x3062863048dbc8f8ull, 0xfccf603411d24305ull,
	0xf78c667209ea7cd7ull, 0x6a957e24073e9306ull, 0xce5dff0acc7cc42full,
	0x00adfff2fcb2891aull, 0x99c1d9d323fb02feull, 0xc6d2f3db7b9514e1ull,
	0xb0e4e6a746fa4e30ull, 0x8658e29229672bcdull, 0x414ca7dbd762dabcull,
	0x2d985f8f78fbc56dull, 0x81118f8445150b33ull, 0x2b099dc269347bd3ull,
	0x0ecccea021a43f39ull, 0x83acadc50f8174e5ull, 0x1f32c45b8f2d4c80ull,
	0x8ed5be6497eef75cull, 0xc032c34d324a403dull, 0x40237ebd751727f2ull,
	0x7e99cff3de359a55ull, 0x92efe15f2961897aull, 0xa51ae2eeb0e86b4bull,
	0x9d7eec9f4af0eb18ull, 0x1a4ce72e28177173ull, 0xfdd883025e2ae898ull,
	0xc5b8815a27ee8d76ull, 0x8d8c8aeedf799a33ull, 0x7d01be170dff0fc7ull,
	0xcda90d9398340058ull, 0x165dbcf758565077ull, 0x9a565789c8ede8e1ull,
	0x709eba9fa1c023d6ull, 0xc175b61a7a50d7bfull, 0x56727b9bf47b920eull,
	0xf656d883dfaf02dfull, 0x3b8f8993867f1425ull, 0xbf5027df83d7791aull,
	0xa0062b10ce9c8d03ull, 0xaaad02672bcc8bc2ull, 0xdb7f3e6b466f3f3aull,
	0xcb3c1682c7e94586ull, 0x20ad3245a4c3ccf4ull, 0x803e5ed8c109d680ull,
	0xde3d2baf5266e43dull, 0xbd402b5398ab1a90ull, 0x60cdf1f79bef5c79ull,
	0xe6875be6d5f680bbull, 0x14733e73c222bbd5ull, 0xaf19eb9b161bcd42ull,
	0xb2fab293beed7291ull, 0x633b714e46ec8b92ull, 0xfe1602737afba706ull,
	0x782f5d0697804fbdull, 0xdba2ec878117fdbcull, 0x927ee6c68bf65b1aull,
	0xb3444247ce7b84a6ull, 0x9917f958beff9d80ull, 0x9ff591d53bd7cf59ull,
	0x78fed04eb6043eb7ull, 0xb3773bfa19095c21ull, 0x9ed5ffdde3536a01ull,
	0x98c768881a5db967ull, 0x90c5253ccdcb080dull, 0x83ddfed61a81ecc2ull,
	0x9ab9a4bef034e740ull, 0x0aa7b83a415c6564ull, 0xc227a99d4934beccull,
	0xdba65b1451f9f848ull, 0xc65a803f5637cea0ull, 0x461486362f8b1e83ull,
	0xcab0b33a280fcde9ull, 0x305da3c58b3dc310ull, 0xbcf81d4be274c2a1ull,
	0x9491468525f62b09ull, 0x84084a07ea5dccf6ull, 0xc8e12a6e53a9e7d1ull,
	0xc1ce3bf25a311f62ull, 0x8502ef6fb12feed7ull, 0x4ba59342b0bbcc26ull,
	0x7e20683dedb9cbe6ull, 0xedcf37c3aff6528eull, 0xccbd677891817492ull,
	0xcc8876d0d5b5245cull, 0x55c748ae200b94d1ull, 0x751ec9c37d5343d5ull,
	0xc6f806a4ce2f0b42ull, 0x2a3c49248f4a1bebull, 0xfe218ba1c922c9a7ull,
	0x76c0887495a3c5f2ull, 0x64f910d6965ea2e9ull, 0x09c2fc04a7465e84ull,
	0x5085b10c6ba8c353ull, 0x8fd9f2d7f5ad2e4eull, 0x0c5042b24919f185ull,
	0xe639c7ad9c21ee93ull, 0x1b8a45da1351b703ull, 0x8aed3a60e3ba670cull,
	0x77af0d35880b554dull, 0x16c1555f16245a80ull, 0xcfc7fb4bf0227cb2ull,
	0x19ce01e0d20325c7ull, 0xb4be5cf8750a1246ull, 0x815324d623643cb2ull,
	0x67f5a5d322bd9edeull, 0x1243b526e86dee75ull, 0x5a746a62366a0267ull,
	0x3980c9836ccba1a7ull, 0xdb3c35e996980956ull, 0x2f4be428ada2db25ull,
	0xe7386f143f6e1599ull, 0xf13c7168fa552ac9ull, 0x4546463b116910e3ull,
	0xea9e6c58e4f3ac06ull, 0x0bb3f5094f8f2ac5ull, 0xe38c37ca5be86922ull,
	0x4a7a49be01c55840ull, 0x2bb18e9372e00cc4ull, 0x2a69b9e4b3b595c9ull,
	0x129f3977f9634a4dull, 0x70629e03cef6aea7ull, 0x3076626468044cacull,
	0xebed0fcd48bf3b76ull, 0x4c799d4d7d11988dull, 0x00266e1a4264631full,
	0x1c20160a4e8e8ad4ull, 0x4df1f478c35e4f1full, 0x8532c520e5473d66ull,
	0x17fd54c3056c9ce9ull, 0x3898116c5a7ec392ull, 0x1122a47f0f944c61ull,
	0x4c701af8e7016911ull, 0x42e3223bee027c32ull, 0x56bb2442d9cb4281ull,
	0xa4e8dd950b11a8dbull, 0x1fdc0bf226483370ull, 0xb3824d456b93ccf2ull,
	0x75af07b11d2b7cf4ull, 0xe4b2728f06e429c9ull, 0xf09a5ee308a48643ull,
	0xb4c67fc739612860ull, 0x39307f344a9802e8ull, 0xc98a839e62f70f9dull,
	0x52180718abb716e4ull, 0x4d3abc2d9b87ee71ull, 0xafb5c898f2c1c4d7ull,
	0x23983abbd2807909ull, 0x03490c7fb783441aull, 0x65a2c8d0e965337bull,
	0xe6cce108400f84d4ull, 0x65fdcce8cabe079aull, 0xd4209feecf205029ull,
	0xab1c4ac5a94fde69ull, 0x07314b276c0bef2bull, 0xca1a59ed3b5214ceull,
	0x3c4662329cc09134ull, 0xa6ceac12e7ef6246ull, 0xe07237cf933bd72bull,
	0x27d49b7f23d36ab1ull, 0x660552b0dc03a7dcull, 0xe21311ba4ffa5bdaull,
	0x9b23fa720033b00aull, 0xa385deedba53efb5ull, 0x8ea747b5f75edc2full,
	0xa7d7fb6dfd36e30eull, 0xea564735b11def78ull, 0x9ca212f4ed937664ull,
	0x99cbbf2f907cd16cull, 0x185308dcab57b708ull, 0x3abbe2ecb003ec87ull,
	0xf8413babbc78e63eull, 0x2f3fda2fb8318553ull, 0x1e619c7e0574f7fdull,
	0x1379aa30457cc39bull, 0xf4e90cd43fe7833dull, 0x307bdf009c3ba035ull,
	0x9ad1f80f86677647ull, 0xafd77cc2862a5fa9ull, 0x92218b54ff3f1276ull,
	0x3d25e0a877169c15ull, 0xd538078bbbc170e0ull, 0x5fd2d1dbe5ce8255ull,
	0xde8dd6f610c3db96ull, 0xa4d2efc31c162ecdull, 0x936ed4880134cffcull,
	0x463e004800ee9500ull, 0xb7dd728fb2865117ull, 0x68b3a4aed3eefa6eull,
	0xeffbdf20183aef51ull, 0x76a60ff825590f7full, 0x2dfb9e814b9e5936ull,
	0xf23d92d36c159430ull, 0x0174633171a4830cull, 0xc824665a95861e27ull,
	0xfa615d4717f17c38ull, 0x3b1b6502e25dc52dull, 0x1976902dd819a56bull,
	0x95ef77faf7d3e579ull, 0x374c266bc94bbb9dull, 0x33639c555b761997ull,
	0x9fb4c7d9990ab5cbull, 0xd44ff82f751591aaull, 0x1c26729ad4d752ecull,
	0x5881cabea63337fcull, 0x5205a19ecfcd9bf0ull, 0x1de8d1b546bf4455ull,
	0xea4dadcd448737a2ull, 0x7bcdaae54e8e3512ull, 0xebb9ee62fe2697cfull,
	0x3e745e82c48d782full, 0x078c9bea3014a647ull, 0x39be1140567412ceull,
	0x786fb3d8cb683258ull, 0x51cb7d6285e5f491ull, 0x7ed9e71fd4ab14d4ull,
	0xf53b27fd0de37532ull, 0x9a884810d913eeb3ull, 0x44053202b81dd5d8ull,
	0x2b1769fb46ecea9cull, 0x300eb4061a46fedcull, 0x3a1cf842150c34e8ull,
	0xd34a715926ed8f58ull, 0x7f31ffc0e355a9cdull, 0x431c4cce6565bc8eull,
	0x75c12670b6a6d708ull, 0xe5bc5df9e71a0a53ull, 0x139f90451394b1f7ull,
	0x6bae5f6b1ffdfbc4ull, 0xdba9d2bdba51e38cull, 0xbc7dcb78fddecf3eull,
	0xa507590b916d7dd8ull,
};

struct blk_chunker {
	uint32_t min_size;
	uint32_t norm_size; /* mask switch, in [min, max]: norm_point() */
	uint32_t max_size;
	uint64_t mask_s; /* bits(avg) + 2 one-bits, for [min, norm) */
	uint64_t mask_s_ls; /* mask_s << 1, for the first byte of a pair */
	uint64_t mask_l; /* bits(avg) - 2 one-bits, for [norm, max) */
	uint64_t mask_l_ls;
	size_t pos; /* bytes of the current chunk seen so far */
	uint64_t hash; /* gear hash of bytes [min_size, pos) */
	uint64_t gear_ls[256]; /* gear[i] << 1 */
};

int blk_chunker_params_check(const struct blk_chunker_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->min_size < BLK_CHUNK_MIN_LIMIT || p->min_size >= p->avg_size ||
	    p->avg_size >= p->max_size || p->max_size > BLK_CHUNK_MAX_LIMIT)
		return -EINVAL;
	if (p->avg_size & (p->avg_size - 1))
		return -EINVAL;
	return 0;
}

/* n one-bits at positions 62 down to 63 - n; 0 < n < 63. */
static uint64_t high_mask(unsigned int n)
{
	return ((UINT64_C(1) << n) - 1) << (63 - n);
}

/*
 * Where to switch from mask_s to mask_l so that the mean chunk is avg.
 *
 * Model: after min, each hashed byte ends the chunk independently, with
 * probability p_s = 2^-(b + 2) before the switch point n and p_l =
 * 2^-(b - 2) from n on (b = bits(avg); the gear hash's high bits are close
 * to uniform on random data), and byte max - 1 is the last. With X the
 * number of bytes hashed, s = n - min, t = max - n, q = 1 - p:
 *
 *   E[size] = min + E[X] = min + sum_{k >= 0} P(X > k)
 *           = min + sum_{k < s} q_s^k + q_s^s * sum_{j < t} q_l^j
 *           = min + (1 - q_s^s) / p_s + q_s^s * (1 - q_l^t) / p_l
 *
 * E grows with n (a byte moved before the switch cuts less often), from
 * about min + avg / 4 at n = min up towards min + 4 avg at n = max, so n is
 * found by bisection: the smallest n in [min, max] with E >= avg, or max
 * if there is none. For max >> avg, q_l^t ~ 0 and q_s^s ~ exp(-s p_s) give
 * the closed form s = 4 avg * ln(15 avg / (4 (min + 3 avg))): norm is
 * 0.78 avg for min = avg / 2, 0.82 avg for avg / 4, 0.85 avg for avg / 8;
 * for min > 3/4 avg it is min. The sums are exact, only the independence
 * is a model, and the measured means agree with it within the noise
 * (1.14 avg predicted and measured when switching at avg, min = avg / 4).
 *
 * It is computed with integers only, in Q59 fixed point, so that every
 * machine derives the same norm, hence the same boundaries. A rounding
 * error of 2^-60 in q^2 grows n-fold in q^n (n < 2^23), so E is off by
 * less than 2^(b + 3) * 2^-37 <= 2^-12 byte. With 1/p_s = 16 / p_l
 * and both powers of two, E >= avg becomes, dividing by 2^(b - 2):
 *
 *   16 (1 - q_s^s) + q_s^s (1 - q_l^t) >= (avg - min) * 2^(2 - b)
 *
 * whose left side is below 17 and right side below 4: with 59 fraction
 * bits, both fit in a uint64_t.
 */
#define FIX_BITS 59
#define FIX_ONE	 (UINT64_C(1) << FIX_BITS)

/*
 * x * y in Q59, rounded; x, y <= FIX_ONE. The 128-bit product is built
 * from 32-bit halves: no __int128 on 32-bit targets.
 */
static uint64_t fix_mul(uint64_t x, uint64_t y)
{
	const uint64_t m32 = UINT64_C(0xffffffff);
	uint64_t ll = (x & m32) * (y & m32), lh = (x & m32) * (y >> 32);
	uint64_t hl = (x >> 32) * (y & m32), hh = (x >> 32) * (y >> 32);
	uint64_t mid = (ll >> 32) + (lh & m32) + (hl & m32);
	uint64_t lo = (mid << 32) | (ll & m32);
	uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);

	lo += UINT64_C(1) << (FIX_BITS - 1);
	if (lo < (UINT64_C(1) << (FIX_BITS - 1)))
		hi++;
	return (hi << (64 - FIX_BITS)) | (lo >> FIX_BITS);
}

/* q^n in Q59, q <= FIX_ONE, by squaring. */
static uint64_t fix_pow(uint64_t q, uint32_t n)
{
	uint64_t r = FIX_ONE;

	for (; n; n >>= 1) {
		if (n & 1)
			r = fix_mul(r, q);
		q = fix_mul(q, q);
	}
	return r;
}

/* Is E[size] >= avg with params p, b = bits(avg), masks switching at n? */
static bool mean_reaches_avg(const struct blk_chunker_params *p, unsigned int b,
			     uint32_t n)
{
	uint64_t us = fix_pow(FIX_ONE - (FIX_ONE >> (b + 2)), n - p->min_size);
	uint64_t ul = fix_pow(FIX_ONE - (FIX_ONE >> (b - 2)), p->max_size - n);
	uint64_t lhs = 16 * (FIX_ONE - us) + fix_mul(us, FIX_ONE - ul);

	return lhs >= (uint64_t)(p->avg_size - p->min_size) << (61 - b);
}

static uint32_t norm_point(const struct blk_chunker_params *p, unsigned int b)
{
	uint32_t lo = p->min_size, hi = p->max_size, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mean_reaches_avg(p, b, mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Set up c for valid params p, at the start of a chunk. */
static void chunker_init(struct blk_chunker *c,
			 const struct blk_chunker_params *p)
{
	unsigned int bits = (unsigned int)__builtin_ctz(p->avg_size);
	unsigned int i;

	c->min_size = p->min_size;
	c->norm_size = norm_point(p, bits);
	c->max_size = p->max_size;
	/* avg is a power of two in [128, 4 MiB]: bits in [7, 22]. */
	c->mask_s = high_mask(bits + 2);
	c->mask_s_ls = c->mask_s << 1;
	c->mask_l = high_mask(bits - 2);
	c->mask_l_ls = c->mask_l << 1;
	for (i = 0; i < 256; i++)
		c->gear_ls[i] = gear[i] << 1;
	blk_chunker_reset(c);
}

int blk_chunker_new(const struct blk_chunker_params *p,
		    struct blk_chunker **out)
{
	struct blk_chunker *c;
	int rc;

	*out = NULL;
	rc = blk_chunker_params_check(p);
	if (rc < 0)
		return rc;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	chunker_init(c, p);
	*out = c;
	return 0;
}

void blk_chunker_free(struct blk_chunker *c)
{
	free(c);
}

void blk_chunker_reset(struct blk_chunker *c)
{
	c->pos = 0;
	c->hash = 0;
}

size_t blk_chunker_pending(const struct blk_chunker *c)
{
	return c->pos;
}

/*
 * Roll the hash *hp over size bytes at p with one mask. Returns the index
 * of the first byte after which the hash has all mask bits zero, or size
 * when there is none; only then is *hp updated (after a cut the hash
 * restarts anyway). The hot loop of the chunker: two bytes per iteration.
 */
static size_t gear_scan(const struct blk_chunker *c, uint64_t *hp,
			const uint8_t *p, size_t size, uint64_t mask,
			uint64_t mask_ls)
{
	const uint64_t *gear_ls = c->gear_ls;
	uint64_t h = *hp, x;
	size_t i;

	for (i = 0; i + 2 <= size; i += 2) {
		x = (h << 2) + gear_ls[p[i]];
		if (!(x & mask_ls))
			return i;
		h = x + gear[p[i + 1]];
		if (!(h & mask))
			return i + 1;
	}
	if (i < size) {
		h = (h << 1) + gear[p[i]];
		if (!(h & mask))
			return i;
	}
	*hp = h;
	return size;
}

/* The chunk ends after the byte just scanned: start the next one. */
static size_t cut_here(struct blk_chunker *c, size_t done, bool *out_cut)
{
	blk_chunker_reset(c);
	*out_cut = true;
	return done;
}

size_t blk_chunker_scan(struct blk_chunker *c, const void *data, size_t size,
			bool *out_cut)
{
	const uint8_t *p = data;
	size_t done = 0, n, r;

	*out_cut = false;
	/* Cut-point skipping: no boundary, and no hashing, below min. */
	if (c->pos < c->min_size) {
		n = CF_MIN(c->min_size - c->pos, size);
		c->pos += n;
		done = n;
		if (c->pos < c->min_size)
			return done;
	}
	if (c->pos < c->norm_size) {
		n = CF_MIN(c->norm_size - c->pos, size - done);
		r = gear_scan(c, &c->hash, p + done, n, c->mask_s,
			      c->mask_s_ls);
		if (r < n)
			return cut_here(c, done + r + 1, out_cut);
		c->pos += n;
		done += n;
		if (c->pos < c->norm_size)
			return done;
	}
	n = CF_MIN(c->max_size - c->pos, size - done);
	r = gear_scan(c, &c->hash, p + done, n, c->mask_l, c->mask_l_ls);
	if (r < n)
		return cut_here(c, done + r + 1, out_cut);
	c->pos += n;
	done += n;
	if (c->pos == c->max_size)
		return cut_here(c, done, out_cut);
	return done;
}

size_t blk_chunker_cut(const struct blk_chunker_params *p, const void *data,
		       size_t size)
{
	struct blk_chunker c;
	bool cut;
	int rc;

	rc = blk_chunker_params_check(p);
	assert(rc == 0);
	if (rc < 0)
		return size;
	chunker_init(&c, p);
	/* No cut means data ends the stream: all of it is the last chunk. */
	return blk_chunker_scan(&c, data, size, &cut);
}
