/* SPDX-License-Identifier: MIT */
/*
 * fc-fsx: a file system exerciser in the manner of fsx (xfstests). It
 * runs a seeded random sequence of operations on one file, keeps what the
 * file must hold in memory, and checks every read, every mapped read and
 * the size after every operation against it:
 *
 *   write, read, mapped read, mapped write (MAP_SHARED + msync),
 *   truncate up and down, fsync, close and reopen
 *
 * Writes land anywhere up to the size limit, so they extend the file,
 * leave holes and straddle the chunk boundaries of what is stored. At the
 * end the whole file is compared once more and what it must hold is
 * written to SHADOW, for a comparison on another device.
 *
 *   fc-fsx FILE SHADOW [OPS [SEED [MAX_SIZE [MAX_LEN]]]]
 *
 * Exit 0 when every check held, 1 on the first mismatch or failed call
 * (with the last operations, to replay by hand), 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum op_kind {
	OP_WRITE,
	OP_READ,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNCATE,
	OP_FSYNC,
	OP_REOPEN,
	OP_KINDS
};

static const char *const op_names[OP_KINDS] = {
	"write", "read", "mapread", "mapwrite", "truncate", "fsync", "reopen",
};

/* Out of 100: reads and writes dominate, as in fsx. */
static const int op_weights[OP_KINDS] = { 34, 26, 10, 8, 10, 5, 7 };

#define LOG_SIZE 32

struct logged_op {
	unsigned long n;
	enum op_kind kind;
	uint64_t off, len; /* for a truncate: the new size in off */
};

struct fsx {
	const char *path;
	int fd;
	uint8_t *shadow; /* what the file must hold: size bytes */
	uint64_t size, max_size, max_len;
	uint8_t *buf; /* max_len bytes of scratch */
	uint64_t rng;
	bool mapwrite; /* false once the file system refused it */
	unsigned long n; /* operations done */
	unsigned long count[OP_KINDS];
	struct logged_op log[LOG_SIZE];
};

/* xorshift64*: the run is the seed's, on every machine. */
static uint64_t rnd(struct fsx *f)
{
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(struct fsx *f, uint64_t n)
{
	return n ? rnd(f) % n : 0;
}

static void fill(struct fsx *f, uint8_t *p, uint64_t len)
{
	uint64_t i, v = 0;

	for (i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rnd(f);
		p[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
}

static void log_op(struct fsx *f, enum op_kind kind, uint64_t off,
		   uint64_t len)
{
	struct logged_op *l = &f->log[f->n % LOG_SIZE];

	l->n = f->n;
	l->kind = kind;
	l->off = off;
	l->len = len;
	f->count[kind]++;
}

static void dump_log(const struct fsx *f)
{
	unsigned long first = f->n >= LOG_SIZE ? f->n - LOG_SIZE + 1 : 0, i;
	const struct logged_op *l;

	fprintf(stderr, "fc-fsx: the last operations:\n");
	for (i = first; i <= f->n; i++) {
		l = &f->log[i % LOG_SIZE];
		if (l->n != i)
			continue;
		if (l->kind == OP_TRUNCATE)
			fprintf(stderr, "  %lu truncate to %llu\n", l->n,
				(unsigned long long)l->off);
		else
			fprintf(stderr, "  %lu %s %llu +%llu\n", l->n,
				op_names[l->kind], (unsigned long long)l->off,
				(unsigned long long)l->len);
	}
}

static int failed(struct fsx *f, const char *what, int err)
{
	fprintf(stderr, "fc-fsx: operation %lu: %s%s%s\n", f->n, what,
		err ? ": " : "", err ? strerror(err) : "");
	dump_log(f);
	return -1;
}

/* got (len bytes read at off) against the shadow. */
static int check(struct fsx *f, const uint8_t *got, uint64_t off,
		 uint64_t len, const char *how)
{
	uint64_t i;
	char what[160];

	if (!memcmp(got, f->shadow + off, len))
		return 0;
	for (i = 0; i < len && got[i] == f->shadow[off + i]; i++)
		;
	snprintf(what, sizeof(what),
		 "%s of %llu +%llu: byte %llu is 0x%02x, must be 0x%02x", how,
		 (unsigned long long)off, (unsigned long long)len,
		 (unsigned long long)(off + i), got[i], f->shadow[off + i]);
	return failed(f, what, 0);
}

static int check_size(struct fsx *f)
{
	struct stat sb;
	char what[96];

	if (fstat(f->fd, &sb) < 0)
		return failed(f, "fstat", errno);
	if ((uint64_t)sb.st_size == f->size)
		return 0;
	snprintf(what, sizeof(what), "size is %llu, must be %llu",
		 (unsigned long long)sb.st_size, (unsigned long long)f->size);
	return failed(f, what, 0);
}

static int full_pwrite(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	ssize_t w;

	while (len) {
		w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		p += w;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/* Grow the shadow to size: the new bytes read as zeros (a hole). */
static void shadow_extend(struct fsx *f, uint64_t size)
{
	if (size > f->size)
		memset(f->shadow + f->size, 0, size - f->size);
	f->size = size;
}

static int do_write(struct fsx *f)
{
	uint64_t off = rnd_below(f, f->max_size);
	uint64_t len = 1 + rnd_below(f, f->max_len);
	int err;

	if (off + len > f->max_size)
		len = f->max_size - off;
	log_op(f, OP_WRITE, off, len);
	fill(f, f->buf, len);
	err = full_pwrite(f->fd, f->buf, len, off);
	if (err)
		return failed(f, "pwrite", err);
	if (off + len > f->size)
		shadow_extend(f, off + len);
	memcpy(f->shadow + off, f->buf, len);
	return 0;
}

/* A range inside the file, or false when it is empty. */
static bool pick_range(struct fsx *f, uint64_t *off, uint64_t *len)
{
	if (!f->size)
		return false;
	*off = rnd_below(f, f->size);
	*len = 1 + rnd_below(f, f->max_len);
	if (*off + *len > f->size)
		*len = f->size - *off;
	return true;
}

static int do_read(struct fsx *f)
{
	uint64_t off, len, done = 0;
	ssize_t r;

	if (!pick_range(f, &off, &len))
		return 0;
	log_op(f, OP_READ, off, len);
	while (done < len) {
		r = pread(f->fd, f->buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return failed(f, "pread", errno);
		if (r == 0)
			return failed(f, "pread: early end of file", 0);
		done += (uint64_t)r;
	}
	return check(f, f->buf, off, len, "read");
}

/* Map [off, off + len) of the file; *delta is off's place in the map. */
static uint8_t *map_range(struct fsx *f, uint64_t off, uint64_t len,
			  int prot, uint64_t *delta)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = off - off % page;
	void *p;

	*delta = off - start;
	p = mmap(NULL, len + *delta, prot, MAP_SHARED, f->fd, (off_t)start);
	return p == MAP_FAILED ? NULL : p;
}

static int do_mapread(struct fsx *f)
{
	uint64_t off, len, delta;
	uint8_t *p;
	int rc;

	if (!pick_range(f, &off, &len))
		return 0;
	log_op(f, OP_MAPREAD, off, len);
	p = map_range(f, off, len, PROT_READ, &delta);
	if (!p)
		return failed(f, "mmap for reading", errno);
	rc = check(f, p + delta, off, len, "mapped read");
	munmap(p, len + delta);
	return rc;
}

static int do_mapwrite(struct fsx *f)
{
	uint64_t off, len, delta;
	uint8_t *p;

	if (!f->mapwrite || !pick_range(f, &off, &len))
		return 0;
	log_op(f, OP_MAPWRITE, off, len);
	p = map_range(f, off, len, PROT_READ | PROT_WRITE, &delta);
	if (!p && errno == ENODEV) {
		/* no shared writable maps here: say so once, go on */
		fprintf(stderr, "fc-fsx: no shared writable mmap: skipped\n");
		f->mapwrite = false;
		return 0;
	}
	if (!p)
		return failed(f, "mmap for writing", errno);
	fill(f, f->buf, len);
	memcpy(p + delta, f->buf, len);
	if (msync(p, len + delta, MS_SYNC) < 0) {
		munmap(p, len + delta);
		return failed(f, "msync", errno);
	}
	munmap(p, len + delta);
	memcpy(f->shadow + off, f->buf, len);
	return 0;
}

static int do_truncate(struct fsx *f)
{
	uint64_t size = rnd_below(f, f->max_size + 1);

	log_op(f, OP_TRUNCATE, size, 0);
	if (ftruncate(f->fd, (off_t)size) < 0)
		return failed(f, "ftruncate", errno);
	shadow_extend(f, size);
	return 0;
}

static int do_fsync(struct fsx *f)
{
	log_op(f, OP_FSYNC, 0, 0);
	if (fsync(f->fd) < 0)
		return failed(f, "fsync", errno);
	return 0;
}

/* Closing lets the client upload; the reopened file reads it back. */
static int do_reopen(struct fsx *f)
{
	log_op(f, OP_REOPEN, 0, 0);
	if (close(f->fd) < 0) {
		f->fd = -1;
		return failed(f, "close", errno);
	}
	f->fd = open(f->path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return failed(f, "open", errno);
	return 0;
}

static int (*const op_fns[OP_KINDS])(struct fsx *) = {
	do_write,    do_read,  do_mapread, do_mapwrite,
	do_truncate, do_fsync, do_reopen,
};

static enum op_kind pick_op(struct fsx *f)
{
	int r = (int)rnd_below(f, 100), k;

	for (k = 0; k < OP_KINDS - 1; k++) {
		if (r < op_weights[k])
			break;
		r -= op_weights[k];
	}
	return (enum op_kind)k;
}

/* The whole file against the shadow, then the shadow to shadow_path. */
static int finish(struct fsx *f, const char *shadow_path)
{
	uint64_t off, len;
	ssize_t r;
	int fd, err;

	for (off = 0; off < f->size; off += len) {
		len = f->size - off < f->max_len ? f->size - off : f->max_len;
		r = pread(f->fd, f->buf, len, (off_t)off);
		if (r != (ssize_t)len)
			return failed(f, "final read", r < 0 ? errno : EIO);
		if (check(f, f->buf, off, len, "final read") < 0)
			return -1;
	}
	fd = open(shadow_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return failed(f, "open the shadow file", errno);
	err = full_pwrite(fd, f->shadow, f->size, 0);
	if (close(fd) < 0 && !err)
		err = errno;
	return err ? failed(f, "write the shadow file", err) : 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct fsx f = { .fd = -1, .mapwrite = true };
	uint64_t ops = 2000, seed = 1, max_size = 8u << 20,
		 max_len = 256u << 10;
	int k, rc = 0;

	if (argc < 3 || argc > 7 || (argc > 3 && parse_u64(argv[3], &ops)) ||
	    (argc > 4 && parse_u64(argv[4], &seed)) ||
	    (argc > 5 && parse_u64(argv[5], &max_size)) ||
	    (argc > 6 && parse_u64(argv[6], &max_len)) || !max_size ||
	    !max_len) {
		fprintf(stderr, "usage: fc-fsx FILE SHADOW [OPS [SEED "
				"[MAX_SIZE [MAX_LEN]]]]\n");
		return 2;
	}
	f.path = argv[1];
	f.max_size = max_size;
	f.max_len = max_len;
	f.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	f.shadow = calloc(1, max_size);
	f.buf = malloc(max_len);
	if (!f.shadow || !f.buf) {
		fprintf(stderr, "fc-fsx: out of memory\n");
		return 1;
	}
	f.fd = open(f.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f.fd < 0) {
		fprintf(stderr, "fc-fsx: %s: %s\n", f.path, strerror(errno));
		return 1;
	}
	for (f.n = 0; f.n < ops && rc == 0; f.n++) {
		rc = op_fns[pick_op(&f)](&f);
		if (rc == 0)
			rc = check_size(&f);
	}
	if (rc == 0) {
		f.n--;
		rc = finish(&f, argv[2]);
	}
	if (f.fd >= 0)
		close(f.fd);
	if (rc == 0) {
		printf("ok: %lu operations, seed %llu, size %llu:",
		       f.n + 1, (unsigned long long)seed,
		       (unsigned long long)f.size);
		for (k = 0; k < OP_KINDS; k++)
			printf(" %s %lu", op_names[k], f.count[k]);
		printf("\n");
	}
	free(f.shadow);
	free(f.buf);
	return rc == 0 ? 0 : 1;
}
