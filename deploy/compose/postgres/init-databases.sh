#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# one database per service, owned by a role of the same name, so no service can read
# another's tables. SERVICE_DATABASES and SERVICE_DB_PASSWORD come from docker-compose.yml.
set -euo pipefail

for database in ${SERVICE_DATABASES}; do
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" \
    -v name="${database}" -v password="${SERVICE_DB_PASSWORD}" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
