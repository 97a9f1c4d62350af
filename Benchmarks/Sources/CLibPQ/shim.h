// The system libpq (Debian libpq-dev), PostgreSQL's C client, for peer-bench.
#include <libpq-fe.h>
