/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for manifests. The input is a manifest: parse must
 * never read or allocate out of bounds, a manifest it accepts must encode
 * back to the same bytes (the format has one spelling per manifest), and
 * verify_parse must agree with parse under the right tag and refuse a
 * wrong one or another file id. Property violations abort().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blk/manifest.h"
#include "cf_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t k_mac[BLK_KEY_SIZE] = { 1, 2, 3, 4, 5 };
static const uint8_t file_id[BLK_FILE_ID_SIZE] = { 0xf1, 0x1e };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t tag[BLK_MANIFEST_TAG_SIZE], other[BLK_FILE_ID_SIZE];
	struct blk_manifest m, v;
	struct cf_buf b;
	uint64_t sum = 0;
	int rc;

	rc = blk_manifest_parse(data, size, &m);
	if (rc == 0) {
		for (size_t i = 0; i < m.count; i++)
			sum += m.entries[i].size;
		if (sum != m.file_size || m.count > BLK_MANIFEST_ENTRIES_MAX)
			abort();
		cf_buf_init(&b, BLK_MANIFEST_SIZE_MAX);
		if (blk_manifest_encode(&m, &b) != 0 || b.len != size ||
		    memcmp(b.data, data, size) != 0)
			abort();
		cf_buf_release(&b);
	} else if (m.entries || m.count || m.file_size) {
		abort();
	}
	if (blk_manifest_tag(k_mac, file_id, data, size, tag) != 0)
		abort();
	if (blk_manifest_verify_parse(k_mac, file_id, data, size, tag, &v) !=
		    rc ||
	    v.count != m.count || v.file_size != m.file_size)
		abort();
	blk_manifest_release(&v);
	memcpy(other, file_id, sizeof(other));
	other[15] ^= 1;
	if (blk_manifest_verify_parse(k_mac, other, data, size, tag, &v) !=
	    -EBADMSG)
		abort();
	tag[0] ^= 1;
	if (blk_manifest_verify_parse(k_mac, file_id, data, size, tag, &v) !=
	    -EBADMSG)
		abort();
	blk_manifest_release(&m);
	return 0;
}
