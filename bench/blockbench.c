/* SPDX-License-Identifier: MIT */
/*
 * blockbench: single-thread throughput of the block pipeline beside its
 * baselines, on two data sets: random bytes (incompressible: the codec must
 * store it raw cheaply) and generated log text (compresses about like real
 * logs). For each: FastCDC chunking alone; plain OpenSSL SHA-256,
 * HMAC-SHA256 and AES-256-GCM and plain zstd / zlib at the codec's levels
 * over 256 KiB buffers; the whole encode pipeline (chunker +
 * blk_codec_encode per chunk) against its ideal 1 / (1/chunk + 1/compress +
 * 1/hmac + 1/aes + 1/sha256); decode of the blobs; the compression ratio;
 * and RSS, to show the encoder's memory does not grow with the data size.
 *
 * Each data set is a pool (64 MiB by default) generated once from a fixed
 * xorshift64* seed and streamed as many times as --size needs, so 1 GiB is
 * never in memory. Decode runs over the blobs of the first pool pass.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#include "blk/chunker.h"
#include "blk/codec.h"
#include "blk/keys.h"
#include "blk/proto.h"
#include "cf_util.h"
#include "codec_int.h"

#define MIB	 (1024u * 1024)
#define BUF_SIZE (256u * 1024) /* baseline buffer size */

struct bench {
	size_t size; /* bytes per data set */
	size_t pool_size; /* bytes generated once, streamed size / pool times */
	enum blk_codec_id codec;
	int zstd_level;
	int zlib_level;
	struct blk_chunker_params params;
};

/* Figures of one data set, MB/s unless said otherwise. */
struct results {
	double chunk, sha, hmac, aes, zstd, zlib;
	double zstd_ratio, zlib_ratio;
	double encode, decode, ratio;
	double compressed_frac; /* share of plaintext in compressed blocks */
	uint64_t chunks;
	long rss_before, rss_first, rss_last; /* KiB */
};

static void die(const char *what, int rc)
{
	fprintf(stderr, "blockbench: %s: %s\n", what, blk_strerror(rc));
	exit(1);
}

static void die_ssl(const char *what)
{
	fprintf(stderr, "blockbench: %s failed (OpenSSL)\n", what);
	exit(1);
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p)
		die("malloc", -ENOMEM);
	return p;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mbps(size_t bytes, double secs)
{
	return secs > 0 ? (double)bytes / 1e6 / secs : 0;
}

/* Resident set size now, in KiB, from /proc/self/statm. */
static long rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return ru.ru_maxrss; /* KiB on Linux */
}

/* xorshift64* (Vigna): the one PRNG of the generated data. */
static uint64_t prng(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * UINT64_C(0x2545f4914f6cdd1d);
}

static void gen_random(uint8_t *p, size_t size, uint64_t seed)
{
	size_t i;

	for (i = 0; i + 8 <= size; i += 8)
		cf_put_le64(p + i, prng(&seed));
	for (; i < size; i++)
		p[i] = (uint8_t)prng(&seed);
}

/*
 * Log text: timestamped lines with a level and a component, each line an
 * instance of one of TEMPLATE_COUNT message templates (picked with a skew:
 * a few are common, most rare, as in real logs). A template is a fixed run
 * of words from a ~400-word vocabulary built from syllables, with slots
 * filled per line: another word, a number, a key=number pair, a path, a
 * duration or a hex id. zstd -1 gets about 4x out of it, gzip -6 a bit
 * more, like real service logs.
 */
#define VOCAB_COUNT    400
#define TEMPLATE_COUNT 120
#define TEMPLATE_ITEMS 12

/* Template items >= 0 are fixed words; [VOCAB_COUNT, 2 * VOCAB_COUNT) are
 * "word=<number>" with a fixed word; negative ones are slots. */
enum slot {
	SLOT_WORD = -1,
	SLOT_NUM = -2,
	SLOT_PATH = -3,
	SLOT_MS = -4,
	SLOT_HEX = -5,
};

static const char *const syllables[] = {
	"ka",	"to",	"ri",	"men", "sta",  "lo",   "ver",	"an",
	"tion", "de",	"pro",	"con", "fig",  "ser",  "vice",	"block",
	"data", "net",	"work", "up",  "load", "file", "cache", "sync",
	"read", "time", "out",	"err", "re",   "try",  "lock",	"queue",
};
static const char *const levels[] = { "DEBUG", "INFO", "INFO", "INFO",
				      "INFO",  "INFO", "WARN", "ERROR" };
static const char *const components[] = { "upq",  "ws",	   "meta", "store",
					  "fuse", "http",  "sync", "cache",
					  "auth", "sched", "gc",   "net" };

struct text_gen {
	char words[VOCAB_COUNT][24];
	int items[TEMPLATE_COUNT][TEMPLATE_ITEMS];
	size_t item_count[TEMPLATE_COUNT];
	const char *level[TEMPLATE_COUNT];
	const char *component[TEMPLATE_COUNT];
	uint64_t seed;
	uint64_t ms; /* time of the last line, ms after the epoch below */
};

/* A uniform double in [0, 1). */
static double uniform(uint64_t *seed)
{
	return (double)(prng(seed) >> 11) / 9007199254740992.0;
}

/* An index in [0, n) skewed to small values: floor(n * u^3). */
static size_t skewed(uint64_t *seed, size_t n)
{
	double u = uniform(seed);

	return (size_t)(u * u * u * (double)n);
}

static void text_gen_init(struct text_gen *g, uint64_t seed)
{
	size_t i, k, n, len;
	uint64_t r;
	const char *s;

	g->seed = seed;
	g->ms = 0;
	for (i = 0; i < VOCAB_COUNT; i++) {
		n = 1 + prng(&g->seed) % 3;
		len = 0;
		for (k = 0; k < n; k++) {
			s = syllables[prng(&g->seed) %
				      CF_ARRAY_SIZE(syllables)];
			memcpy(g->words[i] + len, s, strlen(s));
			len += strlen(s);
		}
		g->words[i][len] = '\0';
	}
	for (i = 0; i < TEMPLATE_COUNT; i++) {
		g->item_count[i] = 3 + prng(&g->seed) % (TEMPLATE_ITEMS - 2);
		g->level[i] = levels[prng(&g->seed) % CF_ARRAY_SIZE(levels)];
		g->component[i] =
			components[prng(&g->seed) % CF_ARRAY_SIZE(components)];
		for (k = 0; k < g->item_count[i]; k++) {
			r = prng(&g->seed) % 100;
			if (r < 62)
				g->items[i][k] =
					(int)skewed(&g->seed, VOCAB_COUNT);
			else if (r < 72)
				g->items[i][k] = SLOT_WORD;
			else if (r < 82)
				g->items[i][k] =
					VOCAB_COUNT +
					(int)skewed(&g->seed, VOCAB_COUNT);
			else if (r < 88)
				g->items[i][k] = SLOT_NUM;
			else if (r < 93)
				g->items[i][k] = SLOT_PATH;
			else if (r < 97)
				g->items[i][k] = SLOT_MS;
			else
				g->items[i][k] = SLOT_HEX;
		}
	}
}

static const char *any_word(struct text_gen *g)
{
	return g->words[skewed(&g->seed, VOCAB_COUNT)];
}

/* One item of a line at line + len (cap bytes in all): snprintf's result. */
static int put_item(struct text_gen *g, int item, char *out, size_t cap)
{
	switch (item) {
	case SLOT_WORD:
		return snprintf(out, cap, " %s", any_word(g));
	case SLOT_NUM:
		return snprintf(out, cap, " %u",
				(unsigned)(prng(&g->seed) % 100000));
	case SLOT_PATH:
		return snprintf(out, cap, " /srv/%s/%s/%s_%u.dat", any_word(g),
				any_word(g), any_word(g),
				(unsigned)(prng(&g->seed) % 1000));
	case SLOT_MS:
		return snprintf(out, cap, " after %u ms",
				(unsigned)(prng(&g->seed) % 3000));
	case SLOT_HEX:
		return snprintf(out, cap, " id=%08" PRIx64,
				prng(&g->seed) >> 32);
	default:
		break;
	}
	if (item >= VOCAB_COUNT)
		return snprintf(out, cap, " %s=%u",
				g->words[item - VOCAB_COUNT],
				(unsigned)(prng(&g->seed) % 5000));
	return snprintf(out, cap, " %s", g->words[item]);
}

/* One log line into line (cap bytes): its length, newline included. */
static size_t log_line(struct text_gen *g, char *line, size_t cap)
{
	size_t t = skewed(&g->seed, TEMPLATE_COUNT), len, k;
	time_t secs;
	struct tm tm;
	int r;

	g->ms += prng(&g->seed) % 40;
	secs = (time_t)(1700000000 + g->ms / 1000);
	gmtime_r(&secs, &tm);
	r = snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ %-5s [%s]",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (unsigned)(g->ms % 1000),
		     g->level[t], g->component[t]);
	if (r < 0 || (size_t)r >= cap - 1)
		return 0;
	len = (size_t)r;
	for (k = 0; k < g->item_count[t]; k++) {
		r = put_item(g, g->items[t][k], line + len, cap - 1 - len);
		if (r < 0 || (size_t)r >= cap - 1 - len)
			break;
		len += (size_t)r;
	}
	line[len++] = '\n';
	return len;
}

static void gen_text(uint8_t *p, size_t size, uint64_t seed)
{
	struct text_gen *g = xmalloc(sizeof(*g));
	char line[512];
	size_t off = 0, n;

	text_gen_init(g, seed);
	while (off < size) {
		n = log_line(g, line, sizeof(line));
		n = CF_MIN(n, size - off);
		memcpy(p + off, line, n);
		off += n;
	}
	free(g);
}

/*
 * Stream size bytes: the pool over and over, in pieces of at most step.
 * Calls fn(arg, piece, piece_size) for each.
 */
typedef void piece_fn(void *arg, const uint8_t *p, size_t size);

static void stream(const struct bench *b, const uint8_t *pool, size_t step,
		   piece_fn *fn, void *arg)
{
	size_t done = 0, off = 0, n;

	while (done < b->size) {
		n = CF_MIN(step, CF_MIN(b->size - done, b->pool_size - off));
		fn(arg, pool + off, n);
		done += n;
		off = (off + n) % b->pool_size;
	}
}

struct chunk_arg {
	struct blk_chunker *ch;
	uint64_t cuts;
};

static void chunk_piece(void *arg, const uint8_t *p, size_t size)
{
	struct chunk_arg *a = arg;
	size_t n;
	bool cut;

	while (size > 0) {
		n = blk_chunker_scan(a->ch, p, size, &cut);
		a->cuts += cut;
		p += n;
		size -= n;
	}
}

static double bench_chunking(const struct bench *b, const uint8_t *pool)
{
	struct chunk_arg a = { NULL, 0 };
	double t;
	int rc;

	rc = blk_chunker_new(&b->params, &a.ch);
	if (rc < 0)
		die("chunker", rc);
	t = now();
	stream(b, pool, b->pool_size, chunk_piece, &a);
	t = now() - t;
	blk_chunker_free(a.ch);
	return mbps(b->size, t);
}

static void sha_piece(void *arg, const uint8_t *p, size_t size)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_size;

	(void)arg;
	if (EVP_Digest(p, size, md, &md_size, EVP_sha256(), NULL) != 1)
		die_ssl("sha-256");
}

static const uint8_t bench_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void hmac_piece(void *arg, const uint8_t *p, size_t size)
{
	EVP_MAC_CTX *ctx = arg;
	uint8_t md[32];
	size_t md_size;

	if (EVP_MAC_init(ctx, bench_key, sizeof(bench_key), NULL) != 1 ||
	    EVP_MAC_update(ctx, p, size) != 1 ||
	    EVP_MAC_final(ctx, md, &md_size, sizeof(md)) != 1)
		die_ssl("hmac-sha256");
}

struct aes_arg {
	EVP_CIPHER_CTX *ctx;
	uint8_t *out;
	uint64_t counter;
};

static void aes_piece(void *arg, const uint8_t *p, size_t size)
{
	struct aes_arg *a = arg;
	uint8_t iv[12] = { 0 }, tag[16];
	int n, fin;

	cf_put_le64(iv, a->counter++);
	if (EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(a->ctx, a->out, &n, p, (int)size) != 1 ||
	    EVP_EncryptFinal_ex(a->ctx, a->out + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, sizeof(tag),
				tag) != 1)
		die_ssl("aes-256-gcm");
}

struct zarg {
	ZSTD_CCtx *zc;
	z_stream zs;
	uint8_t *out;
	size_t out_cap;
	uint64_t in_bytes, out_bytes;
};

static void zstd_piece(void *arg, const uint8_t *p, size_t size)
{
	struct zarg *a = arg;
	size_t r = ZSTD_compress2(a->zc, a->out, a->out_cap, p, size);

	if (ZSTD_isError(r)) {
		fprintf(stderr, "blockbench: zstd: %s\n", ZSTD_getErrorName(r));
		exit(1);
	}
	a->in_bytes += size;
	a->out_bytes += r;
}

static void zlib_piece(void *arg, const uint8_t *p, size_t size)
{
	struct zarg *a = arg;

	if (deflateReset(&a->zs) != Z_OK)
		die("zlib deflateReset", -EIO);
	a->zs.next_in = (Bytef *)(uintptr_t)p;
	a->zs.avail_in = (uInt)size;
	a->zs.next_out = a->out;
	a->zs.avail_out = (uInt)a->out_cap;
	if (deflate(&a->zs, Z_FINISH) != Z_STREAM_END)
		die("zlib deflate", -EIO);
	a->in_bytes += size;
	a->out_bytes += a->zs.total_out;
}

static void bench_baselines(const struct bench *b, const uint8_t *pool,
			    struct results *r)
{
	size_t out_cap =
		CF_MAX(ZSTD_compressBound(BUF_SIZE), compressBound(BUF_SIZE)) +
		64;
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	struct aes_arg aes = { NULL, NULL, 0 };
	struct zarg z;
	EVP_MAC_CTX *mctx;
	EVP_MAC *mac;
	double t;

	t = now();
	stream(b, pool, BUF_SIZE, sha_piece, NULL);
	r->sha = mbps(b->size, now() - t);

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	mctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!mctx || EVP_MAC_CTX_set_params(mctx, params) != 1)
		die_ssl("hmac setup");
	t = now();
	stream(b, pool, BUF_SIZE, hmac_piece, mctx);
	r->hmac = mbps(b->size, now() - t);
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);

	aes.ctx = EVP_CIPHER_CTX_new();
	aes.out = xmalloc(BUF_SIZE + 64);
	if (!aes.ctx || EVP_EncryptInit_ex(aes.ctx, EVP_aes_256_gcm(), NULL,
					   bench_key, NULL) != 1)
		die_ssl("aes setup");
	t = now();
	stream(b, pool, BUF_SIZE, aes_piece, &aes);
	r->aes = mbps(b->size, now() - t);
	EVP_CIPHER_CTX_free(aes.ctx);
	free(aes.out);

	memset(&z, 0, sizeof(z));
	z.out_cap = out_cap;
	z.out = xmalloc(out_cap);
	z.zc = ZSTD_createCCtx();
	/* As the codec sets it up: the level, no frame checksum. */
	if (!z.zc ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z.zc, ZSTD_c_compressionLevel,
						b->zstd_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z.zc, ZSTD_c_checksumFlag, 0)))
		die("zstd context", -ENOMEM);
	t = now();
	stream(b, pool, BUF_SIZE, zstd_piece, &z);
	r->zstd = mbps(b->size, now() - t);
	r->zstd_ratio = (double)z.in_bytes / (double)z.out_bytes;
	ZSTD_freeCCtx(z.zc);

	z.in_bytes = z.out_bytes = 0;
	if (deflateInit(&z.zs, b->zlib_level) != Z_OK)
		die("zlib deflateInit", -ENOMEM);
	t = now();
	stream(b, pool, BUF_SIZE, zlib_piece, &z);
	r->zlib = mbps(b->size, now() - t);
	r->zlib_ratio = (double)z.in_bytes / (double)z.out_bytes;
	deflateEnd(&z.zs);
	free(z.out);
}

/* Blobs of the first pool pass, kept for decode, in one preallocated arena. */
struct blob_store {
	uint8_t *arena; /* owned */
	size_t arena_size, used;
	size_t *offs, *sizes; /* owned */
	struct blk_id *ids; /* owned */
	size_t count, cap;
};

struct encode_arg {
	const struct bench *b;
	struct blk_chunker *ch;
	struct blk_codec *codec;
	struct blob_store *store;
	bool keep; /* still in the first pass */
	uint64_t in_bytes, out_bytes, compressed_bytes, chunks;
	uint8_t *carry; /* owned: a chunk spanning two pieces */
	size_t carry_size;
};

static void encode_chunk(struct encode_arg *a, const uint8_t *p, size_t size)
{
	struct blob_store *s = a->store;
	struct blk_blob blob;
	int rc;

	rc = blk_codec_encode(a->codec, p, size, &blob);
	if (rc < 0)
		die("blk_codec_encode", rc);
	a->chunks++;
	a->in_bytes += size;
	a->out_bytes += blob.size;
	if (blob.codec != BLK_CODEC_RAW)
		a->compressed_bytes += size;
	if (!a->keep)
		return;
	if (s->count == s->cap || s->used + blob.size > s->arena_size) {
		fprintf(stderr, "blockbench: blob store full\n");
		exit(1);
	}
	memcpy(s->arena + s->used, blob.data, blob.size);
	s->offs[s->count] = s->used;
	s->sizes[s->count] = blob.size;
	s->ids[s->count] = blob.id;
	s->used += blob.size;
	s->count++;
}

/*
 * Pieces are whole pool passes; a chunk that spans the wrap from the end
 * of the pool to its start is assembled in carry (max chunk size).
 */
static void encode_piece(void *arg, const uint8_t *p, size_t size)
{
	struct encode_arg *a = arg;
	size_t start = 0, pos = 0, n;
	bool cut;

	while (pos < size) {
		n = blk_chunker_scan(a->ch, p + pos, size - pos, &cut);
		pos += n;
		if (!cut)
			break;
		if (a->carry_size > 0) {
			memcpy(a->carry + a->carry_size, p, pos);
			encode_chunk(a, a->carry, a->carry_size + pos);
			a->carry_size = 0;
		} else {
			encode_chunk(a, p + start, pos - start);
		}
		start = pos;
	}
	if (start < size) {
		memcpy(a->carry + a->carry_size, p + start, size - start);
		a->carry_size += size - start;
	}
	a->keep = false;
}

static void bench_pipeline(const struct bench *b, const uint8_t *pool,
			   struct blob_store *store, struct results *r)
{
	struct blk_codec_opts opts = BLK_CODEC_OPTS_DEFAULT;
	struct encode_arg a;
	struct blk_volume_keys keys;
	struct bench first = *b;
	double t;
	int rc;

	memset(&keys, 0x5a, sizeof(keys));
	opts.codec = b->codec;
	opts.zstd_level = b->zstd_level;
	opts.zlib_level = b->zlib_level;
	opts.max_chunk_size = b->params.max_size;
	memset(&a, 0, sizeof(a));
	a.b = b;
	a.store = store;
	a.carry = xmalloc(b->params.max_size);
	rc = blk_chunker_new(&b->params, &a.ch);
	if (rc < 0)
		die("chunker", rc);
	rc = blk_codec_new(&keys, &opts, &a.codec);
	if (rc < 0)
		die("blk_codec_new", rc);

	r->rss_before = rss_kib();
	t = now();
	/* The first pass keeps its blobs, then the rest of the size. */
	a.keep = true;
	first.size = CF_MIN(b->size, b->pool_size);
	stream(&first, pool, b->pool_size, encode_piece, &a);
	r->rss_first = rss_kib();
	if (b->size > first.size) {
		first.size = b->size - first.size;
		stream(&first, pool, b->pool_size, encode_piece, &a);
	}
	if (a.carry_size > 0)
		encode_chunk(&a, a.carry, a.carry_size);
	t = now() - t;
	r->rss_last = rss_kib();
	r->encode = mbps(b->size, t);
	r->ratio = (double)a.in_bytes / (double)a.out_bytes;
	r->compressed_frac = (double)a.compressed_bytes / (double)a.in_bytes;
	r->chunks = a.chunks;
	blk_codec_free(a.codec);
	blk_chunker_free(a.ch);
	free(a.carry);
}

/* Decode the kept blobs over and over until size plaintext bytes. */
static void bench_decode(const struct bench *b, const struct blob_store *s,
			 struct results *r)
{
	struct blk_codec_opts opts = BLK_CODEC_OPTS_DEFAULT;
	struct blk_volume_keys keys;
	struct blk_codec *codec;
	const uint8_t *chunk;
	size_t out = 0, chunk_size, i = 0;
	double t;
	int rc;

	memset(&keys, 0x5a, sizeof(keys));
	opts.max_chunk_size = b->params.max_size;
	rc = blk_codec_new(&keys, &opts, &codec);
	if (rc < 0)
		die("blk_codec_new", rc);
	t = now();
	while (out < b->size && s->count > 0) {
		rc = blk_codec_decode(codec, s->arena + s->offs[i], s->sizes[i],
				      &s->ids[i], &chunk, &chunk_size);
		if (rc < 0)
			die("blk_codec_decode", rc);
		out += chunk_size;
		i = (i + 1) % s->count;
	}
	r->decode = mbps(out, now() - t);
	blk_codec_free(codec);
}

/*
 * The pipeline's ideal: every stage at its plain-library speed, one after
 * the other, 1 / (1/chunk + 1/compress + 1/hmac + 1/aes + 1/sha256), the
 * compress term only for the share of bytes that went into compressed
 * blocks. With out_ratio > 1 AES and SHA-256 are charged on the compressed
 * bytes only, which is what the codec really runs them on.
 */
static double ideal(const struct results *r, double compress, double out_ratio)
{
	double inv = 1 / r->chunk + 1 / r->hmac;

	inv += (1 / r->aes + 1 / r->sha) / out_ratio;
	inv += r->compressed_frac / compress;
	return 1 / inv;
}

static void print_row(const char *data, const char *figure, double value,
		      const char *unit, const char *base, double base_value,
		      const char *note)
{
	char v[32] = "", bv[32] = "";

	if (value >= 0)
		snprintf(v, sizeof(v), "%.1f %s", value, unit);
	if (base_value >= 0)
		snprintf(bv, sizeof(bv), "%.1f %s", base_value, unit);
	printf("%-7s %-20s %13s   %-26s %13s  %s\n", data, figure, v, base, bv,
	       note);
}

static void report(const struct bench *b, const char *data,
		   const struct results *r)
{
	const char *cname = b->codec == BLK_CODEC_ZLIB ? "zlib" : "zstd";
	double compress = b->codec == BLK_CODEC_ZLIB ? r->zlib : r->zstd;
	double raw_ratio =
		b->codec == BLK_CODEC_ZLIB ? r->zlib_ratio : r->zstd_ratio;
	char zname[32], lname[32], note[64];
	double id = ideal(r, compress, 1),
	       id_out = ideal(r, compress, r->ratio);

	snprintf(zname, sizeof(zname), "zstd -%d compress", b->zstd_level);
	snprintf(lname, sizeof(lname), "zlib -%d compress", b->zlib_level);
	print_row(data, "chunking (FastCDC)", r->chunk, "MB/s", "-", -1, "");
	snprintf(note, sizeof(note), "%.0f%% of ideal%s", 100 * r->encode / id,
		 r->compressed_frac > 0 ? "" : " (stored raw)");
	print_row(data, "encode pipeline", r->encode, "MB/s",
		  "ideal 1/sum(1/stage)", id, note);
	if (r->compressed_frac > 0) {
		snprintf(note, sizeof(note), "%.0f%% of it",
			 100 * r->encode / id_out);
		print_row(data, "", -1, "MB/s", "same, aes+sha on output",
			  id_out, note);
	}
	print_row(data, "decode", r->decode, "MB/s", "-", -1, "");
	print_row(data, "", -1, "MB/s", "openssl sha-256", r->sha, "");
	print_row(data, "", -1, "MB/s", "openssl hmac-sha256", r->hmac, "");
	print_row(data, "", -1, "MB/s", "openssl aes-256-gcm", r->aes, "");
	snprintf(note, sizeof(note), "ratio %.2f", r->zstd_ratio);
	print_row(data, "", -1, "MB/s", zname, r->zstd, note);
	snprintf(note, sizeof(note), "ratio %.2f", r->zlib_ratio);
	print_row(data, "", -1, "MB/s", lname, r->zlib, note);
	snprintf(note, sizeof(note), "%" PRIu64 " chunks, mean %.0f KiB",
		 r->chunks, (double)b->size / (double)r->chunks / 1024);
	snprintf(zname, sizeof(zname), "plain %s ratio", cname);
	print_row(data, "compression ratio", r->ratio, "x", zname, raw_ratio,
		  note);
	printf("%-7s %-20s %13s   %s\n", data, "rss (pipeline)", "",
	       "before / after first pass / after last pass");
	printf("%-7s %-20s %13s   %ld / %ld / %ld KiB\n", data, "", "",
	       r->rss_before, r->rss_first, r->rss_last);
}

static void run_one(const struct bench *b, const char *data, uint8_t *pool)
{
	struct blob_store s;
	struct results r;
	size_t max_chunks;

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	/* Room for one pass of blobs, allocated and touched up front. */
	max_chunks = b->pool_size / b->params.min_size + 2;
	s.cap = max_chunks;
	s.arena_size =
		b->pool_size + max_chunks * BLK_OVERHEAD + b->params.max_size;
	s.arena = xmalloc(s.arena_size);
	s.offs = xmalloc(max_chunks * sizeof(*s.offs));
	s.sizes = xmalloc(max_chunks * sizeof(*s.sizes));
	s.ids = xmalloc(max_chunks * sizeof(*s.ids));
	memset(s.arena, 0, s.arena_size);

	r.chunk = bench_chunking(b, pool);
	bench_baselines(b, pool, &r);
	bench_pipeline(b, pool, &s, &r);
	bench_decode(b, &s, &r);
	report(b, data, &r);
	free(s.arena);
	free(s.offs);
	free(s.sizes);
	free(s.ids);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: blockbench [--size MiB] [--pool MiB]"
		   " [--codec zstd|zlib]\n"
		   "  --size MiB   data per data set (default 1024)\n"
		   "  --pool MiB   generated once and streamed (default 64)\n");
}

static int parse_mib(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || end == s || *end != '\0' || *s == '-' ||
	    v == 0 || v > 1024 * 1024)
		return -EINVAL;
	*out = (size_t)v * MIB;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "pool", required_argument, NULL, 'p' },
		{ "codec", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = {
		.size = 1024 * (size_t)MIB,
		.pool_size = 64 * (size_t)MIB,
		.codec = BLK_CODEC_ZSTD,
		/*
		 * The codec's defaults, passed explicitly so the pipeline and
		 * the plain-library baselines run at the same level.
		 */
		.zstd_level = BLK_CODEC_ZSTD_LEVEL_DEFAULT,
		.zlib_level = BLK_CODEC_ZLIB_LEVEL_DEFAULT,
		.params = BLK_CHUNKER_PARAMS_DEFAULT,
	};
	uint8_t *pool;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'p':
			if (parse_mib(optarg,
				      c == 's' ? &b.size : &b.pool_size) < 0) {
				fprintf(stderr, "blockbench: bad size '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'c':
			if (strcmp(optarg, "zlib") == 0) {
				b.codec = BLK_CODEC_ZLIB;
			} else if (strcmp(optarg, "zstd") != 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	b.pool_size = CF_MIN(b.pool_size, b.size);

	printf("blockbench: %zu MiB per data set (pool %zu MiB), one thread;"
	       " chunks %u/%u/%u, codec %s, zstd -%d, zlib -%d\n",
	       b.size / MIB, b.pool_size / MIB, b.params.min_size,
	       b.params.avg_size, b.params.max_size,
	       b.codec == BLK_CODEC_ZLIB ? "zlib" : "zstd", b.zstd_level,
	       b.zlib_level);
	printf("%-7s %-20s %13s   %-26s %13s  %s\n", "data", "figure",
	       "cloudfs", "baseline (plain library)", "", "note");

	pool = xmalloc(b.pool_size);
	gen_random(pool, b.pool_size, UINT64_C(0x72616e646f6d2121));
	run_one(&b, "random", pool);
	gen_text(pool, b.pool_size, UINT64_C(0x6c6f676c696e6573));
	run_one(&b, "text", pool);
	free(pool);
	printf("peak rss %ld KiB\n", peak_rss_kib());
	return 0;
}
