#!/usr/bin/env bash
# Installs (if missing) and starts PostgreSQL with a role and database for the tests.
set -e
if [ ! -d /usr/lib/postgresql ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
pg_ctlcluster "$ver" main start 2>/dev/null || pg_ctlcluster "$ver" main status >/dev/null
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='asana_ci'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE asana_ci LOGIN SUPERUSER PASSWORD 'asana_ci'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='asana_ci'\"" | grep -q 1 \
  || su postgres -c "createdb -O asana_ci asana_ci"
