/* SPDX-License-Identifier: MIT */
/*
 * cloudfs-blocktool: look at files the way the drive stores them.
 *
 *   chunks FILE...  one line per chunk, "offset length id", where id is the
 *                   block id the real codec gives the chunk under the key;
 *                   with two or more files, then how much each shares with
 *                   the first (the dedup the drive would get)
 *   encode FILE     the blob of one chunk (the whole file) to stdout
 *   decode FILE     a blob back to its chunk on stdout
 *
 * Files are streamed through one buffer of max chunk size + 1 MiB, so
 * memory does not grow with file size (only the first file's id list, 32
 * bytes per chunk, is kept for the sharing summary). "-" is stdin. Exit
 * status: 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk/chunker.h"
#include "blk/codec.h"
#include "blk/keys.h"
#include "blk/proto.h"
#include "cf_file.h"
#include "cf_hex.h"
#include "cf_util.h"

#define PROG	     "cloudfs-blocktool"
#define READ_SIZE    (1024u * 1024) /* at least this much per read(2) */
#define KEY_FILE_MAX 256

struct tool {
	struct blk_chunker_params params;
	struct blk_codec_opts codec_opts;
	const char *key_file; /* borrowed from argv */
	bool test_key;
	bool have_id;
	struct blk_id id; /* decode: the id the blob must have */
	struct blk_codec *codec; /* owned */
};

/* Per-file totals for the sharing summary. */
struct file_stats {
	const char *name; /* borrowed from argv */
	uint64_t chunks;
	uint64_t bytes;
	uint64_t shared_chunks;
	uint64_t shared_bytes;
};

/* The first file's block ids; sorted once it is complete. */
struct id_set {
	struct blk_id *ids; /* owned */
	size_t count;
	size_t cap;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " chunks [KEY] [--codec zstd|zlib]"
		" [--min N --avg N --max N] FILE...\n"
		"       " PROG " encode [KEY] [--codec zstd|zlib] [--max N]"
		" FILE > BLOB\n"
		"       " PROG
		" decode [KEY] [--id HEX] [--max N] BLOB > FILE\n"
		"KEY is --key-file F (32 raw bytes or 64 hex digits: the volume"
		" key)\n"
		"    or --test-key (the all-zero volume key, for tests)\n"
		"sizes take a K or M suffix (KiB, MiB); FILE - is stdin\n");
}

static void fail(const char *what, int rc)
{
	fprintf(stderr, PROG ": %s: %s\n", what, blk_strerror(rc));
}

/* "65536", "64K", "1M" into *out (<= UINT32_MAX): 0 or -EINVAL. */
static int parse_size(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || end == s || *s == '-')
		return -EINVAL;
	if (*end == 'K' || *end == 'k') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	if (*end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/*
 * Read the volume key from path: exactly 32 raw bytes, or 64 hex digits
 * with optional trailing white space. 0, -EINVAL (bad format), -errno.
 */
static int read_key_file(const char *path, uint8_t vk[BLK_KEY_SIZE])
{
	uint8_t raw[KEY_FILE_MAX];
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = cf_read_full(fd, raw, sizeof(raw));
	close(fd);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	rc = -EINVAL;
	if (n == BLK_KEY_SIZE) {
		memcpy(vk, raw, BLK_KEY_SIZE);
		rc = 0;
		goto out;
	}
	while (n > 0 && (raw[n - 1] == '\n' || raw[n - 1] == '\r' ||
			 raw[n - 1] == ' ' || raw[n - 1] == '\t'))
		n--;
	if (n == 2 * BLK_KEY_SIZE)
		rc = cf_hex_decode((const char *)raw, (size_t)n, vk,
				   BLK_KEY_SIZE);
out:
	blk_keys_wipe(raw, sizeof(raw));
	return rc;
}

/* Derive the volume keys and make the codec. 0 or -errno (reported). */
static int open_codec(struct tool *t)
{
	struct blk_volume_keys keys;
	uint8_t vk[BLK_KEY_SIZE];
	int rc;

	memset(vk, 0, sizeof(vk));
	memset(&keys, 0, sizeof(keys));
	if (t->test_key) {
		fprintf(stderr,
			PROG ": using the all-zero test volume key"
			     " (--test-key): not a real volume's ids\n");
	} else {
		rc = read_key_file(t->key_file, vk);
		if (rc == -EINVAL)
			fprintf(stderr,
				PROG ": %s: a key file holds 32 raw bytes or"
				     " 64 hex digits\n",
				t->key_file);
		else if (rc < 0)
			fail(t->key_file, rc);
		if (rc < 0)
			goto out;
	}
	rc = blk_volume_keys_derive(vk, &keys);
	if (rc < 0) {
		fail("deriving the volume keys", rc);
		goto out;
	}
	t->codec_opts.max_chunk_size = t->params.max_size;
	rc = blk_codec_new(&keys, &t->codec_opts, &t->codec);
	if (rc < 0)
		fail("making the codec", rc);
out:
	blk_keys_wipe(vk, sizeof(vk));
	blk_keys_wipe(&keys, sizeof(keys));
	return rc;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct blk_id));
}

static int id_set_add(struct id_set *s, const struct blk_id *id)
{
	struct blk_id *p;
	size_t cap;

	if (s->count == s->cap) {
		cap = s->cap ? s->cap * 2 : 1024;
		p = reallocarray(s->ids, cap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->ids = p;
		s->cap = cap;
	}
	s->ids[s->count++] = *id;
	return 0;
}

static bool id_set_has(const struct id_set *s, const struct blk_id *id)
{
	return s->count && bsearch(id, s->ids, s->count, sizeof(*id), id_cmp);
}

/*
 * Encode one chunk, print its line and count it: into first (the first
 * file, first != NULL) or against ref (later files).
 */
static int emit_chunk(struct tool *t, const uint8_t *chunk, size_t size,
		      struct file_stats *st, struct id_set *first,
		      const struct id_set *ref)
{
	char hex[BLK_ID_HEX_SIZE];
	struct blk_blob blob;
	int rc;

	rc = blk_codec_encode(t->codec, chunk, size, &blob);
	if (rc < 0) {
		fail("encoding a chunk", rc);
		return rc;
	}
	blk_id_to_hex(&blob.id, hex);
	printf("%" PRIu64 " %zu %s\n", st->bytes, size, hex);
	st->chunks++;
	st->bytes += size;
	if (first) {
		rc = id_set_add(first, &blob.id);
		if (rc < 0)
			fail("keeping the block ids", rc);
	} else if (ref && id_set_has(ref, &blob.id)) {
		st->shared_chunks++;
		st->shared_bytes += size;
	}
	return rc;
}

/*
 * Chunk the file fd (named st->name) through buf[0..cap), cap > max chunk
 * size: buf[start, end) holds bytes not yet in a chunk, the chunker has
 * seen buf[start, scan). Errors are reported here.
 */
static int chunk_fd(struct tool *t, struct blk_chunker *ch, int fd,
		    uint8_t *buf, size_t cap, struct file_stats *st,
		    struct id_set *first, const struct id_set *ref)
{
	size_t start = 0, end = 0, scan = 0, n;
	bool eof = false, cut;
	ssize_t got;
	int rc = 0;

	blk_chunker_reset(ch);
	for (;;) {
		if (scan == end) {
			if (eof)
				break;
			/* Pending < max chunk, so at least READ_SIZE is free. */
			memmove(buf, buf + start, end - start);
			end -= start;
			scan = end;
			start = 0;
			got = cf_read_full(fd, buf + end, cap - end);
			if (got < 0) {
				rc = (int)got;
				fprintf(stderr, PROG ": %s: %s\n", st->name,
					strerror(-rc));
				return rc;
			}
			eof = (size_t)got < cap - end;
			end += (size_t)got;
			continue;
		}
		n = blk_chunker_scan(ch, buf + scan, end - scan, &cut);
		scan += n;
		if (cut) {
			rc = emit_chunk(t, buf + start, scan - start, st, first,
					ref);
			if (rc < 0)
				return rc;
			start = scan;
		}
	}
	if (end > start)
		rc = emit_chunk(t, buf + start, end - start, st, first, ref);
	return rc;
}

/* Open path for reading ("-" is stdin, returned as is): fd or -errno. */
static int open_input(const char *path)
{
	int fd;

	if (strcmp(path, "-") == 0)
		return STDIN_FILENO;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(-fd));
	}
	return fd;
}

static void close_input(int fd)
{
	if (fd > STDIN_FILENO)
		close(fd);
}

static int cmd_chunks(struct tool *t, int argc, char **argv)
{
	struct file_stats *stats = NULL;
	struct id_set first = { NULL, 0, 0 };
	struct blk_chunker *ch = NULL;
	uint8_t *buf = NULL;
	size_t cap = (size_t)t->params.max_size + READ_SIZE;
	int i, fd, rc;

	rc = blk_chunker_new(&t->params, &ch);
	if (rc < 0) {
		fail("making the chunker", rc);
		goto out;
	}
	rc = -ENOMEM;
	buf = malloc(cap);
	stats = calloc((size_t)argc, sizeof(*stats));
	if (!buf || !stats) {
		fail("allocating buffers", rc);
		goto out;
	}
	for (i = 0; i < argc; i++) {
		stats[i].name = argv[i];
		fd = open_input(argv[i]);
		if (fd < 0) {
			rc = fd;
			goto out;
		}
		if (argc > 1)
			printf("# %s\n", argv[i]);
		rc = chunk_fd(t, ch, fd, buf, cap, &stats[i],
			      i == 0 && argc > 1 ? &first : NULL,
			      i > 0 ? &first : NULL);
		close_input(fd);
		if (rc < 0)
			goto out;
		if (i == 0 && first.count > 0)
			qsort(first.ids, first.count, sizeof(*first.ids),
			      id_cmp);
	}
	if (argc > 1)
		printf("# shared with %s\n", argv[0]);
	for (i = 1; i < argc; i++)
		printf("%s: %" PRIu64 " of %" PRIu64 " chunks shared, %" PRIu64
		       " of %" PRIu64 " bytes\n",
		       stats[i].name, stats[i].shared_chunks, stats[i].chunks,
		       stats[i].shared_bytes, stats[i].bytes);
	rc = 0;
out:
	blk_chunker_free(ch);
	free(buf);
	free(stats);
	free(first.ids);
	return rc;
}

/*
 * Read all of path (or stdin) into a new buffer of at most max bytes:
 * *out (caller frees) and *out_size. -EFBIG when larger; reports errors.
 */
static int read_input(const char *path, size_t max, uint8_t **out,
		      size_t *out_size)
{
	uint8_t *buf = NULL;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	fd = open_input(path);
	if (fd < 0)
		return fd;
	rc = -ENOMEM;
	buf = malloc(max + 1);
	if (!buf) {
		fail(path, rc);
		goto out;
	}
	n = cf_read_full(fd, buf, max + 1);
	if (n < 0) {
		rc = (int)n;
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(-rc));
		goto out;
	}
	if ((size_t)n > max) {
		rc = -EFBIG;
		fprintf(stderr, PROG ": %s: larger than %zu bytes\n", path,
			max);
		goto out;
	}
	*out = buf;
	*out_size = (size_t)n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close_input(fd);
	return rc;
}

static int write_stdout(const void *data, size_t size)
{
	int rc = cf_write_full(STDOUT_FILENO, data, size);

	if (rc < 0)
		fprintf(stderr, PROG ": writing stdout: %s\n", strerror(-rc));
	return rc;
}

static int cmd_encode(struct tool *t, const char *path)
{
	char hex[BLK_ID_HEX_SIZE];
	struct blk_blob blob;
	uint8_t *chunk = NULL;
	size_t size;
	int rc;

	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, PROG " encode: not writing a blob to a"
				     " terminal\n");
		return -EINVAL;
	}
	rc = read_input(path, t->params.max_size, &chunk, &size);
	if (rc < 0)
		goto out;
	rc = blk_codec_encode(t->codec, chunk, size, &blob);
	if (rc < 0) {
		fail("encoding", rc);
		goto out;
	}
	rc = write_stdout(blob.data, blob.size);
	if (rc < 0)
		goto out;
	blk_id_to_hex(&blob.id, hex);
	fprintf(stderr, "%s\n", hex);
out:
	free(chunk);
	return rc;
}

static int cmd_decode(struct tool *t, const char *path)
{
	const uint8_t *chunk;
	uint8_t *blob = NULL;
	size_t size, chunk_size;
	int rc;

	rc = read_input(path, BLK_BLOB_SIZE_MAX(t->params.max_size), &blob,
			&size);
	if (rc < 0)
		goto out;
	/* Without --id only the GCM tag vouches for the blob. */
	if (!t->have_id) {
		rc = blk_id_compute(blob, size, &t->id);
		if (rc < 0) {
			fail("hashing the blob", rc);
			goto out;
		}
	}
	rc = blk_codec_decode(t->codec, blob, size, &t->id, &chunk,
			      &chunk_size);
	if (rc < 0) {
		fail(path, rc);
		goto out;
	}
	rc = write_stdout(chunk, chunk_size);
out:
	free(blob);
	return rc;
}

/* Parse options after the subcommand. 0, or -EINVAL (reported). */
static int parse_opts(struct tool *t, int argc, char **argv, int *out_next)
{
	static const struct option longopts[] = {
		{ "key-file", required_argument, NULL, 'k' },
		{ "test-key", no_argument, NULL, 't' },
		{ "codec", required_argument, NULL, 'c' },
		{ "min", required_argument, NULL, 'm' },
		{ "avg", required_argument, NULL, 'a' },
		{ "max", required_argument, NULL, 'M' },
		{ "id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t *size_opt;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		size_opt = NULL;
		switch (c) {
		case 'k':
			t->key_file = optarg;
			break;
		case 't':
			t->test_key = true;
			break;
		case 'c':
			if (strcmp(optarg, "zstd") == 0) {
				t->codec_opts.codec = BLK_CODEC_ZSTD;
			} else if (strcmp(optarg, "zlib") == 0) {
				t->codec_opts.codec = BLK_CODEC_ZLIB;
			} else {
				fprintf(stderr,
					PROG ": --codec is zstd or zlib\n");
				return -EINVAL;
			}
			break;
		case 'm':
			size_opt = &t->params.min_size;
			break;
		case 'a':
			size_opt = &t->params.avg_size;
			break;
		case 'M':
			size_opt = &t->params.max_size;
			break;
		case 'i':
			if (blk_id_from_hex(optarg, strlen(optarg), &t->id) <
			    0) {
				fprintf(stderr,
					PROG ": --id takes 64 hex digits\n");
				return -EINVAL;
			}
			t->have_id = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (size_opt && parse_size(optarg, size_opt) < 0) {
			fprintf(stderr, PROG ": bad size '%s'\n", optarg);
			return -EINVAL;
		}
	}
	if (!t->test_key == !t->key_file) {
		fprintf(stderr, PROG ": give a key: --key-file F or"
				     " --test-key (one of them)\n");
		return -EINVAL;
	}
	if (blk_chunker_params_check(&t->params) < 0) {
		fprintf(stderr,
			PROG ": chunk sizes need %u <= min < avg < max <= %u"
			     " and avg a power of two (got %" PRIu32
			     " / %" PRIu32 " / %" PRIu32 ")\n",
			BLK_CHUNK_MIN_LIMIT, BLK_CHUNK_MAX_LIMIT,
			t->params.min_size, t->params.avg_size,
			t->params.max_size);
		return -EINVAL;
	}
	*out_next = optind;
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t = {
		.params = BLK_CHUNKER_PARAMS_DEFAULT,
		.codec_opts = BLK_CODEC_OPTS_DEFAULT,
	};
	const char *cmd;
	int next, rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "chunks") && strcmp(cmd, "encode") &&
	    strcmp(cmd, "decode")) {
		fprintf(stderr, PROG ": unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	if (parse_opts(&t, argc - 1, argv + 1, &next) < 0)
		return 2;
	argc -= 1 + next;
	argv += 1 + next;
	if (argc < 1 || (argc > 1 && strcmp(cmd, "chunks"))) {
		fprintf(stderr, PROG " %s: %s\n", cmd,
			argc < 1 ? "no FILE given" : "give exactly one FILE");
		return 2;
	}
	rc = open_codec(&t);
	if (rc < 0)
		return 1;
	if (strcmp(cmd, "chunks") == 0)
		rc = cmd_chunks(&t, argc, argv);
	else if (strcmp(cmd, "encode") == 0)
		rc = cmd_encode(&t, argv[0]);
	else
		rc = cmd_decode(&t, argv[0]);
	blk_codec_free(t.codec);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": writing stdout: %s\n", strerror(errno));
		rc = -EIO;
	}
	return rc < 0 ? 1 : 0;
}
