// The system liblmdb (Debian liblmdb-dev), for the benchmark's raw-LMDB ceiling.
#include <lmdb.h>
