// The system SQLite (Debian libsqlite3-dev), for peer-bench.
#include <sqlite3.h>
