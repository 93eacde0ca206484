/* CRC32C (Castagnoli, the iSCSI/ext4 checksum): catches torn and corrupted
 * datastore records before the more expensive HMAC is computed. Table-driven,
 * table built at compile time so there is no global mutable state. */
#ifndef FDM_DS_CRC32C_H
#define FDM_DS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC over more bytes. Start with crc = 0; the result of one call is
 * the `crc` argument of the next, so a record can be checksummed in pieces. */
uint32_t fdm_crc32c(uint32_t crc, const void *data, size_t len);

#endif
