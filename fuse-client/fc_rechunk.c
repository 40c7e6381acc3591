/* SPDX-License-Identifier: MIT */
/*
 * The re-chunk planner (see fc_rechunk.h): one pass of the chunker over
 * the dirty region of a file, in a sliding window, that stops as soon as
 * the new cuts fall back in step with the old ones.
 */
#include "fc_rechunk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cf_util.h"

int fc_rechunk_plan(const struct fc_rechunk_req *q, struct fc_rechunk_res *out)
{
	const struct fc_chunk *old = q->old;
	size_t n = q->old_count, i, j, cap;
	uint64_t old_size = 0, lo, hi, pos, b;
	size_t have = 0, scan = 0, start = 0;
	struct blk_chunker *ch = NULL;
	uint8_t *buf = NULL;
	bool same, cut;
	ssize_t got;
	int rc;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		if (old[i].off != old_size || !old[i].size) {
			n = 0;
			break;
		}
		old_size += old[i].size;
	}
	if (!n)
		old_size = 0;
	hi = CF_MIN(q->hi, q->new_size);
	lo = CF_MIN(q->lo, hi);
	same = n && old_size == q->new_size;
	if (same && lo >= hi) {
		/* nothing but metadata changed: the old manifest stands */
		out->head = out->tail = n;
		out->start = out->end = q->new_size;
		return 0;
	}
	/* restart at the last old chunk start at or before lo */
	i = 0;
	while (i + 1 < n && old[i + 1].off <= lo)
		i++;
	b = n ? old[i].off : 0;
	out->head = i;
	out->tail = n;
	out->start = b;
	out->end = q->new_size;
	j = i + 1;

	rc = blk_chunker_new(&q->params, &ch);
	if (rc < 0)
		goto out;
	cap = (size_t)q->params.max_size + FC_RECHUNK_WINDOW;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	pos = b; /* file offset of buf[0] */
	for (;;) {
		size_t k;

		if (scan == have) {
			uint64_t left = q->new_size - (pos + have);
			size_t want;

			if (!left)
				break;
			if (have == cap) {
				memmove(buf, buf + start, have - start);
				pos += start;
				have -= start;
				scan -= start;
				start = 0;
			}
			want = (size_t)CF_MIN((uint64_t)(cap - have), left);
			got = q->read(q->read_arg, buf + have, want,
				      pos + have);
			if (got < 0) {
				rc = (int)got;
				goto out;
			}
			if ((size_t)got != want) {
				rc = -EIO;
				goto out;
			}
			have += want;
		}
		k = blk_chunker_scan(ch, buf + scan, have - scan, &cut);
		scan += k;
		if (!cut)
			continue;
		rc = q->chunk(q->chunk_arg, pos + start, buf + start,
			      (uint32_t)(scan - start));
		if (rc)
			goto out;
		out->new_count++;
		start = scan;
		if (!same || pos + scan < hi)
			continue;
		while (j < n && old[j].off < pos + scan)
			j++;
		if (j < n && old[j].off == pos + scan) {
			/* back in step with the old cuts: reuse the rest */
			out->tail = j;
			out->end = pos + scan;
			rc = 0;
			goto out;
		}
	}
	if (start < have) {
		rc = q->chunk(q->chunk_arg, pos + start, buf + start,
			      (uint32_t)(have - start));
		if (rc)
			goto out;
		out->new_count++;
	}
	rc = 0;
out:
	free(buf);
	blk_chunker_free(ch);
	return rc;
}
