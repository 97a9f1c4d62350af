#ifndef SPENDLEDGER_CLMDB_SHIM_H
#define SPENDLEDGER_CLMDB_SHIM_H
// The system liblmdb (Debian liblmdb-dev). Nothing of LMDB's source lives in this repository.
#include <lmdb.h>
#endif
