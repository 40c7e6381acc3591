/* SPDX-License-Identifier: MIT */
/*
 * Hex encode/decode; see cf_hex.h. Decoding checks every digit before it
 * writes a byte, so a bad string leaves the output untouched.
 */
#include "cf_hex.h"

#include <errno.h>
#include <stdint.h>

void cf_hex_encode(const void *data, size_t size, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *in = data;
	size_t i;

	for (i = 0; i < size; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * size] = '\0';
}

/* Value of one hex digit, or -1. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cf_hex_decode(const char *hex, size_t len, void *out, size_t size)
{
	uint8_t *bytes = out;
	size_t i;

	if (!hex || size > SIZE_MAX / 2 || len != 2 * size)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (hex_value(hex[i]) < 0)
			return -EINVAL;
	for (i = 0; i < size; i++)
		bytes[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 |
				     hex_value(hex[2 * i + 1]));
	return 0;
}
