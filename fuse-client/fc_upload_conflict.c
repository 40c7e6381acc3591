/* SPDX-License-Identifier: MIT */
/*
 * The uploader, on a stale base (another device committed first): both
 * sides are kept. The local content becomes a conflicted copy, a new file
 * next to the node, queued for upload; the node takes the server's
 * version. A stale answer whose server version holds our own manifest is
 * no conflict: a commit whose answer was lost.
 */
#include "fc_upload_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CF_LOG_SUBSYS "upload"
#include "cf_file.h"
#include "cf_log.h"
#include "fc_conflict.h"

#define CONFLICT_TRIES 3

/* Copy count bytes of fd_in to fd_out from offset 0. */
static int copy_range(int fd_in, int fd_out, uint64_t count)
{
	loff_t in = 0, out = 0;
	char buf[65536];
	ssize_t n;
	int rc;

	while ((uint64_t)in < count) {
		n = copy_file_range(
			fd_in, &in, fd_out, &out,
			(size_t)CF_MIN(count - (uint64_t)in, (uint64_t)1 << 30),
			0);
		if (n > 0)
			continue;
		if (n == 0)
			break;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP)
			return -errno;
		/* no copy_file_range here: plain copy */
		while ((uint64_t)in < count) {
			n = cf_pread_full(fd_in, buf,
					  (size_t)CF_MIN(sizeof(buf),
							 count - (uint64_t)in),
					  in);
			if (n <= 0)
				return n < 0 ? (int)n : -EIO;
			rc = cf_pwrite_full(fd_out, buf, (size_t)n, out);
			if (rc < 0)
				return rc;
			in += n;
			out += n;
		}
	}
	if ((uint64_t)in < count && ftruncate(fd_out, (off_t)count) < 0)
		return -errno;
	return 0;
}

/*
 * Keep the local content as a new file next to u's node: returns 0 with
 * the copy queued for upload, or -errno (nothing changed for the node).
 */
int fc_upload_conflict_copy(struct worker *w)
{
	struct fc_uploader *up = w->up;
	const struct fc_upload *u = w->u;
	struct fc_write_summary ws = { 0 };
	struct fc_create cr = { 0 };
	struct cf_buf name, copy;
	struct fc_node node, c;
	int64_t parent, t = fc_upload_now_ns();
	unsigned n;
	int fd = -1, rc;

	cf_buf_init(&name, CF_NAME_MAX);
	cf_buf_init(&copy, CF_NAME_MAX);
	rc = fc_state_getattr(up->d.state, u->ino, &node);
	if (rc == 0)
		rc = fc_state_name_of(up->d.state, u->ino, &parent, &name);
	if (rc < 0)
		goto out;
	/* the whole local content must be in the cache file */
	rc = fc_cache_ensure(up->d.cache, u->ino, w->fd, 0, u->size,
			     up->d.fetch, up->d.fetch_arg);
	if (rc < 0)
		goto out;
	cr.parent = parent;
	cr.kind = FC_KIND_FILE;
	cr.mode = node.mode;
	cr.uid = node.uid;
	cr.gid = node.gid;
	cr.now_ns = t;
	for (n = 1; n < 100; n++) {
		rc = fc_conflict_candidate(name.data, name.len, false,
					   up->d.device, t / 1000000000, n,
					   &copy);
		if (rc < 0)
			goto out;
		cr.name = copy.data;
		cr.name_len = copy.len;
		rc = fc_state_create(up->d.state, &cr, &c);
		if (rc != -EEXIST)
			break;
	}
	if (rc < 0)
		goto out;
	rc = fc_cache_file_open(up->d.cache, c.id, true, &fd);
	if (rc == 0)
		rc = copy_range(w->fd, fd, u->size);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	ws.lo = 0;
	ws.hi = rc == 0 ? u->size : 0;
	ws.size = rc == 0 ? u->size : 0;
	ws.set_mtime = true;
	ws.mtime_ns = u->mtime_ns;
	ws.ctime_ns = t;
	/* end the new file's write epoch even on failure: never left stuck */
	{
		int rc2 = fc_state_write_done(up->d.state, c.ino, &ws, t, true);

		if (rc == 0)
			rc = rc2;
	}
	if (rc < 0)
		goto out;
	fc_cache_account(up->d.cache, (int64_t)u->size);
	if (up->d.wake_pusher)
		up->d.wake_pusher(up->d.hook_arg);
	cf_warn("conflict: %.*s changed on another device; local content "
		"kept as \"%.*s\"",
		(int)name.len, name.data, (int)copy.len, copy.data);
	fc_upload_message(up, "conflict: local changes kept as \"%.*s\"",
			  (int)copy.len, copy.data);
out:
	if (fd >= 0)
		close(fd);
	cf_buf_release(&name);
	cf_buf_release(&copy);
	return rc;
}

/*
 * After a conflict copy: make u's node the server's current content by
 * committing that version's manifest again on top of itself (identical
 * content, no block moves), then drop the local bytes from the cache.
 */
int fc_upload_conflict_take_server(struct worker *w)
{
	struct fc_uploader *up = w->up;
	struct fc_upload base = *w->u;
	struct fc_version_data vd = { 0 };
	struct fc_commit_req c = { 0 };
	struct fc_commit_res res = { 0 };
	struct blk_manifest m;
	struct fc_chunk *rows = NULL;
	uint32_t *idx = NULL;
	size_t count = 0, i;
	bool clean = false;
	int tries, rc;

	blk_manifest_init(&m);
	for (tries = 0; tries < CONFLICT_TRIES; tries++) {
		fc_version_data_release(&vd);
		blk_manifest_release(&m);
		rc = fc_remote_version_get(up->d.remote, base.id, 0, &vd);
		if (rc < 0)
			goto out;
		rc = blk_manifest_verify_parse(up->d.keys->mac, base.id,
					       vd.manifest, vd.manifest_size,
					       vd.tag, &m);
		if (rc < 0) {
			cf_err("node ino %lld: server manifest of version "
			       "%llu fails verification",
			       (long long)base.ino,
			       (unsigned long long)vd.info.version);
			rc = -EBADMSG;
			goto out;
		}
		c.base_version = vd.info.version;
		c.size = m.file_size;
		c.mtime_ns = vd.info.mtime_ns;
		c.manifest = vd.manifest;
		c.manifest_size = vd.manifest_size;
		memcpy(c.tag, vd.tag, sizeof(c.tag));
		rc = fc_remote_commit(up->d.remote, base.id, &c, &res);
		free(res.missing);
		res.missing = NULL;
		if (rc != -ESTALE)
			break;
	}
	if (rc < 0)
		goto out;
	base.base_version = vd.info.version;
	rc = fc_state_upload_done(up->d.state, &base, res.version, &m, &clean);
	if (rc < 0 || !clean)
		goto out;
	/* the cache file holds the local bytes, not these: refetch */
	rc = fc_state_chunks(up->d.state, base.ino, 0, 0, &rows, &count);
	if (rc < 0)
		goto out;
	idx = calloc(count ? count : 1, sizeof(*idx));
	if (!idx) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++)
		idx[i] = rows[i].idx;
	rc = fc_state_chunks_mark(up->d.state, base.ino, idx, count, false);
	/* same rows, now not present; this also sets the server's size */
	if (rc == 0)
		rc = fc_state_set_manifest(up->d.state, base.ino, res.version,
					   &m);
	if (rc == 0 &&
	    fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)CF_MAX(base.size, m.file_size)) == 0)
		fc_cache_account(up->d.cache, -(int64_t)base.size);
	if (rc == 0 && ftruncate(w->fd, (off_t)m.file_size) < 0)
		rc = -errno;
	if (up->d.inval)
		up->d.inval(up->d.hook_arg, base.ino);
out:
	free(idx);
	free(rows);
	blk_manifest_release(&m);
	fc_version_data_release(&vd);
	return rc;
}

static bool manifest_equal(const struct blk_manifest *a,
			   const struct blk_manifest *b)
{
	size_t i;

	if (a->file_size != b->file_size || a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++)
		if (a->entries[i].size != b->entries[i].size ||
		    memcmp(&a->entries[i].id, &b->entries[i].id,
			   sizeof(a->entries[i].id)) != 0)
			return false;
	return true;
}

/*
 * A stale base whose server version already holds exactly m: our own
 * commit whose answer was lost (unmount, crash, dropped connection), or
 * the same bytes from another device. Neither is a conflict. 1 (and
 * *out_version) when so, 0 when not, -errno.
 */
int fc_upload_server_has(struct worker *w, const struct blk_manifest *m,
			 uint64_t *out_version)
{
	struct fc_uploader *up = w->up;
	struct fc_version_data vd = { 0 };
	struct blk_manifest cur;
	int rc;

	blk_manifest_init(&cur);
	rc = fc_remote_version_get(up->d.remote, w->u->id, 0, &vd);
	if (rc == 0)
		rc = blk_manifest_verify_parse(up->d.keys->mac, w->u->id,
					       vd.manifest, vd.manifest_size,
					       vd.tag, &cur);
	if (rc == 0) {
		rc = manifest_equal(&cur, m) ? 1 : 0;
		*out_version = vd.info.version;
	}
	blk_manifest_release(&cur);
	fc_version_data_release(&vd);
	return rc;
}
